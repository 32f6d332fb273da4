import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sql } from '../store/sql';
import { canonicalJson, sha256Hex } from '../canonical-json';
import { ComplianceService } from '../compliance/compliance-service';
import { Settings } from '../settings/settings';
import { backupInstallation, type BackupInstallation } from '../testing/backup-installation';
import { opensslVerifyReport } from '../testing/openssl';
import { tempDataDir } from '../testing/softhsm-fixture';
import type { CeremonyReport } from './ceremony-report';
import { ReportService } from './report-service';
import { verifyReport } from './report-verify';

let dataDir: string;
let cleanup: () => void;
let inst: BackupInstallation;
let reports: ReportService;
let compliance: ComplianceService;
/** An EC signing key that was activated, test-signed, backed up (with an AES key), exported and restored elsewhere. */
let signing: string;
let sealing: string;
let setId: string;
let fresh: string;

beforeEach(async () => {
  ({ dataDir, cleanup } = tempDataDir());
  inst = await backupInstallation(dataDir);
  const { f } = inst;
  const now = () => f.clock.now;
  reports = new ReportService({
    store: f.opened.store,
    audit: f.opened.audit,
    custodians: f.custodians,
    custody: f.custody,
    backups: inst.backups,
    keys: inst.inventory,
    quorum: inst.quorum,
    clock: now,
    token: (ref) => ({ ...ref, model: 'SoftHSM v2' }),
  });
  compliance = new ComplianceService({
    store: f.opened.store,
    audit: f.opened.audit,
    settings: new Settings(f.opened.store),
    keys: inst.inventory,
    custody: f.custody,
    custodians: f.custodians,
    backups: inst.backups,
    modules: () => [f.module.info()],
    clock: now,
  });
  signing = await inst.generate('EC-P256', 'sign', 'release-signing');
  sealing = await inst.generate('AES-256', 'encrypt', 'sealing');
  expect((await inst.approved(inst.source, 'key.activate', { keyId: signing })).state).toBe('executed');
  const signed = await inst.approved(inst.source, 'key.test-signature', { keyId: signing, challenge: 'still ours?' });
  expect(signed.state).toBe('executed');
  setId = await inst.backUp([signing, sealing]);
  inst.backups.exportFile(setId);
  // As at the ceremony: each holder proves both factors and takes their own card (a set whose cards never reached t
  // holders is no verified backup of its keys).
  const cards = [];
  for (const holder of inst.f.holders(0, 1, 2)) cards.push(await inst.backups.releaseCard(setId, holder));
  fresh = await inst.freshCustody('fresh');
  const restore = await inst.approved(fresh, 'key.restore', { setId });
  await inst.backups.enterShare(restore.id, cards[0]!.text);
  expect(await inst.backups.enterShare(restore.id, cards[1]!.text)).toMatchObject({ state: 'executed' });
  // Six ceremonies on a real token: longer than the default hook timeout on a shared machine.
}, 60_000);
afterEach(() => {
  inst.close();
  cleanup();
});

const curie = () => ({ type: 'custodian', id: inst.id(2), role: 'security-officer' }) as const;
const REASON = 'Build server image with the key’s PIN was copied to an unknown host';
const compromise = () => inst.inventory.transition(signing, 'compromise', 'security-officer', curie(), REASON);
const noteKey = () => inst.f.opened.audit.noteKey()!;
const rules = () =>
  compliance
    .view()
    .findings.filter((f) => f.subject === signing)
    .map((f) => f.rule);

async function exported(subject: Parameters<ReportService['create']>[0], name: string) {
  const summary = reports.create(subject);
  const dir = join(dataDir, name);
  await reports.exportTo(summary.id, dir);
  const json = readFileSync(join(dir, 'report.json'));
  return {
    summary,
    dir,
    json,
    signature: readFileSync(join(dir, 'report.sig')),
    report: JSON.parse(json.toString('utf8')) as CeremonyReport,
  };
}

describe('marking a key compromised', () => {
  it('needs a readable reason of 1 to 500 characters, and without one changes and records nothing', () => {
    const size = inst.f.opened.audit.log().size();
    for (const reason of [undefined, '   ', 'x'.repeat(501), 'tape lost\u202e', 'tape lost\x1b[2K\rnothing'])
      expect(() => inst.inventory.transition(signing, 'compromise', 'security-officer', curie(), reason)).toThrow(
        expect.objectContaining({ code: 'REASON_REQUIRED' }),
      );
    expect(inst.inventory.get(signing)).toMatchObject({ state: 'active', compromiseReason: null });
    expect(inst.f.opened.audit.log().size()).toBe(size);
    expect(compromise()).toMatchObject({ state: 'compromised', compromiseReason: REASON });
  });
});

describe('a revocation notice', () => {
  it('the key’s copies and its impact report are refused when its restore was edited to hide where it went', () => {
    compromise();
    const { store } = inst.f.opened;
    const restore = store.get<{ id: string; outcome: string }>(
      sql`SELECT id, outcome FROM proposals WHERE json_extract(body, '$.action') = 'key.restore'`,
    )!;
    expect(inst.backups.copiesOf(signing).filter((c) => c.kind === 'token')).toHaveLength(2);
    // The key's id taken out of the restore's outcome: that token would drop from every list of the key's copies.
    store.execute(sql`UPDATE proposals SET outcome = ${restore.outcome.replaceAll(signing, '0'.repeat(32))}
                      WHERE id = ${restore.id}`);
    expect(() => inst.backups.copiesOf(signing)).toThrow(expect.objectContaining({ code: 'PROPOSAL_TAMPERED' }));
    expect(() => reports.create({ impact: { keyId: signing } })).toThrow(
      expect.objectContaining({ code: 'PROPOSAL_TAMPERED' }),
    );
  });

  it('the key’s copies are refused when its restore’s body or state was edited to hide it from the list', () => {
    const { store } = inst.f.opened;
    const restore = store.get<{ id: string; body: string }>(
      sql`SELECT id, body FROM proposals WHERE json_extract(body, '$.action') = 'key.restore'`,
    )!;
    // Its state column says failed, the log says it ran: refused, never read as a restore that did not happen.
    store.execute(sql`UPDATE proposals SET state = 'failed' WHERE id = ${restore.id}`);
    expect(() => inst.backups.copiesOf(signing)).toThrow(expect.objectContaining({ code: 'PROPOSAL_TAMPERED' }));
    store.execute(sql`UPDATE proposals SET state = 'executed' WHERE id = ${restore.id}`);
    expect(inst.backups.copiesOf(signing).filter((c) => c.kind === 'token')).toHaveLength(2);
    // Its body says another action (fingerprint rewritten to match): no longer a restore by its columns, so refused.
    const body = restore.body.replace('"key.restore"', '"token.quorum-drill"');
    store.execute(sql`UPDATE proposals SET body = ${body}, fingerprint = ${sha256Hex(body)} WHERE id = ${restore.id}`);
    expect(() => inst.backups.copiesOf(signing)).toThrow(expect.objectContaining({ code: 'PROPOSAL_TAMPERED' }));
  });

  it('names the key, the time, the officer, the reason and what relying parties must do, and verifies', async () => {
    const marked = compromise();
    const { dir, json, signature, report, summary } = await exported({ revocation: { keyId: signing } }, 'notice');
    expect(opensslVerifyReport(dir)).toContain('Signature Verified Successfully');
    const verdict = verifyReport(json, signature, noteKey());
    expect(verdict).toMatchObject({ ok: true, type: 'revocation-notice' });
    expect(verdict.checks.map((c) => c.check)).toContainEqual(expect.stringMatching(/^revocation: entry \d+/));
    const notice = report.revocation!;
    expect(notice).toMatchObject({
      key: { id: signing, label: 'release-signing', algorithm: 'EC-P256', fingerprint: marked.fingerprint },
      by: { name: 'Curie' },
      reason: REASON,
      bound: { from: 'active', to: 'compromised', reason: REASON },
    });
    expect(notice.key.token).toEqual(marked.token);
    expect(notice.relyingParties.join(' ')).toContain(
      `Stop trusting signatures by this key made after ${notice.compromisedAt}`,
    );
    expect(notice.relyingParties.join(' ')).toContain('keyCompromise');
    // The compromise, and the run that made the key (which ties the key's public key to the log: key-made-check.ts).
    expect(report.steps.map((s) => s.action)).toEqual(['proposal.execute', 'key.compromise']);
    const pdf = execFileSync('pdftotext', [join(dir, 'report.pdf'), '-'], { encoding: 'utf8' });
    expect(pdf).toContain('Key revocation notice');
    expect(pdf).toContain('What relying parties must do');
    expect(pdf.replace(/\s+/g, ' ')).toContain('Build server image');
    // Listed like any report, and the key's history says a notice exists.
    expect(reports.list().map((r) => [r.id, r.type])).toContainEqual([summary.id, 'revocation-notice']);
    const entries = [...inst.f.opened.audit.log().entries()].map((e) => JSON.parse(e.entry) as { action: string });
    expect(entries.filter((e) => e.action === 'key.revocation-notice')).toHaveLength(1);
  });

  it('fails verification when its reason is not the one the signed entry recorded, even if re-signed', async () => {
    compromise();
    const { report } = await exported({ revocation: { keyId: signing } }, 'notice');
    const softened = { ...report, revocation: { ...report.revocation!, reason: 'Routine rotation' } };
    const rebound = {
      ...softened,
      revocation: { ...softened.revocation, bound: { ...softened.revocation.bound, reason: 'Routine rotation' } },
    };
    for (const forged of [softened, rebound]) {
      // Signed by the audit key itself: only the binding to the compromise entry can catch it.
      const bytes = Buffer.from(canonicalJson(forged), 'utf8');
      const verdict = verifyReport(bytes, inst.f.opened.audit.signDocument(bytes), noteKey());
      expect(verdict.ok).toBe(false);
      expect(verdict.checks.filter((c) => !c.ok).map((c) => c.check)).toEqual([
        expect.stringMatching(/^revocation: entry \d+ records this key’s compromise with this reason$/),
      ]);
    }
  });

  it('fails verification when it names another officer than the one the signed entry recorded, even if re-signed', async () => {
    compromise();
    const { report } = await exported({ revocation: { keyId: signing } }, 'notice');
    const officer = report.participants[0]!;
    expect(officer).toMatchObject({ id: inst.id(2), part: 'marked the key compromised', seq: report.revocation!.seq });
    const ada = { id: inst.id(0), name: 'Ada', roles: ['custodian'] };
    const forgeries = {
      'the participant': { ...report, participants: [{ ...officer, ...ada }] },
      'the notice’s officer': { ...report, revocation: { ...report.revocation!, by: ada } },
      'the time': { ...report, participants: [{ ...officer, at: '2020-01-01T00:00:00.000Z' }] },
    };
    for (const [what, forged] of Object.entries(forgeries)) {
      const bytes = Buffer.from(canonicalJson(forged), 'utf8');
      const verdict = verifyReport(bytes, inst.f.opened.audit.signDocument(bytes), noteKey());
      expect(
        verdict.checks.filter((c) => !c.ok).map((c) => c.check),
        what,
      ).toEqual([expect.stringMatching(/^participants: each part, person and time as a signed entry/)]);
    }
  });

  it('is refused for a key never marked compromised', () => {
    expect(() => reports.create({ revocation: { keyId: sealing } })).toThrow(
      expect.objectContaining({ code: 'KEY_STATE_FORBIDS' }),
    );
  });
});

describe('a compromise impact report', () => {
  it('lists every ceremony, backup set, token and report of the key, with every entry proven', async () => {
    const inventory = reports.create({ inventory: true });
    compromise();
    // A database writer dates every ceremony to another day: the report takes each closing time from its signed entry.
    inst.f.opened.store.execute(sql`UPDATE proposals SET closed_at = '2001-01-01T00:00:00.000Z'`);
    const notice = reports.create({ revocation: { keyId: signing } });
    const { dir, json, signature, report } = await exported({ impact: { keyId: signing } }, 'impact');
    expect(opensslVerifyReport(dir)).toContain('Signature Verified Successfully');
    expect(verifyReport(json, signature, noteKey())).toMatchObject({ ok: true, type: 'compromise-impact' });
    const impact = report.impact!;
    expect(impact).toMatchObject({ key: { id: signing, state: 'compromised' }, reason: REASON });
    expect(impact.ceremonies.map((c) => c.closedAt).filter((at) => at?.startsWith('2001'))).toEqual([]);
    expect(impact.ceremonies.map((c) => c.action)).toEqual([
      'key.generate',
      'key.activate',
      'key.test-signature',
      'key.backup',
      'key.restore',
    ]);
    expect(impact.backupSets).toEqual([
      expect.objectContaining({ setId, holders: ['Ada', 'Babbage', 'Curie'], otherKeys: [`sealing (${sealing})`] }),
    ]);
    const source = inst.f.custody.list().find((c) => c.id === inst.source)!.token;
    const target = inst.f.custody.list().find((c) => c.id === fresh)!.token;
    expect(impact.tokens).toEqual([
      expect.objectContaining({ ...source, current: false, how: [expect.stringContaining('generated there')] }),
      expect.objectContaining({ ...target, current: true }),
    ]);
    expect(impact.reports.map((r) => r.id).sort()).toEqual([inventory.id, notice.id].sort());
    const actions = new Set(report.steps.map((s) => s.action));
    for (const action of [
      'proposal.execute',
      'backup.export',
      'backup.share-enter',
      'key.restored',
      'key.compromise',
      'key.revocation-notice',
      'report.sign',
    ])
      expect(actions, action).toContain(action);
    const pdf = execFileSync('pdftotext', [join(dir, 'report.pdf'), '-'], { encoding: 'utf8' });
    expect(pdf).toContain('Compromise impact report');
    expect(pdf).toContain(`Set ${setId}`);
  });

  it('is refused for a key never marked compromised', () => {
    expect(() => reports.create({ impact: { keyId: sealing } })).toThrow(
      expect.objectContaining({ code: 'KEY_STATE_FORBIDS' }),
    );
  });
});

describe('the analyzer follows a compromise up', () => {
  it('asks for the notice until it is signed, and names the token and the backup set still holding the key', () => {
    expect(rules()).toEqual([]);
    compromise();
    expect(rules().sort()).toEqual([
      'KEY_COMPROMISED_IN_BACKUP',
      'KEY_COMPROMISED_IN_TOKEN',
      'KEY_COMPROMISED_NO_NOTICE',
    ]);
    reports.create({ revocation: { keyId: signing } });
    expect(rules().sort()).toEqual(['KEY_COMPROMISED_IN_BACKUP', 'KEY_COMPROMISED_IN_TOKEN']);
    expect(compliance.view().findings.find((f) => f.rule === 'KEY_COMPROMISED_IN_BACKUP')!.evidence).toEqual([
      expect.stringContaining(setId),
    ]);
  });
});
