import { z } from 'zod';
import { stepKind } from '../../../shared/ceremony-script';
import { canonicalJson, sha256Hex } from '../canonical-json';
import { parseScript, stepWitnesses } from '../ceremony-script';
import { ceremonyOnRecord, entryText, reportedRun, said, signedWithin } from './participant-check';
import type { PartEntry } from './participant-record';
import type { LaterSource, ReportCheck, SignedEntry } from './report-verify';
import type { RunEventRecord } from './run-participants';

/** The members of a script run's report.json this check reads (report-verify.ts's ReportFile holds them). */
export const RunStartFields = {
  script: z.unknown().optional(),
  title: z.unknown().optional(),
  rehearsal: z.unknown().optional(),
  startedAt: z.unknown().optional(),
};

interface RunStartReport {
  type: string;
  ceremony: {
    id: unknown;
    action?: string;
    runEvents?: RunEventRecord[];
    steps?: unknown;
    token?: unknown;
    script?: unknown;
    title?: unknown;
    rehearsal?: unknown;
    startedAt?: unknown;
  } | null;
  revocation?: { seq: number; key: { id: string }; by?: { id: string } };
  audit: { treeSize: number; entries: { seq: number; entry: string }[] };
}

/** A run's `ceremony.start` event (ceremony-runs.ts RunEvent): its entry's params are the SHA-256 of exactly this. */
const StartEvent = z.object({
  kind: z.literal('start'),
  script: z.string(),
  title: z.string(),
  token: z.object({ serial: z.string(), label: z.string() }),
  by: z.string(),
  rehearsal: z.literal(true).optional(),
});
type StartEvent = z.infer<typeof StartEvent>;

const ScriptFile = z.object({ sha256: z.string(), text: z.string() });

const CHECK = 'script and steps: the ones the run’s signed ceremony.start entry recorded';

/**
 * A script run's report names the script its run started with: the start event it carries is the one its carried
 * `ceremony.start` entry hashes, and the run's first; the script's SHA-256 (and the text, which must hash to it), the
 * title, token, kind of run and start time are that event's and entry's; and each step (id, title, kind, performer,
 * witnesses) is the script's, read from the text the start entry hashes. A report made before it carried its run's
 * events says so instead of passing.
 */
export function checkRunStart(report: RunStartReport, checks: ReportCheck[]): void {
  const run = carriedRun(report, CHECK, checks);
  if (!run) return;
  const problems = startProblems(report, run.id, run.runEvents, run.carried);
  checks.push({ check: CHECK, ok: problems.length === 0, ...(problems.length ? { detail: said(problems) } : {}) });
}

/**
 * The run a script run's report is about, with the run's events and the entries it carries; null for any other report
 * (one whose entries say it is a proposal's or a custody's is checked as one, participant-check.ts). A report made
 * before it carried its run's events is said under `check` to be unchecked, and is null too.
 */
export function carriedRun(
  report: { ceremony: { id: unknown; runEvents?: RunEventRecord[] } | null; audit: { entries: { entry: string }[] } },
  check: string,
  checks: ReportCheck[],
): { id: string; runEvents: RunEventRecord[]; carried: PartEntry[] } | null {
  const c = report.ceremony;
  if (!c || typeof c.id !== 'string' || ceremonyOnRecord(report) !== 'ceremony-run') return null;
  if (!c.runEvents) {
    checks.push({ check, ok: true, skipped: true, detail: 'this report predates carrying its run’s events' });
    return null;
  }
  return { id: c.id, runEvents: c.runEvents, carried: report.audit.entries.flatMap((e) => entryText(e.entry) ?? []) };
}

function startProblems(report: RunStartReport, runId: string, events: RunEventRecord[], carried: PartEntry[]) {
  const aboutRun = carried.filter((e) => e.object?.type === 'ceremony-run' && e.object.id === runId);
  const starts = events.filter((r) => r.event.kind === 'start');
  if (starts.length !== 1)
    return [
      starts.length === 0
        ? `the report carries no start event of run ${runId}`
        : `the report carries ${starts.length} start events of run ${runId} (entries ` +
          `${starts.map((s) => s.seq).join(', ')}): a run starts once`,
    ];
  const { seq, event } = starts[0]!;
  const entry = aboutRun.find((e) => e.seq === seq);
  if (!entry || entry.action !== 'ceremony.start' || entry.result?.status !== 'ok')
    return [`the report carries no ceremony.start entry ${seq} of run ${runId}, the one its start event names`];
  if (entry.params !== sha256Hex(canonicalJson(event)))
    return [`entry ${seq} (ceremony.start) hashes other params than the start event the report carries`];
  const start = StartEvent.safeParse(event);
  if (!start.success) return [`the start event of entry ${seq} names no script, title and token`];
  const problems: string[] = [];
  // The holder of the audit key can append a start for another script, never insert one before the run's entries.
  const before = [...events.map((r) => r.seq), ...aboutRun.map((e) => e.seq as number)].filter((s) => s < seq);
  if (before.length > 0)
    problems.push(
      `entry ${Math.min(...before)} of the run comes before entry ${seq}, the start the report carries: a run’s ` +
        'start is its first entry',
    );
  const others = aboutRun.filter((e) => e.action === 'ceremony.start' && e.seq !== seq);
  if (others.length > 0) problems.push(`entry ${String(others[0]!.seq)} starts run ${runId} again`);
  return [...problems, ...fieldProblems(report, start.data, seq, entry.time)];
}

/** What the report says of the run against what its start entry recorded, one line for each thing that differs. */
function fieldProblems(report: RunStartReport, start: StartEvent, seq: number, time: unknown): string[] {
  const c = report.ceremony!;
  const problems: string[] = [];
  const script = ScriptFile.safeParse(c.script);
  if (!script.success) problems.push('the report carries no script (its SHA-256 and text)');
  else {
    const { sha256, text } = script.data;
    if (sha256 !== start.script)
      problems.push(`the report names the script SHA-256 ${sha256}; entry ${seq} started the run with ${start.script}`);
    const hashed = sha256Hex(text);
    if (hashed !== sha256) problems.push(`the script text the report carries hashes to ${hashed}, not ${sha256}`);
    if (hashed === start.script) problems.push(...stepProblems(text, c.steps));
  }
  const rehearsal = start.rehearsal === true;
  const run = rehearsal ? 'a rehearsal' : 'a real run';
  const type = rehearsal ? 'ceremony.rehearsal' : 'ceremony.script-run';
  if (report.type !== type || c.action !== 'ceremony.script-run' || c.rehearsal !== rehearsal)
    problems.push(
      `the report says type ${report.type}, action ${String(c.action)}, rehearsal ${String(c.rehearsal)}; entry ` +
        `${seq} started ${run} (type ${type}, action ceremony.script-run, rehearsal ${String(rehearsal)})`,
    );
  const title = rehearsal ? `REHEARSAL: ${start.title}` : start.title;
  if (c.title !== title)
    problems.push(`the report titles the run ${shown(c.title)}; entry ${seq} recorded ${shown(title)}`);
  const token = (c.token ?? {}) as { serial?: unknown; label?: unknown };
  if (token.serial !== start.token.serial || token.label !== start.token.label)
    problems.push(
      `the report names the token ${shown(token.label)} serial ${shown(token.serial)}; entry ${seq} recorded ` +
        `${shown(start.token.label)} serial ${shown(start.token.serial)}`,
    );
  if (c.startedAt !== time)
    problems.push(`the report says the run started ${shown(c.startedAt)}; entry ${seq} records ${shown(time)}`);
  return problems;
}

const STEP_FIELDS = ['id', 'title', 'kind', 'by', 'witnesses'] as const;
type StepFacts = Record<(typeof STEP_FIELDS)[number], unknown>;

/** Each step the report lists against the script's, in order: one line for each step that differs, naming how. */
function stepProblems(text: string, steps: unknown): string[] {
  const parsed = parseScript(text);
  if ('problems' in parsed) return [`the script its start entry hashes does not read as one: ${parsed.problems[0]}`];
  const scripted: StepFacts[] = parsed.script.steps.map((s) => ({
    id: s.id,
    title: s.title,
    kind: stepKind(s),
    by: s.by,
    witnesses: stepWitnesses(parsed.script, s),
  }));
  const listed = (Array.isArray(steps) ? steps : []).map(reportedStep);
  const problems: string[] = [];
  for (let i = 0; i < Math.max(scripted.length, listed.length); i++) {
    const want = scripted[i];
    const got = listed[i];
    if (!want) problems.push(`the report lists a step ${i + 1} (${shown(got!.id)}) the script does not have`);
    else if (!got) problems.push(`step ${i + 1} of the script (${String(want.id)}) is not in the report`);
    else {
      const differ = STEP_FIELDS.filter((f) => JSON.stringify(got[f] ?? null) !== JSON.stringify(want[f]));
      const say = (facts: StepFacts) => differ.map((f) => `${f} ${shown(facts[f])}`).join(', ');
      if (differ.length > 0)
        problems.push(`step ${i + 1} (${String(want.id)}): the report says ${say(got)}; the script ${say(want)}`);
    }
  }
  return problems;
}

function reportedStep(step: unknown): StepFacts {
  const s = (typeof step === 'object' && step !== null ? step : {}) as Partial<StepFacts>;
  const witnesses = Array.isArray(s.witnesses) ? s.witnesses.map((w: { name?: unknown }) => w?.name) : s.witnesses;
  return { id: s.id, title: s.title, kind: s.kind, by: s.by, witnesses };
}

const shown = (value: unknown) =>
  typeof value === 'string'
    ? `“${value}”`
    : Array.isArray(value)
      ? `[${value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')}]`
      : String(JSON.stringify(value) ?? 'none');

/**
 * With a later log (live, or a bundle): the start event the report carries is the run's first entry as that log
 * records it, up to the report's checkpoint. The holder of the audit key can append a start for another script and
 * make a wholly new report carrying only it and entries appended after it; the log still begins the run with the
 * genuine start.
 */
export function checkRunStartInLog(
  report: RunStartReport,
  entries: SignedEntry[],
  later: LaterSource,
): ReportCheck | null {
  const runId = reportedRun(report);
  const events = report.ceremony?.runEvents;
  if (runId === null || !events) return null;
  const check = `script: the one ${later.source} records the run started with, up to the report’s checkpoint`;
  const first = signedWithin(entries, report.audit.treeSize, later)
    .filter((e) => e.object?.type === 'ceremony-run' && e.object.id === runId)
    .sort((a, b) => (a.seq as number) - (b.seq as number))[0];
  const starts = events.filter((r) => r.event.kind === 'start');
  const carried = starts.length === 1 ? starts[0]! : null;
  let problem: string | null = null;
  if (!first) problem = `${later.source} records no entry of run ${runId} within the report’s checkpoint`;
  else if (first.action !== 'ceremony.start' || first.result?.status !== 'ok')
    problem = `entry ${String(first.seq)}, the first of run ${runId} in ${later.source}, is ${String(first.action)}, no start`;
  else if (!carried || carried.seq !== first.seq || first.params !== sha256Hex(canonicalJson(carried.event)))
    problem =
      `entry ${String(first.seq)} of ${later.source} started run ${runId}, and the report carries ` +
      (carried === null
        ? 'no single start event'
        : carried.seq !== first.seq
          ? `the start of entry ${carried.seq} instead`
          : 'another start event for it') +
      ': its script, title or token are not the ones the run started with';
  return { check, ok: problem === null, ...(problem ? { detail: problem } : {}) };
}
