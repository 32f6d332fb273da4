import { z } from 'zod';
import { canonicalJson, sha256Hex } from '../canonical-json';
import type { PartEntry, RecordedPart } from './participant-record';

/** The run events whose entry's actor did a step (performed) or signed it off (witnessed): see RunEvent. */
const PERFORMS = ['custody', 'propose', 'manual', 'checkpoint'];
const WITNESSES = 'witness';

/** A run event as a report carries it: the exact params its `ceremony.<kind>` entry hashes, and that entry's seq. */
export const RunEventFile = z.object({ seq: z.number().int().nonnegative(), event: z.record(z.string(), z.unknown()) });
export type RunEventRecord = z.infer<typeof RunEventFile>;

/** Whether an entry records a person's part in this run: their step done or signed off, as signed. */
export function isRunPart(e: PartEntry, runId: string): boolean {
  const kind = typeof e.action === 'string' && e.action.startsWith('ceremony.') ? e.action.slice(9) : '';
  return (
    e.object?.type === 'ceremony-run' &&
    e.object.id === runId &&
    e.result?.status === 'ok' &&
    (PERFORMS.includes(kind) || kind === WITNESSES)
  );
}

/**
 * Who performed and who witnessed each step of a script run, as its signed entries (`ceremony.<kind>` about
 * `ceremony-run:<id>`) record it: the entry's actor, time and seq, and its step from the event its params hash. A
 * witness's event names the witness, who must be the entry's actor. The report's participants are made from this,
 * and `report verify` makes it again from the entries and events the report carries.
 */
export function runParts(
  entries: PartEntry[],
  runId: string,
  events: RunEventRecord[],
  titleOf: (stepId: string) => string,
): { parts: RecordedPart[]; problems: string[] } {
  const parts: RecordedPart[] = [];
  const problems: string[] = [];
  for (const e of entries.filter((x) => isRunPart(x, runId))) {
    const seq = e.seq as number;
    const actor = e.actor?.id;
    const carried = events.find((r) => r.seq === seq)?.event;
    if (!carried || e.params !== sha256Hex(canonicalJson(carried)) || `ceremony.${String(carried.kind)}` !== e.action) {
      problems.push(`entry ${seq} (${String(e.action)} by ${String(actor)}): the report carries no event it signed`);
      continue;
    }
    const witnessed = carried.kind === WITNESSES;
    if (typeof actor !== 'string' || typeof e.time !== 'string' || (witnessed && carried.witness !== actor)) {
      problems.push(`entry ${seq} names no person who ${witnessed ? 'witnessed' : 'performed'} a step`);
      continue;
    }
    const title = titleOf(String(carried.step));
    parts.push({ id: actor, part: `${witnessed ? 'witnessed' : 'performed'}: ${title}`, at: e.time, seq });
  }
  return { parts, problems };
}
