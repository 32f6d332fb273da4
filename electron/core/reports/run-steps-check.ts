import { canonicalJson, sha256Hex } from '../canonical-json';
import { said } from './participant-check';
import type { PartEntry } from './participant-record';
import type { ReportCheck } from './report-verify';
import type { RunEventRecord } from './run-participants';
import { carriedRun } from './run-start-check';

interface RunStepsReport {
  ceremony: { id: unknown; state?: string; runEvents?: RunEventRecord[]; steps?: unknown } | null;
  audit: { entries: { seq: number; entry: string }[] };
}

/** A run event the report carries together with the signed entry whose params hash it: its time is the entry's. */
type SignedEvent = { seq: number; at: string; event: Record<string, unknown> };

const CHECK =
  'steps: each one’s state, time, outcome, value, fingerprint and checkpoint as the run’s signed entries say';
const PERFORMED = ['custody', 'manual', 'checkpoint'];
const CARRIED_OUT = 'Carried out.';

/**
 * What a script run's report lists of each step, made again from the run's events as their carried entries sign
 * them, as the run's step view (ceremony-runs.ts stepView) makes it from the same events: its state, when it was
 * performed, its outcome, the value a manual step recorded, the proposal and fingerprint a quorum step made, the
 * checkpoint a checkpoint step signed, and the times its witnesses signed it off. A quorum step counts as carried out
 * only when the report carries its proposal's successful `proposal.execute` (or `proposal.reconcile`) entry. Which
 * steps there are, and who performs and witnesses them, run-start-check.ts ties to the script.
 */
export function checkRunSteps(report: RunStepsReport, checks: ReportCheck[]): void {
  const run = carriedRun(report, CHECK, checks);
  if (!run) return;
  const c = report.ceremony!;
  const { carried } = run;
  const events = signedEvents(carried, run.id, run.runEvents);
  const steps = Array.isArray(c.steps) ? (c.steps as unknown[]) : [];
  const problems = steps.flatMap((step, i) => stepProblems(step, i, events, carried));
  // Aborted exactly when an abort is signed; whether an unaborted run is done follows from its steps, checked above.
  const aborted = events.some((r) => r.event.kind === 'abort');
  if ((c.state === 'aborted') !== aborted)
    problems.unshift(
      `the run: state ${shown(c.state)} where the entries give ` +
        (aborted ? 'aborted' : 'done or in-progress (no abort)'),
    );
  checks.push({ check: CHECK, ok: problems.length === 0, ...(problems.length ? { detail: said(problems) } : {}) });
}

/** The carried events a carried, successful `ceremony.<kind>` entry about the run hashes; the others say nothing. */
function signedEvents(carried: PartEntry[], runId: string, events: RunEventRecord[]): SignedEvent[] {
  return events.flatMap(({ seq, event }) => {
    const e = carried.find((x) => x.seq === seq);
    const signs =
      e !== undefined &&
      e.object?.type === 'ceremony-run' &&
      e.object.id === runId &&
      e.result?.status === 'ok' &&
      e.action === `ceremony.${String(event.kind)}` &&
      e.params === sha256Hex(canonicalJson(event)) &&
      typeof e.time === 'string';
    return signs ? [{ seq, at: e.time as string, event }] : [];
  });
}

interface ListedStep {
  id?: unknown;
  kind?: unknown;
  state?: unknown;
  performedAt?: unknown;
  outcome?: unknown;
  value?: unknown;
  proposalId?: unknown;
  fingerprint?: unknown;
  checkpoint?: unknown;
  witnesses?: unknown;
}

/** One line for a listed step whose fields differ from what its signed events make of it, naming each field. */
function stepProblems(step: unknown, index: number, events: SignedEvent[], carried: PartEntry[]): string[] {
  const s = (typeof step === 'object' && step !== null ? step : {}) as ListedStep;
  const mine = events.filter((r) => r.event.step === s.id);
  const performed = mine.find((r) => PERFORMED.includes(String(r.event.kind)));
  const proposed = mine.filter((r) => r.event.kind === 'propose').at(-1);
  const signoffs = mine.filter((r) => r.event.kind === 'witness' && typeof r.event.witness === 'string');
  const witnessIds = new Set(signoffs.map((r) => r.event.witness));
  const listedWitnesses = Array.isArray(s.witnesses) ? (s.witnesses as { signedAt?: unknown }[]) : [];
  const proposalId = proposed ? proposed.event.proposalId : null;
  const executed = typeof proposalId === 'string' && carriedOut(carried, proposalId);
  const want: Record<string, unknown> = {
    value: performed?.event.kind === 'manual' ? performed.event.value : null,
    checkpoint: performed?.event.kind === 'checkpoint' ? performed.event.note : null,
    proposalId,
    fingerprint: proposed ? proposed.event.fingerprint : null,
    performedAt: executed
      ? (lastApproval(carried, proposalId, proposed!.event.fingerprint) ?? proposed!.at)
      : (performed?.at ?? null),
    outcome: executed ? CARRIED_OUT : proposed ? s.outcome : null,
  };
  // Without its execution's entry a proposal is open or closed unexecuted: the entries alone do not say which.
  const done = witnessIds.size >= listedWitnesses.length;
  const states: unknown[] =
    executed || (performed && !proposed)
      ? [done ? 'done' : 'performed']
      : proposed
        ? ['proposed', 'failed']
        : ['waiting'];
  const got = s as Record<string, unknown>;
  const differ = Object.keys(want).filter((f) => JSON.stringify(got[f] ?? null) !== JSON.stringify(want[f] ?? null));
  const lines = differ.map((f) => `${f} ${shown(got[f])} where the entries give ${shown(want[f])}`);
  if (!states.includes(s.state)) lines.unshift(`state ${shown(s.state)} where the entries give ${states.join(' or ')}`);
  // A failed proposal's outcome is a sentence the entries do not give; a carried-out one says it was carried out.
  if (!executed && proposed && s.outcome === CARRIED_OUT) lines.push('outcome “Carried out.” with no execution entry');
  const signedAt = listedWitnesses.map((w) => w?.signedAt ?? null).filter((t) => t !== null);
  const signed = signoffs.filter((r, i) => signoffs.findIndex((x) => x.event.witness === r.event.witness) === i);
  if (JSON.stringify([...signedAt].sort()) !== JSON.stringify(signed.map((r) => r.at).sort()))
    lines.push(`witnesses signed at ${shown(signedAt)} where the entries give ${shown(signed.map((r) => r.at))}`);
  return lines.length ? [`step ${index + 1} (${String(s.id)}): ${lines.join('; ')}`] : [];
}

/** Whether the report carries the signed entry of this proposal's successful execution (or its reconciliation). */
function carriedOut(carried: PartEntry[], proposalId: string): boolean {
  return carried.some(
    (e) =>
      e.object?.type === 'proposal' &&
      e.object.id === proposalId &&
      (e.action === 'proposal.execute' || e.action === 'proposal.reconcile') &&
      e.result?.status === 'ok',
  );
}

/** When the last approval of this fingerprint was signed (quorum-service.ts signedApprovals), as the step's time. */
function lastApproval(carried: PartEntry[], proposalId: string, fingerprint: unknown): string | null {
  const approved = [
    sha256Hex(canonicalJson({ fingerprint })),
    sha256Hex(canonicalJson({ fingerprint, renewed: true })),
  ];
  const approvals = carried.filter(
    (e) =>
      e.object?.type === 'proposal' &&
      e.object.id === proposalId &&
      e.action === 'proposal.approve' &&
      approved.includes(String(e.params)) &&
      typeof e.time === 'string',
  );
  return (approvals.at(-1)?.time as string | undefined) ?? null;
}

const shown = (value: unknown) => {
  if (typeof value === 'string') {
    const line = value.split('\n')[0]!;
    return `“${line.length < value.length ? `${line}…` : value}”`;
  }
  if (Array.isArray(value)) return `[${value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')}]`;
  return String(JSON.stringify(value) ?? 'none');
};
