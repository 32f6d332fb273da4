import type { z } from 'zod';
import { canonicalJson, sha256Hex } from '../canonical-json';
import { runParams } from '../quorum/proposal-closure';
import { differences, spkiFingerprint, type KeyFields, type ListedKey } from './key-check';
import { keysRecorded, RUN_ACTIONS, type KeyMade } from './key-record';
import { parseCarriedJson } from './json-depth';
import { entryText, said, signedWithin } from './participant-check';
import type { PartEntry } from './participant-record';
import type { LaterSource, ReportCheck, SignedEntry } from './report-verify';
import { relyingParties } from './revocation';

/** A report without a ceremony: the key inventory, a revocation notice, an impact report (and compliance). */
interface KeyListReport extends z.infer<z.ZodObject<typeof KeyFields>> {
  ceremony: unknown;
  audit: { treeSize: number; entries: { seq: number; entry: string }[] };
  revocation?: {
    key: NamedKey & { label: string; algorithm: string };
    compromisedAt: string;
    relyingParties: string[];
  };
  impact?: { key: NamedKey };
}

interface NamedKey {
  id: string;
  fingerprint: string | null;
  kcv: string | null;
}

const MADE = 'keys: each key’s public key, fingerprint and check value as the signed entry that made it recorded';

/**
 * A report without a ceremony lists keys from the inventory; each carries the signed run that made it (`recordedBy`,
 * its entry among audit.entries), so the fingerprint and check value printed are the ones that run recorded, and the
 * public key hashes to that fingerprint. The run must come before every carried entry about the key (a revocation
 * notice's compromise, an impact report's every entry on it): whoever holds the audit key can append a run of their
 * own that "made" it with another key pair, never insert one earlier. A key the report ties to no run is said NOT
 * CHECKED, by name. Before, these keys were compared with nothing: a re-signed notice could print another key's public
 * key and fingerprint under the compromised key's id, and passed.
 */
export function checkKeysMade(report: KeyListReport, checks: ReportCheck[]): void {
  const keys = report.keys ?? [];
  if (report.ceremony !== null || keys.length === 0) return;
  const carried = new Map(report.audit.entries.map((e) => [e.seq, entryText(e.entry)]));
  const failures: string[] = [];
  const untied: string[] = [];
  for (const key of keys) {
    if (key.publicKeyPem !== null && spkiFingerprint(key.publicKeyPem) !== key.fingerprint)
      failures.push(`key ${key.id}: its public key has another fingerprint than the one printed`);
    const made = key.recordedBy;
    if (made === undefined) {
      untied.push(`key ${key.id}: this report predates carrying the entry that made it`);
      continue;
    }
    if (made === null) {
      untied.push(`key ${key.id}: no signed run here records it (sealed, restored from elsewhere, or older)`);
      continue;
    }
    const problem = madeProblem(key, made, carried.get(made.seq) ?? null);
    if (problem) {
      failures.push(problem);
      continue;
    }
    const earlier = [...carried.values()].find((e) => about(e, key.id) && before(e, made));
    if (earlier) failures.push(`key ${key.id}: ${comesBefore(earlier, made)}`);
    if (key.fingerprint !== null && !recordsFingerprint(key.id, made))
      untied.push(`key ${key.id}: entry ${made.seq} records no fingerprint for it`);
  }
  failures.push(...noticeDifferences(report, keys));
  if (failures.length > 0) {
    checks.push({ check: MADE, ok: false, detail: said(failures) });
    return;
  }
  if (untied.length < keys.length) checks.push({ check: MADE, ok: true });
  if (untied.length > 0) checks.push({ check: MADE, ok: true, skipped: true, detail: said(untied) });
}

/** Why the carried entry is not the signed run that made this key as listed, or null when it is. */
function madeProblem(key: ListedKey, made: KeyMade, entry: PartEntry | null): string | null {
  const object = entry?.object;
  const isRun =
    entry !== null &&
    entry.seq === made.seq &&
    RUN_ACTIONS.has(String(entry.action)) &&
    entry.result?.status === 'ok' &&
    object?.type === 'proposal' &&
    object.id === made.proposal;
  if (!isRun)
    return `key ${key.id}: the report carries no signed run of proposal ${made.proposal} at entry ${made.seq}`;
  if (entry.params !== sha256Hex(canonicalJson(runParams(made.action, made.fingerprint, made.outcome))))
    return `key ${key.id}: entry ${made.seq} recorded another outcome, action or fingerprint than the report carries`;
  let outcome: unknown;
  try {
    outcome = parseCarriedJson(made.outcome);
  } catch {
    return `key ${key.id}: the outcome carried for entry ${made.seq} is not JSON`;
  }
  const recorded = keysRecorded(made.action, outcome);
  if (!recorded.some((r) => r.keyId === key.id))
    return `key ${key.id}: the outcome entry ${made.seq} recorded does not name it`;
  return differences(key, recorded, `entry ${made.seq}`)[0] ?? null;
}

const recordsFingerprint = (keyId: string, made: KeyMade) => {
  try {
    const recorded = keysRecorded(made.action, parseCarriedJson(made.outcome));
    return recorded.some((r) => r.keyId === keyId && typeof r.fingerprint === 'string');
  } catch {
    return false;
  }
};

const about = (e: PartEntry | null, keyId: string): e is PartEntry =>
  e?.object?.type === 'key' && e.object.id === keyId;

/**
 * A successful entry on the key that precedes the run said to have made it: that run did not make it. A refused
 * request may name an id before any key has it (an import's id is known beforehand), and a restore records the key it
 * brings in while it runs, before its own run entry.
 */
const before = (e: PartEntry, made: KeyMade) =>
  typeof e.seq === 'number' &&
  e.seq < made.seq &&
  e.result?.status === 'ok' &&
  !(made.action === 'key.restore' && e.action === 'key.restored');

const comesBefore = (e: PartEntry, made: KeyMade) =>
  `entry ${String(e.seq)} (${String(e.action)}) on it comes before entry ${made.seq}, the run of proposal ` +
  `${made.proposal} said to have made it`;

/**
 * The key a revocation notice or an impact report is about is printed as the key list shows it (which is tied above),
 * and so is a notice's first sentence to relying parties, which names it by its fingerprint or check value.
 */
function noticeDifferences(report: KeyListReport, keys: ListedKey[]): string[] {
  const named = [
    ['revocation', report.revocation?.key],
    ['impact', report.impact?.key],
  ] as const;
  const found = named.flatMap(([member, key]) => {
    if (!key) return [];
    const listed = keys.find((k) => k.id === key.id);
    if (!listed) return [`${member}.key ${key.id} is not among the keys listed`];
    const same = listed.fingerprint === key.fingerprint && listed.kcv === key.kcv;
    return same ? [] : [`${member}.key ${key.id}: printed with another fingerprint or check value than its key`];
  });
  const notice = report.revocation;
  // Only the first sentence names the key alone: the others depend on its usage and on copies sent out.
  if (notice && notice.relyingParties[0] !== relyingParties({ ...notice.key, usage: '' }, notice.compromisedAt)[0])
    found.push(`revocation.relyingParties: the first sentence does not name key ${notice.key.id} as the notice does`);
  return found;
}

/** Whether an entry's text may be about one of these keys or proposals: a cheap look before it is parsed. */
export const mayRecordKeyMade = (entry: string, ids: readonly string[]) => ids.some((id) => entry.includes(id));

/**
 * The keys a report without a ceremony lists whose run it does not carry (`recordedBy` missing or null): with the live
 * log, the run this installation's signed log and stored outcome show made each (key-record.ts) is checked instead.
 */
export const keysWithoutRun = (report: Pick<KeyListReport, 'ceremony' | 'keys'>): string[] =>
  report.ceremony === null ? (report.keys ?? []).filter((k) => !k.recordedBy).map((k) => k.id) : [];

/** Each key's run: the one the report carries, else the one found in the live log (`stored`), else none. */
function runsOf(report: Pick<KeyListReport, 'ceremony' | 'keys'>, stored?: ReadonlyMap<string, KeyMade | null>) {
  const listed = report.ceremony === null ? (report.keys ?? []) : [];
  return listed.flatMap((key) => {
    const made = key.recordedBy ?? stored?.get(key.id) ?? null;
    return made ? [{ key, made, carried: Boolean(key.recordedBy) }] : [];
  });
}

/** The key ids and the proposals said to have made them, whose entries a later log is asked for. */
export function keysMadeAbout(
  report: Pick<KeyListReport, 'ceremony' | 'keys'>,
  stored?: ReadonlyMap<string, KeyMade | null>,
): { keys: string[]; proposals: string[] } {
  const runs = runsOf(report, stored);
  return { keys: runs.map((r) => r.key.id), proposals: runs.map((r) => r.made.proposal) };
}

/**
 * With a later log (live, or a bundle): the run each key is said to be made by is its proposal's first run in that
 * log, and no successful entry the log holds on the key, up to the report's checkpoint, comes before it. The carried
 * entries cannot show an entry on the key left out of an inventory report, or a proposal's genuine run left out while
 * a second one appended by whoever holds the audit key is carried; the log still holds them. A key whose run the report
 * does not carry (made before it carried them, or stripped) is tied here when `stored` gives its run (the live log,
 * whose stored outcome the run entry's params hash): its fingerprint and check value are compared as above. `entries`:
 * the log's entries about the keys and those proposals.
 */
export function checkKeysMadeInLog(
  report: KeyListReport,
  entries: SignedEntry[],
  later: LaterSource,
  stored?: ReadonlyMap<string, KeyMade | null>,
): ReportCheck | null {
  const runs = runsOf(report, stored);
  if (runs.length === 0) return null;
  const texts = signedWithin(entries, report.audit.treeSize, later).sort((a, b) => Number(a.seq) - Number(b.seq));
  const problems: string[] = [];
  for (const { key, made, carried } of runs) {
    const run = texts.find(
      (e) => RUN_ACTIONS.has(String(e.action)) && e.object?.type === 'proposal' && e.object.id === made.proposal,
    );
    if (!run) problems.push(`key ${key.id}: ${later.source} records no run of proposal ${made.proposal}`);
    else if (run.seq !== made.seq)
      problems.push(
        `key ${key.id}: the first run of proposal ${made.proposal} is entry ${String(run.seq)}, not ${made.seq}`,
      );
    else if (!carried) {
      const problem = madeProblem(key, made, run);
      if (problem) problems.push(`${problem} (as ${later.source} and this installation’s stored outcome show it)`);
    }
    const earlier = texts.find((e) => about(e, key.id) && before(e, made));
    if (earlier) problems.push(`key ${key.id}: ${comesBefore(earlier, made)}`);
  }
  const tiedHere = runs.filter((r) => !r.carried).map((r) => r.key.id);
  const detail = problems.length
    ? said(problems)
    : tiedHere.length
      ? `the report carries no run for ${said(tiedHere.map((id) => `key ${id}`))}: tied to the one this log records`
      : undefined;
  return {
    check:
      `keys: the run that made each key, as ${later.source} records the key and that run, ` +
      'up to the report’s checkpoint',
    ok: problems.length === 0,
    ...(detail ? { detail } : {}),
  };
}
