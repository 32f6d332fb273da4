import { randomBytes } from 'node:crypto';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SYSTEM } from '../core/audit/audit-service';
import { canonicalJson, sha256Hex } from '../core/canonical-json';
import { runParams } from '../core/quorum/proposal-closure';
import { openAudit } from '../core/testing/audit-fixture';
import { backupInstallation } from '../core/testing/backup-installation';
import { tempDataDir } from '../core/testing/softhsm-fixture';
import { EXIT } from './cli';
import { forgeNewReport } from './testing/forge-report';
import { runCustos } from './testing/run-cli';

/**
 * Reports without a ceremony — the key inventory, a revocation notice, an impact report — list keys from the
 * inventory. Whoever holds the audit key can sign a new one printing another key pair under a key's id: each key must
 * be the one the signed run that made it recorded, and that run must come before every entry on the key.
 */
let dataDir: string;
let cleanup: () => void;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => cleanup());

interface ListedKey {
  id: string;
  fingerprint: string | null;
  publicKeyPem: string | null;
  recordedBy?: { seq: number; proposal: string; action: string; fingerprint: string; outcome: string } | null;
}
interface Entry {
  seq: number;
  entry: string;
  signature: string;
  proof: string[];
}

const MADE = 'keys: each key’s public key, fingerprint and check value as the signed entry that made it recorded';
const IN_LOG = (source: string) =>
  `keys: the run that made each key, as ${source} records the key and that run, up to the report’s checkpoint`;

/** An installation with two EC keys made by the quorum, the first marked compromised; the three reports of it. */
async function installationWithReports() {
  const installation = join(dataDir, 'installation');
  const inst = await backupInstallation(installation);
  const compromised = await inst.generate('EC-P256', 'sign', 'release-signing');
  const other = await inst.generate('EC-P256', 'sign', 'other-signing');
  const officer = { type: 'custodian', id: inst.id(2), role: 'security-officer' } as const;
  inst.inventory.transition(compromised, 'compromise', 'security-officer', officer, 'its PIN was copied');
  inst.close();
  const reports: Record<string, string> = {};
  for (const [kind, subject] of [
    ['inventory', ['--inventory']],
    ['revocation', ['--revocation', compromised]],
    ['impact', ['--impact', compromised]],
  ] as const) {
    reports[kind] = join(dataDir, `genuine-${kind}`);
    const made = await runCustos(installation, ['report', 'create', ...subject, '--out', reports[kind]]);
    expect(made.code, kind).toBe(EXIT.ok);
  }
  return { installation, compromised, other, reports, key: join(reports.inventory!, 'audit-key.pem') };
}

const keysOf = (r: Record<string, unknown>) => r.keys as ListedKey[];

/** The report with the compromised key printed with the other key's public key and fingerprint, everywhere. */
function withKeyPair(
  r: Record<string, unknown>,
  keyId: string,
  pair: ListedKey,
  recordedBy?: ListedKey['recordedBy'],
): Record<string, unknown> {
  const keys = keysOf(r).map((k) =>
    k.id === keyId
      ? { ...k, fingerprint: pair.fingerprint, publicKeyPem: pair.publicKeyPem, ...(recordedBy ? { recordedBy } : {}) }
      : k,
  );
  const genuine = keysOf(r).find((k) => k.id === keyId)!.fingerprint!;
  const named = (member: string) => {
    const m = r[member] as { key: object; relyingParties?: string[] } | undefined;
    // The notice's sentences to relying parties name the key by its fingerprint too.
    const sentences = m?.relyingParties?.map((line) => line.replace(genuine, pair.fingerprint!));
    const key = { ...m?.key, fingerprint: pair.fingerprint };
    return m ? { [member]: { ...m, key, ...(sentences ? { relyingParties: sentences } : {}) } } : {};
  };
  return { ...r, keys, ...named('revocation'), ...named('impact') };
}

describe('a report without a ceremony re-signed with another key pair under a key’s id', () => {
  it('fails with the key alone where it carries the key’s entries, and against the live log and a bundle', async () => {
    const { installation, compromised, other, reports, key } = await installationWithReports();
    const auditor = join(dataDir, 'no-custos-here');
    const alone = (dir: string) => runCustos(auditor, ['report', 'verify', '--dir', dir, '--key', key]);
    const live = (dir: string) => runCustos(installation, ['report', 'verify', '--dir', dir]);
    const bundled = async (dir: string, name: string) => {
      const bundle = join(dataDir, `bundle-${name}`);
      expect((await runCustos(installation, ['audit', 'export', '--out', bundle])).code).toBe(EXIT.ok);
      const answer = await runCustos(auditor, ['report', 'verify', '--dir', dir, '--key', key, '--bundle', bundle]);
      return { answer, source: `the bundle ${bundle}` };
    };

    // The genuine reports pass: every key tied to the run that made it, with the key alone and against the logs.
    for (const [kind, dir] of Object.entries(reports)) {
      const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Record<string, unknown>;
      expect(
        keysOf(report).every((k) => k.recordedBy),
        kind,
      ).toBe(true);
      expect(await alone(dir), kind).toMatchObject({ code: EXIT.ok, stdout: expect.stringContaining(`ok   ${MADE}`) });
      // The verdict names the format, which decides what the report must carry.
      expect(await alone(dir), kind).toMatchObject({
        stdout: expect.stringMatching(/^Report \w+ \([\w-]+\) verified: \d+ entries, report format 3\.\n/),
      });
      expect(await live(dir), kind).toMatchObject({
        code: EXIT.ok,
        stdout: expect.stringContaining(`ok   ${IN_LOG('the live log')}`),
      });
      const { answer, source } = await bundled(dir, `genuine-${kind}`);
      expect(answer, kind).toMatchObject({ code: EXIT.ok, stdout: expect.stringContaining(`ok   ${IN_LOG(source)}`) });
    }

    const genuine = JSON.parse(readFileSync(join(reports.inventory!, 'report.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    const otherKey = keysOf(genuine).find((k) => k.id === other)!;
    const failed = (line: string) => ({
      code: EXIT.verification,
      stderr: expect.stringMatching(new RegExp(`^Error AUDIT_VERIFY_FAILED: .*${line}.*${compromised}`)),
    });
    for (const [kind, dir] of Object.entries(reports)) {
      // The other key's public key and fingerprint under the compromised key's id: its generation recorded another.
      const swapped = join(dataDir, `swapped-${kind}`);
      cpSync(dir, swapped, { recursive: true });
      forgeNewReport(swapped, installation, (r) => withKeyPair(r, compromised, otherKey));
      expect(await alone(swapped), kind).toMatchObject(failed(MADE));
      expect(await live(swapped), kind).toMatchObject(failed(MADE));

      if (kind === 'revocation') {
        // Only the sentence to relying parties names another fingerprint: it is the notice's key, as tied.
        const sentence = join(dataDir, 'sentence-revocation');
        cpSync(dir, sentence, { recursive: true });
        forgeNewReport(sentence, installation, (r) => {
          const notice = r.revocation as { relyingParties: string[] };
          const first = notice.relyingParties[0]!.replace(/SHA-256 [0-9a-f]{64}/, `SHA-256 ${otherKey.fingerprint}`);
          return { ...r, revocation: { ...notice, relyingParties: [first, ...notice.relyingParties.slice(1)] } };
        });
        expect(await alone(sentence)).toMatchObject(failed(MADE));
      }

      // The other key's generation carried as the one that made it: that run's outcome does not name it.
      const borrowed = join(dataDir, `borrowed-${kind}`);
      cpSync(dir, borrowed, { recursive: true });
      forgeNewReport(borrowed, installation, (r) => {
        const forged = withKeyPair(r, compromised, otherKey, otherKey.recordedBy);
        const audit = forged.audit as { entries: Entry[] };
        const run = (genuine.audit as { entries: Entry[] }).entries.find((e) => e.seq === otherKey.recordedBy!.seq)!;
        const entries = [...audit.entries.filter((e) => e.seq !== run.seq), run].sort((a, b) => a.seq - b.seq);
        return { ...forged, audit: { ...audit, entries } };
      });
      expect(await alone(borrowed), kind).toMatchObject(failed(MADE));

      // A run of a proposal of their own appended, whose outcome "made" the compromised key with the other key pair:
      // it comes after the key's compromise (and generation) in the log, and after the compromise the notice and
      // the impact report carry. An inventory carries no entry on the key: only the log shows it.
      const appended = join(dataDir, `appended-${kind}`);
      cpSync(dir, appended, { recursive: true });
      const run = appendedRun(installation, compromised, otherKey.fingerprint!);
      forgeNewReport(appended, installation, (r) => {
        const forged = withKeyPair(r, compromised, otherKey, run.recordedBy);
        const audit = forged.audit as { entries: Entry[] };
        return { ...forged, audit: { ...audit, entries: [...audit.entries, run.entry] } };
      });
      const { answer, source } = await bundled(appended, `appended-${kind}`);
      expect(answer, kind).toMatchObject(failed(IN_LOG(source)));
      expect(await live(appended), kind).toMatchObject(failed(IN_LOG('the live log')));
      if (kind === 'inventory') expect(await alone(appended), kind).toMatchObject({ code: EXIT.ok });
      else expect(await alone(appended), kind).toMatchObject(failed(MADE));

      if (kind === 'inventory') {
        // A second run of the other key's own generation appended, "making" it with the compromised key's key pair:
        // nothing on that key came before it, but the log's first run of that proposal is the genuine one.
        const compromisedKey = keysOf(genuine).find((k) => k.id === compromised)!;
        const again = join(dataDir, 'run-again-inventory');
        cpSync(dir, again, { recursive: true });
        const rerun = appendedRun(installation, other, compromisedKey.fingerprint!, otherKey.recordedBy!);
        forgeNewReport(again, installation, (r) => {
          const forged = withKeyPair(r, other, compromisedKey, rerun.recordedBy);
          const audit = forged.audit as { entries: Entry[] };
          return { ...forged, audit: { ...audit, entries: [...audit.entries, rerun.entry] } };
        });
        const later = await bundled(again, 'run-again-inventory');
        const firstRun = (source: string) => ({
          code: EXIT.verification,
          stderr: expect.stringMatching(new RegExp(`${IN_LOG(source)} \\(key ${other}: the first run of proposal`)),
        });
        expect(later.answer).toMatchObject(firstRun(later.source));
        expect(await live(again)).toMatchObject(firstRun('the live log'));
        expect(await alone(again)).toMatchObject({ code: EXIT.ok });
      }

      // The run left out: format 3 carries it on every key (null where no signed run made it), so the report fails.
      const withoutRuns = (r: Record<string, unknown>) => keysOf(r).map(({ recordedBy: _, ...k }) => k);
      const stripped = join(dataDir, `stripped-${kind}`);
      cpSync(dir, stripped, { recursive: true });
      forgeNewReport(stripped, installation, (r) => ({ ...r, keys: withoutRuns(r) }));
      const unmarked = {
        code: EXIT.verification,
        stderr: expect.stringMatching(
          /FAILED verification: report format: every marker its kind carries in format 3 \(a format-3 report without keys\.0\.recordedBy\)/,
        ),
      };
      expect(await alone(stripped), kind).toMatchObject(unmarked);
      expect(await live(stripped), kind).toMatchObject(unmarked);
      expect((await bundled(stripped, `stripped-${kind}`)).answer, kind).toMatchObject(unmarked);
      // Said to be format 2, made before keys carried their run: with the key alone the key is named NOT CHECKED, as
      // before; the logs say this installation wrote format 3 when it was made, so it is not a report Custos made.
      const older = join(dataDir, `older-${kind}`);
      cpSync(dir, older, { recursive: true });
      forgeNewReport(older, installation, (r) => ({ ...r, v: 2, keys: withoutRuns(r) }));
      expect(await alone(older), kind).toMatchObject({
        code: EXIT.ok,
        stdout: expect.stringMatching(new RegExp(`NOT CHECKED ${MADE} — .*key ${compromised}: this report predates`)),
      });
      const wroteFormat3 = (source: string) => ({
        code: EXIT.verification,
        stderr: expect.stringMatching(
          new RegExp(
            `report format: the one this installation wrote when ${source} records the report made \\(entry 0 ` +
              'records that this installation writes format-3 reports, and entry \\d+ made this one after it, but ' +
              'it says format 2',
          ),
        ),
      });
      expect(await live(older), kind).toMatchObject(wroteFormat3('the live log'));
      expect(await live(older), kind).toMatchObject({ stderr: expect.stringContaining('→   report format 2\n') });
      // The live log still ties each key, from the run its stored outcome and signed entry record.
      expect(await live(older), kind).toMatchObject({
        stderr: expect.stringContaining(`ok   ${IN_LOG('the live log')} — the report carries no run for`),
      });
      const olderBundled = await bundled(older, `older-${kind}`);
      expect(olderBundled.answer, kind).toMatchObject(wroteFormat3(olderBundled.source));
      // Stripped and swapped, said to be format 2: the live log fails the key too (a bundle holds no outcomes: with
      // it, as with the key alone, the key is NOT CHECKED).
      const strippedSwapped = join(dataDir, `stripped-swapped-${kind}`);
      cpSync(dir, strippedSwapped, { recursive: true });
      forgeNewReport(strippedSwapped, installation, (r) => {
        const forged = withKeyPair(r, compromised, otherKey);
        return { ...forged, v: 2, keys: withoutRuns(forged) };
      });
      expect(await live(strippedSwapped), kind).toMatchObject(failed(IN_LOG('the live log')));
      expect(await alone(strippedSwapped), kind).toMatchObject({
        code: EXIT.ok,
        stdout: expect.stringContaining(`NOT CHECKED ${MADE}`),
      });
    }
  }, 300_000);
});

/**
 * What the holder of the audit key can append: the run of a proposal nobody made (or a second run of a genuine one),
 * whose outcome names the key with the given fingerprint.
 */
function appendedRun(
  installation: string,
  keyId: string,
  fingerprint: string,
  of?: { proposal: string; fingerprint: string },
) {
  const proposal = of?.proposal ?? randomBytes(8).toString('hex');
  const fingerprinted = of?.fingerprint ?? sha256Hex(proposal);
  const outcome = canonicalJson({
    status: 'ok',
    result: { keyId, label: 'release-signing', algorithm: 'EC-P256', fingerprint, kcv: null },
  });
  const owner = openAudit(installation);
  try {
    owner.audit.record({
      actor: SYSTEM,
      action: 'proposal.execute',
      object: { type: 'proposal', id: proposal },
      params: runParams('key.generate', fingerprinted, outcome),
    });
    const log = owner.audit.log();
    const seq = log.size() - 1;
    const stored = log.entry(seq);
    return {
      recordedBy: { seq, proposal, action: 'key.generate', fingerprint: fingerprinted, outcome },
      entry: { seq, entry: stored.entry, signature: stored.signature.toString('base64'), proof: [] },
    };
  } finally {
    owner.close();
  }
}
