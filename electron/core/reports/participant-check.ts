import { verify } from 'node:crypto';
import { z } from 'zod';
import { ed25519PublicKeyObject } from '../audit/checkpoint';
import { canonicalJson, sha256Hex } from '../canonical-json';
import {
  custodyParts,
  MARKED_COMPROMISED,
  proposalParts,
  recordsConfirmation,
  type PartEntry,
  type RecordedPart,
} from './participant-record';
import type { LaterSource, ReportCheck, SignedEntry } from './report-verify';
import { isRunPart, RunEventFile, runParts, type RunEventRecord } from './run-participants';
import { parseCarriedJson } from './json-depth';

const Seq = z.number().int().nonnegative();

/** A custody's `custody.begin` params as a report carries them, with that entry's seq. */
export const CustodyBegunFile = z.object({
  token: z.object({ serial: z.string(), label: z.string() }),
  threshold: z.number(),
  holders: z.array(z.string()),
  pinBits: z.number(),
  pinAlphabet: z.string(),
  replaces: z.string().optional(),
  seq: Seq,
});

/** The members of report.json the participant checks read (report-verify.ts's ReportFile holds them). */
export const ParticipantFields = {
  participants: z
    .array(z.object({ id: z.string(), name: z.string(), part: z.string(), at: z.string(), seq: Seq.optional() }))
    .optional(),
};

export const CeremonyQuorumFields = {
  threshold: z.number().optional(),
  holders: z.number().optional(),
  custody: z.unknown().optional(),
  // null (format 2): the custody's custody.begin entry binds no params this code can rebuild (begun before they did).
  custodyBegun: CustodyBegunFile.nullable().optional(),
  // Set by reports that list new holders' confirmations among the participants; older ones are not held to them.
  listsHolderConfirmations: z.literal(true).optional(),
  // A script run's events (format 2), each with its entry's seq: they tie each performer and witness to a step.
  runEvents: z.array(RunEventFile).optional(),
  steps: z.unknown().optional(),
};

interface ParticipantReport {
  type: string;
  ceremony: {
    id: unknown;
    action?: string;
    fingerprint?: string;
    state?: string;
    threshold?: number;
    holders?: number;
    custody?: unknown;
    custodyBegun?: z.infer<typeof CustodyBegunFile> | null;
    listsHolderConfirmations?: true;
    runEvents?: RunEventRecord[];
    steps?: unknown;
  } | null;
  participants?: { id: string; name: string; part: string; at: string; seq?: number }[];
  revocation?: { seq: number; key: { id: string }; by?: { id: string } };
  audit: { entries: { seq: number; entry: string }[] };
}

const CHECK = 'participants: each part, person and time as a signed entry of this ceremony records it';

/**
 * The report's participants are exactly the parts the signed entries it carries record on its ceremony: each listed
 * part, person, time and entry (`seq`) is one an entry records, and every part an entry records is listed. A report
 * made before participants named their entry is compared by person and part only, its times said to be unchecked.
 */
export function checkParticipants(report: ParticipantReport, checks: ReportCheck[]): void {
  const entries = report.audit.entries.map((e) => ({ seq: e.seq, text: entryText(e.entry) }));
  const at = (seq: number) => entries.find((e) => e.seq === seq)?.text ?? null;
  if (report.ceremony) checkCounts(report, at, checks);
  const recorded = recordedParts(report, at);
  const listed = report.participants ?? [];
  if ('skipped' in recorded) {
    checks.push({ check: CHECK, ok: true, skipped: true, detail: recorded.skipped });
    return;
  }
  if ('failed' in recorded) {
    checks.push({ check: CHECK, ok: false, detail: recorded.failed });
    return;
  }
  const strict = listed.some((p) => p.seq !== undefined);
  const differences = compare(recorded.parts, listed, strict);
  checks.push({
    check: CHECK,
    ok: differences.length === 0,
    ...(differences.length ? { detail: said(differences) } : {}),
  });
  if (!strict && listed.length > 0)
    checks.push({
      check: 'participants’ times',
      ok: true,
      skipped: true,
      detail: 'this report predates naming each participant’s entry: people and parts were compared, times were not',
    });
  if (recorded.quorum) checkQuorum(report, recorded.parts, checks);
  if (recorded.unchecked) checks.push({ check: CONFIRMATIONS, ok: true, skipped: true, detail: recorded.unchecked });
}

const CONFIRMATIONS = 'new holders’ confirmations';
const CONFIRMATIONS_PREDATED = 'this report predates listing them: NOT CHECKED';

type Recorded =
  { parts: RecordedPart[]; quorum: boolean; unchecked?: string } | { skipped: string } | { failed: string };

/** The parts the carried entries record, by the kind of report; or why they cannot be known. */
function recordedParts(report: ParticipantReport, at: (seq: number) => PartEntry | null): Recorded {
  const ceremony = report.ceremony;
  if (report.revocation) {
    const e = at(report.revocation.seq);
    const ok =
      e?.action === 'key.compromise' &&
      e.object?.type === 'key' &&
      e.object.id === report.revocation.key.id &&
      typeof e.actor?.id === 'string' &&
      typeof e.time === 'string';
    if (!ok) return { failed: `entry ${report.revocation.seq} does not record this key’s compromise` };
    const id = e.actor!.id as string;
    const by = report.revocation.by?.id;
    if (by !== undefined && by !== id)
      return {
        failed: `the notice says ${by} marked the key compromised; entry ${report.revocation.seq} records ${id}`,
      };
    return {
      parts: [{ id, part: MARKED_COMPROMISED, at: e.time as string, seq: report.revocation.seq }],
      quorum: false,
    };
  }
  if (!ceremony) return { parts: [], quorum: false };
  if (typeof ceremony.id !== 'string') return { failed: 'the ceremony has no id' };
  const texts = report.audit.entries.flatMap((e) => at(e.seq) ?? []);
  const on = ceremonyOnRecord(report);
  if (on === 'proposal') {
    if (typeof ceremony.fingerprint !== 'string') return { failed: 'the proposal’s report names no fingerprint' };
    const confirmations = ceremony.listsHolderConfirmations === true;
    return {
      parts: proposalParts(texts, ceremony.id, ceremony.fingerprint, { confirmations }),
      quorum: true,
      ...(!confirmations && recordsConfirmation(texts, ceremony.id) ? { unchecked: CONFIRMATIONS_PREDATED } : {}),
    };
  }
  if (on === 'custody') {
    const begun = ceremony.custodyBegun;
    if (!begun) return { skipped: 'this report predates carrying its custody.begin entry’s params' };
    const bound = custodyBound(begun, ceremony.id, at);
    return 'failed' in bound ? bound : { parts: custodyParts(bound, begun), quorum: false };
  }
  if (on === 'ceremony-run') {
    if (!ceremony.runEvents) return { skipped: 'this report predates carrying its run’s events' };
    const run = runParts(texts, ceremony.id, ceremony.runEvents, stepTitles(ceremony.steps));
    return run.problems.length ? { failed: said(run.problems) } : { parts: run.parts, quorum: false };
  }
  // Said to be a script run (or anything else) with no entry of it carried: nothing its entries say it is.
  return { failed: `the report carries no signed entry of the ${what(report)} ${ceremony.id} it is about` };
}

/**
 * What a report's ceremony is, as the entries it carries about its id say, not its action or fields: a forger could
 * relabel those to have a proposal's participants read as a custody's (unchecked when it predates custodyBegun), or a
 * script run's as a custody's with its run's events left out. Null when no carried entry is about it.
 */
export function ceremonyOnRecord(report: {
  ceremony: { id: unknown } | null;
  audit: { entries: { entry: string }[] };
}): 'proposal' | 'custody' | 'ceremony-run' | null {
  const id = report.ceremony?.id;
  if (typeof id !== 'string') return null;
  const types = new Set(
    report.audit.entries.flatMap((e) => {
      const object = entryText(e.entry)?.object;
      return object?.id === id && typeof object.type === 'string' ? [object.type] : [];
    }),
  );
  return (['proposal', 'custody', 'ceremony-run'] as const).find((t) => types.has(t)) ?? null;
}

const RUN_TYPES = ['ceremony.script-run', 'ceremony.rehearsal'];

/** Whether a report says it is about a script run (or a rehearsal of one): by its action, type or events. */
export const saysScriptRun = (report: Pick<ParticipantReport, 'type' | 'ceremony'>) =>
  report.ceremony !== null &&
  (report.ceremony.action === 'ceremony.script-run' ||
    RUN_TYPES.includes(report.type) ||
    report.ceremony.runEvents !== undefined);

const what = (report: Pick<ParticipantReport, 'type' | 'ceremony'>) =>
  saysScriptRun(report) ? 'script run' : 'proposal or custody';

/** Each step's title by its id, as the report lists the steps; an unknown step is named by its id. */
function stepTitles(steps: unknown): (stepId: string) => string {
  const titles = new Map<string, string>();
  if (Array.isArray(steps))
    for (const s of steps as { id?: unknown; title?: unknown }[])
      if (typeof s?.id === 'string' && typeof s.title === 'string') titles.set(s.id, s.title);
  return (id) => titles.get(id) ?? id;
}

/** The custody.begin entry the params name: of this custody, its params the SHA-256 of theirs. */
function custodyBound(
  begun: z.infer<typeof CustodyBegunFile>,
  custodyId: string,
  at: (seq: number) => PartEntry | null,
): { seq: number; time: string } | { failed: string } {
  const { seq, ...params } = begun;
  const e = at(seq);
  const ok =
    e?.action === 'custody.begin' &&
    e.object?.type === 'custody' &&
    e.object.id === custodyId &&
    e.result?.status === 'ok' &&
    typeof e.time === 'string' &&
    e.params === sha256Hex(canonicalJson(params));
  return ok
    ? { seq, time: e.time as string }
    : { failed: `entry ${seq} is not this custody’s custody.begin with these holders, threshold and token` };
}

/** What differs, one line per person; `strict` also compares the time and entry of each. */
function compare(recorded: RecordedPart[], listed: NonNullable<ParticipantReport['participants']>, strict: boolean) {
  const left = [...recorded];
  const differences: string[] = [];
  for (const p of listed) {
    const i = left.findIndex((r) => r.part === p.part && r.id === p.id);
    const who = `${p.name} (${p.id}) ${p.part}`;
    if (i < 0) {
      differences.push(`${who} at ${p.at}: no signed entry of this ceremony records that`);
      continue;
    }
    const r = left.splice(i, 1)[0]!;
    if (strict && (p.at !== r.at || p.seq !== r.seq))
      differences.push(
        `${who}: the report says ${p.at} (entry ${String(p.seq ?? 'none')}), entry ${r.seq} records ${r.at}`,
      );
  }
  for (const r of left)
    differences.push(`entry ${r.seq} records ${r.id} ${r.part} at ${r.at}, and the report does not list it`);
  return differences;
}

export const said = (lines: string[]) =>
  lines.slice(0, 4).join('; ') + (lines.length > 4 ? ` (and ${lines.length - 4} more)` : '');

const COUNTS = 'threshold and share holders: the custody’s, as its custody.begin entry recorded';

/** The threshold and number of share holders the report states are the ones the custody's begin entry recorded. */
function checkCounts(report: ParticipantReport, at: (seq: number) => PartEntry | null, checks: ReportCheck[]) {
  const ceremony = report.ceremony!;
  const begun = ceremony.custodyBegun;
  // A proposal names the custody it ran on; a custody report is about its own.
  const custodyId = typeof ceremony.custody === 'string' ? ceremony.custody : ceremony.id;
  if (!begun) {
    if (ceremony.holders !== undefined)
      checks.push({ check: COUNTS, ok: true, skipped: true, detail: 'this report carries no custody.begin params' });
    return;
  }
  const bound = typeof custodyId === 'string' ? custodyBound(begun, custodyId, at) : { failed: 'no custody named' };
  const counts = ceremony.threshold === begun.threshold && ceremony.holders === begun.holders.length;
  const detail =
    'failed' in bound
      ? bound.failed
      : `entry ${begun.seq} records ${begun.threshold} of ${begun.holders.length}, the report says ` +
        `${String(ceremony.threshold)} of ${String(ceremony.holders)}`;
  const ok = !('failed' in bound) && counts;
  checks.push({ check: COUNTS, ok, ...(ok ? {} : { detail }) });
}

/** A proposal that ran (executed or failed) was approved by at least its threshold of distinct people, as recorded. */
function checkQuorum(report: ParticipantReport, parts: RecordedPart[], checks: ReportCheck[]) {
  const ceremony = report.ceremony!;
  if (ceremony.state !== 'executed' && ceremony.state !== 'failed') return;
  if (typeof ceremony.threshold !== 'number') return;
  const approvers = new Set(parts.filter((p) => p.part === 'approved').map((p) => p.id)).size;
  const met = approvers >= ceremony.threshold;
  checks.push({
    check: `quorum met: ${approvers} distinct approvers recorded, threshold ${ceremony.threshold}`,
    ok: met,
    ...(met ? {} : { detail: 'it ran with fewer signed approvals than the threshold the report states' }),
  });
}

/** The proposal a report is about, when it is one: its id and fingerprint as the report states them. */
export function reportedProposal(report: Pick<ParticipantReport, 'ceremony' | 'revocation'>) {
  const c = report.ceremony;
  return !report.revocation && c && typeof c.id === 'string' && typeof c.fingerprint === 'string'
    ? { id: c.id, fingerprint: c.fingerprint, confirmations: c.listsHolderConfirmations === true }
    : null;
}

/** Whether an entry's text may be about this proposal: a cheap look before any entry is parsed or verified. */
export const mayRecordPart = (entry: string, proposalId: string) =>
  entry.includes('"proposal.') && entry.includes(proposalId);

/**
 * With a later log (live, or a bundle): every part its signed entries record on the report's proposal, up to the
 * report's checkpoint, is listed. The check on the carried entries cannot see an approver left out together with
 * their entry; the log still holds that entry. `entries` in log order; those not signed by the key are not believed.
 */
export function checkParticipantsInLog(
  report: Pick<ParticipantReport, 'ceremony' | 'revocation' | 'participants'> & { audit: { treeSize: number } },
  entries: SignedEntry[],
  later: LaterSource,
): ReportCheck | null {
  const proposal = reportedProposal(report);
  if (!proposal) return null;
  const texts = signedWithin(entries, report.audit.treeSize, later);
  const recorded = proposalParts(texts, proposal.id, proposal.fingerprint, proposal);
  if (recorded.length === 0) return null;
  const listed = report.participants ?? [];
  const differences = compare(
    recorded,
    listed,
    listed.some((p) => p.seq !== undefined),
  );
  return {
    check: `participants: every part ${later.source} records on this proposal, up to the report’s checkpoint`,
    ok: differences.length === 0,
    ...(differences.length ? { detail: said(differences) } : {}),
  };
}

/** Whether an entry's text may be about this script run: a cheap look before any entry is parsed or verified. */
export const mayRecordRunPart = (entry: string, runId: string) =>
  entry.includes('"ceremony-run"') && entry.includes(runId);

/** The script run a report is about, when it says it is one or the entries it carries about its id are a run's. */
export function reportedRun(
  report: Pick<ParticipantReport, 'type' | 'ceremony' | 'revocation' | 'audit'>,
): string | null {
  const c = report.ceremony;
  const run = saysScriptRun(report) || ceremonyOnRecord(report) === 'ceremony-run';
  return !report.revocation && c && typeof c.id === 'string' && run ? c.id : null;
}

/**
 * With a later log (live, or a bundle): every performer and witness its signed entries record on the report's script
 * run, up to the report's checkpoint, is listed. The carried entries cannot show a witness left out together with
 * their entry and event; the log still holds that entry, and the report carries no event for it.
 */
export function checkRunPartsInLog(
  report: Pick<ParticipantReport, 'type' | 'ceremony' | 'revocation' | 'participants'> & {
    audit: ParticipantReport['audit'] & { treeSize: number };
  },
  entries: SignedEntry[],
  later: LaterSource,
): ReportCheck | null {
  const runId = reportedRun(report);
  if (runId === null || !report.ceremony?.runEvents) return null;
  const texts = signedWithin(entries, report.audit.treeSize, later).filter((e) => isRunPart(e, runId));
  const run = runParts(texts, runId, report.ceremony.runEvents, stepTitles(report.ceremony.steps));
  const differences = [...run.problems, ...compare(run.parts, report.participants ?? [], true)];
  return {
    check: `participants: every step performed or witnessed that ${later.source} records on this run, up to the report’s checkpoint`,
    ok: differences.length === 0,
    ...(differences.length ? { detail: said(differences) } : {}),
  };
}

/** The texts of those entries the later source's key signed, up to a report's checkpoint (`treeSize`). */
export function signedWithin(entries: SignedEntry[], treeSize: number, later: LaterSource): PartEntry[] {
  const publicKey = ed25519PublicKeyObject(later.key.publicKey);
  return entries.flatMap(({ entry, signature }) => {
    const text = entryText(entry);
    const within = typeof text?.seq === 'number' && text.seq < treeSize;
    return within && signature.length === 64 && verify(null, Buffer.from(entry), publicKey, signature) ? [text] : [];
  });
}

export function entryText(text: string): PartEntry | null {
  try {
    const value: unknown = parseCarriedJson(text);
    return typeof value === 'object' && value !== null ? (value as PartEntry) : null;
  } catch {
    return null;
  }
}
