import { canonicalJson, sha256Hex } from '../canonical-json';
import { runParams } from '../quorum/proposal-closure';
import { parseCarriedJson } from './json-depth';
import { entryText } from './participant-check';

interface RunOutcomesReport {
  ceremony: { steps?: unknown } | null;
  audit: { entries: { entry: string }[] };
}

interface ListedStep {
  id?: unknown;
  state?: unknown;
  proposalId?: unknown;
  fingerprint?: unknown;
  action?: unknown;
  outcomeAsRecorded?: unknown;
}

/**
 * The outcomes a script run's quorum steps recorded: each as the step carries it (`outcomeAsRecorded`, the outcome
 * exactly as stored), taken only where a carried, successful `proposal.execute` (or `proposal.reconcile`) entry of the
 * step's proposal hashes it with the step's action and fingerprint (proposal-closure.ts runParams). Which proposal and
 * fingerprint a step made, run-steps-check.ts ties to the run's signed events. A step whose carried outcome no such
 * entry binds is a problem, named. A quorum step carried out without one (a format-2 report made before steps carried
 * them; format-check.ts fails a format-3 report so) is named in `unrecorded`.
 */
export function runStepOutcomes(report: RunOutcomesReport): {
  outcomes: { action: string; outcome: unknown }[];
  problems: string[];
  unrecorded: string[];
} {
  const steps = Array.isArray(report.ceremony?.steps) ? (report.ceremony.steps as ListedStep[]) : [];
  const carried = report.audit.entries.flatMap((e) => entryText(e.entry) ?? []);
  const outcomes: { action: string; outcome: unknown }[] = [];
  const problems: string[] = [];
  const unrecorded: string[] = [];
  for (const step of steps) {
    const stored = step?.outcomeAsRecorded;
    if (typeof stored !== 'string') {
      const done = step?.state === 'done' || step?.state === 'performed';
      if (typeof step?.proposalId === 'string' && done) unrecorded.push(String(step.id));
      continue;
    }
    const runs = carried.filter(
      (e) =>
        e.object?.type === 'proposal' &&
        e.object.id === step.proposalId &&
        (e.action === 'proposal.execute' || e.action === 'proposal.reconcile') &&
        e.result?.status === 'ok',
    );
    const bound = sha256Hex(canonicalJson(runParams(String(step.action), String(step.fingerprint), stored)));
    let outcome: unknown = undefined;
    try {
      outcome = parseCarriedJson(stored);
    } catch {
      // Named below: no entry hashes a string that is not the stored outcome.
    }
    if (outcome === undefined || !runs.some((e) => e.params === bound))
      problems.push(`step ${String(step.id)}: no carried execution entry records the outcome it carries`);
    else outcomes.push({ action: String(step.action), outcome });
  }
  return { outcomes, problems, unrecorded };
}
