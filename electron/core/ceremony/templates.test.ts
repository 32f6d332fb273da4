import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LintReport } from '../../../shared/ceremony-script';
import { CustosCore } from '../custos-core';
import { totpCodeAt } from '../custodians/totp';
import { quorumFixture } from '../testing/quorum-fixture';
import { initSoftHsmToken, tempDataDir } from '../testing/softhsm-fixture';
import { parseScript } from '../ceremony-script';
import { listTemplates, templatesDir, templateText } from './templates';

/**
 * Every shipped template, filled in the way an organisation fills it, lints clean against a real installation:
 * people enrolled under the templates' role names, real SoftHSM2 tokens, and the keys, backup set, CA certificate
 * and certificate request the templates refer to, made by running three of the templates themselves.
 */
let dataDir: string;
let cleanup: () => void;
let clock: { now: Date };
let people: Record<string, { id: string; passphrase: string; secret: string }>;
let core: CustosCore;
/** In custody once root-key-generation ran; the fresh one takes the role of a new token (a restore drill's). */
let custodyToken: { serial: string; label: string };
let freshToken: { serial: string; label: string };
const made: { rootKey?: string; setId?: string; csr?: string; intermediateSerial?: string } = {};

beforeAll(async () => {
  ({ dataDir, cleanup } = tempDataDir());
  const seeded = await quorumFixture(dataDir, [
    { name: 'Olga', roles: ['security-officer'] },
    { name: 'Ada' },
    { name: 'Babbage' },
    { name: 'Curie' },
    { name: 'Dora' },
    { name: 'Eve', roles: ['auditor'] },
    { name: 'Walt', roles: ['auditor'] },
  ]);
  seeded.close();
  clock = seeded.clock;
  people = Object.fromEntries(seeded.enrolled.map((p) => [p.name, p]));
  custodyToken = initSoftHsmToken(dataDir, 'root-ceremony', { so: '87654321', user: '12345678' });
  freshToken = initSoftHsmToken(dataDir, 'drill-token', { so: '87654321', user: '12345678' });
  core = CustosCore.open({ dataDir, version: 'test', production: false, operator: 'test', clock: () => clock.now });
}, 60_000);
afterAll(() => {
  core.close();
  cleanup();
});

const utc = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
const DAY = 86_400_000;

/** What each placeholder is filled with, by the words before its first comma; the token is the template's own. */
function values(token: { serial: string; label: string }): Record<string, string> {
  const now = clock.now.getTime();
  return {
    'room and building': 'Room 4.12, Head office',
    'window opens': utc(now - 3600_000),
    'window closes': utc(now + 6 * 3600_000),
    'token serial': token.serial,
    'token label': token.label,
    'ceremony administrator': 'Olga',
    'custodian 1': 'Ada',
    'custodian 2': 'Babbage',
    'custodian 3': 'Curie',
    'new custodian': 'Dora',
    'security officer': 'Olga',
    witness: 'Eve',
    auditor: 'Walt',
    'root key label': 'example-root-2027',
    'organisation name': 'Example',
    'country code': 'NL',
    'root CA name': 'Example Root CA',
    'intermediate CA name': 'Example Issuing CA',
    'valid from': utc(now - 60_000),
    'root valid until': utc(now + 9 * 365 * DAY),
    'intermediate valid until': utc(now + 5 * 365 * DAY),
    'CRL address': 'http://crl.example.org/root.crl',
    'the challenge text': 'Restore drill, Room 4.12',
    'why this key is destroyed': 'Its cryptoperiod ended and its successor is active.',
    'why the holders change': 'Curie leaves the security team.',
    'why the key is rotated now': 'Its cryptoperiod ends this year.',
    ...(made.rootKey ? { 'root key id': made.rootKey, 'key id': made.rootKey } : {}),
    ...(made.setId ? { 'backup set id': made.setId } : {}),
    ...(made.csr ? { 'the certificate request': made.csr } : {}),
    ...(made.intermediateSerial ? { 'serial to revoke': made.intermediateSerial } : {}),
  };
}

/**
 * The template with every `<placeholder>` replaced: inside quotes by the value, and a placeholder alone on a block
 * scalar's line (a PEM request) by the value's lines at that indentation. An unknown placeholder fails the test.
 */
function fill(text: string, token: { serial: string; label: string }): string {
  const given = values(token);
  const valueOf = (placeholder: string) => {
    const key = placeholder.slice(1, -1).split(',')[0]!.trim();
    const value = given[key];
    if (value === undefined) throw new Error(`The test has no value for the placeholder ${placeholder}`);
    return value;
  };
  return text
    .split('\n')
    .map((line) => {
      const alone = /^(\s+)(<[^<>]+>)$/.exec(line);
      if (alone)
        return valueOf(alone[2]!)
          .trim()
          .split('\n')
          .map((l) => alone[1] + l)
          .join('\n');
      return line.startsWith('#') || /^\s+#/.test(line) ? line : line.replace(/<[^<>"\n]+>/g, valueOf);
    })
    .join('\n');
}

/** Which token each template is written for: a fresh one for those that take a token into custody first. */
const FRESH = new Set(['root-key-generation', 'restore-drill']);
const filled = (name: string) => fill(templateText(name), FRESH.has(name) ? freshToken : custodyToken);

function expectClean(report: LintReport) {
  expect(report.problems, report.problems.join('\n')).toEqual([]);
  expect(report.ok).toBe(true);
  for (const step of report.steps.filter((s) => s.kind === 'action'))
    expect(step.fingerprint ?? step.readAloud, `${step.id}: nothing to compare aloud`).toBeTruthy();
}

/** Both factors of people giving them together (one TOTP step for all). */
function proofs(...names: string[]) {
  clock.now = new Date(clock.now.getTime() + 30_000);
  return names.map((name) => {
    const p = people[name]!;
    return { custodianId: p.id, passphrase: p.passphrase, code: totpCodeAt(p.secret, clock.now) };
  });
}
const proof = (name: string) => proofs(name)[0]!;

/**
 * Runs a filled script to its end as the people it names would: each step by its performer, each quorum step
 * approved by its approvers comparing the printed fingerprint (or, where lint could only say what to read aloud,
 * the one the run shows), each step witnessed. Returns what the run's quorum steps recorded.
 */
async function runToTheEnd(text: string, custody?: { currentSoPin: string }) {
  const printed = core.ceremonies.lint(text);
  expectClean(printed);
  const parsed = parseScript(text);
  if ('problems' in parsed) throw new Error(parsed.problems.join('\n'));
  const { script } = parsed;
  let run = await core.ceremonies.start(text, proof(script.roles.administrator));
  for (const [index, step] of script.steps.entries()) {
    if ('custody' in step) {
      const [by, ...others] = proofs(step.by, ...step.custody.holders.filter((h) => h !== step.by));
      run = await core.ceremonies.perform({ runId: run.id, stepId: step.id, by: by!, holders: others, ...custody });
    } else if ('action' in step) {
      run = await core.ceremonies.perform({ runId: run.id, stepId: step.id, by: proof(step.by) });
      const proposed = run.steps[index]!;
      expect(proposed.fingerprint).toBe(printed.steps[index]!.fingerprint ?? proposed.fingerprint);
      for (const approver of step.approvers) {
        if (core.ceremonies.view(run.id).steps[index]!.state !== 'proposed') break;
        await core.quorum.approve({
          proposalId: proposed.proposalId!,
          ...proof(approver),
          fingerprint: printed.steps[index]!.shortFingerprint ?? proposed.shortFingerprint!,
        });
      }
      run = core.ceremonies.view(run.id);
    } else {
      const value = 'record' in step && step.record ? { value: `TE-${100_000 + index}` } : {};
      run = await core.ceremonies.perform({ runId: run.id, stepId: step.id, by: proof(step.by), ...value });
    }
    expect(run.steps[index]!.state, `${step.id}: ${run.steps[index]!.outcome ?? ''}`).toBe('performed');
    for (const witness of step.witnesses ?? script.roles.witnesses)
      run = await core.ceremonies.witness(run.id, step.id, proof(witness));
  }
  expect(run.state).toBe('done');
  return run.steps.map((s) => (s.proposalId ? core.quorum.view(s.proposalId).outcome : null));
}

const resultOf = (outcome: unknown) => (outcome as { result: Record<string, string> }).result;

describe('the shipped ceremony templates', () => {
  it('are listed by name and title, and read only by a listed name', () => {
    const files = readdirSync(join(__dirname, '../../../resources/ceremonies')).filter((f) => f.endsWith('.yml'));
    const listed = listTemplates();
    expect(listed.map((t) => t.file).sort()).toEqual(files.sort());
    expect(listed.find((t) => t.name === 'root-key-generation')?.title).toBe('Root key generation');
    expect(templateText('backup')).toBe(readFileSync(join(templatesDir(), 'backup.yml'), 'utf8'));
    expect(() => templateText('../package')).toThrow(expect.objectContaining({ code: 'CEREMONY_NOT_FOUND' }));
  });

  it('unfilled, lint names every placeholder as something to fill in, without crashing', () => {
    for (const { name } of listTemplates()) {
      const report = core.ceremonies.lint(templateText(name));
      expect(report.ok, name).toBe(false);
      expect(report.problems.length, name).toBeGreaterThan(0);
      for (const problem of report.problems)
        expect(problem).toMatch(/^script: [\w.]+: “<[^>]+>” is a placeholder: fill it in$/);
      expect(report.problems.join('\n'), name).toMatch(/token\.serial: “<token serial>” is a placeholder: fill it in/);
      expect(report.problems.join('\n'), name).toMatch(/window\.opens: “<window opens.*” is a placeholder/);
    }
  });

  it('root-key-generation runs to its end: custody, key, activation, backup cards in sealed bags, checkpoint', async () => {
    const outcomes = await runToTheEnd(fill(templateText('root-key-generation'), custodyToken), {
      currentSoPin: '87654321',
    });
    made.rootKey = resultOf(outcomes[1]).keyId;
    made.setId = resultOf(outcomes[3]).setId;
    const key = core.keys.list().find((k) => k.id === made.rootKey)!;
    const run = core.ceremonies.list().find((r) => r.title === 'Root key generation')!;
    const { report } = core.reports.stored(run.reportId!);
    const steps = (report.ceremony as { steps: { id: string; value: string | null }[] }).steps;
    expect(steps.filter((s) => s.id.startsWith('bag-card-')).map((s) => s.value)).toEqual([
      'TE-100004',
      'TE-100005',
      'TE-100006',
    ]);
    expect(key).toMatchObject({ label: 'example-root-2027', state: 'active', backupable: true });
  }, 120_000);

  it('pki-root-certificate runs to its end on that key: the root CA certificate exists', async () => {
    await runToTheEnd(filled('pki-root-certificate'));
    const root = core.certificates.list().find((c) => c.keyId === made.rootKey && c.selfSigned);
    expect(root).toMatchObject({ ca: true, subject: expect.stringContaining('Example Root CA') });
  }, 120_000);

  it('pki-intermediate runs to its end with a request pasted into the script', async () => {
    const work = join(dataDir, 'request');
    execFileSync('mkdir', ['-p', work]);
    const key = join(work, 'issuing.key');
    const csr = join(work, 'issuing.csr');
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
    execFileSync('openssl', [
      'req',
      '-new',
      '-key',
      key,
      '-subj',
      '/C=NL/O=Example/CN=Example Issuing CA',
      '-out',
      csr,
    ]);
    made.csr = readFileSync(csr, 'utf8');
    const outcomes = await runToTheEnd(filled('pki-intermediate'));
    made.intermediateSerial = resultOf(outcomes.find((o) => o !== null)).serial;
    expect(made.intermediateSerial).toMatch(/^[0-9a-f]{40}$/);
  }, 120_000);

  it.each(listTemplates().map((t) => t.name))(
    '%s, filled in, lints clean with a fingerprint or a read-aloud for every quorum step',
    (name) => {
      expect(made.rootKey, 'the templates that make the keys ran first').toBeDefined();
      const report = core.ceremonies.lint(filled(name));
      if (name === 'key-destruction') {
        // Lint checks the keys as they are now: before a scheduled wait is over, the destroy step would be refused.
        expect(report.problems).toEqual([expect.stringMatching(/\(destroy\): .*DESTRUCTION_NOT_SCHEDULED/)]);
        expectClean({ ...report, ok: true, problems: [] });
      } else expectClean(report);
      // The printed script names every key and person in words, and never shows a stand-in for what the token draws.
      const words = report.steps.flatMap((s) => s.words).join('\n');
      expect(words).not.toMatch(/not in the inventory|\(unknown\)|0100000000000000000000000000000000000000/);
      for (const step of report.steps.filter((s) => s.readAloud))
        expect(step.words.join('\n')).toMatch(
          /Serial \(from the token’s random number generator\): drawn by the token/,
        );
    },
  );
});
