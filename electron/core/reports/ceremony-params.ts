import { ACTIONS, ActionName, describeProposal, describeResult, type ProposalLookups } from '../../../shared/actions';
import { FailedOutcome } from '../../../shared/quorum';

/**
 * A proposal's parameters as the report prints them: the catalogue's sentence, then its details.
 * Parameters the catalogue does not read (a report signed by an older Custos) print as "name: value".
 */
export function paramsInWords(action: string, params: unknown, lookups: ProposalLookups): string[] {
  const known = ActionName.safeParse(action);
  const parsed = known.success ? ACTIONS[known.data].params.safeParse(params) : null;
  if (!known.success || !parsed?.success) return raw(params);
  const { sentence, lines } = describeProposal(known.data, parsed.data as never, lookups);
  return [sentence, ...lines];
}

/** A successful operation's result in the catalogue's words; none for a failure or no outcome. */
export function resultInWords(action: string, outcome: unknown, lookups: ProposalLookups): string[] | null {
  if (!outcome || FailedOutcome.safeParse(outcome).success) return null;
  const result = (outcome as { result?: unknown }).result;
  const known = ActionName.safeParse(action);
  const parsed = known.success ? ACTIONS[known.data].result.safeParse(result) : null;
  if (!known.success || !parsed?.success) return result && typeof result === 'object' ? raw(result) : null;
  return describeResult(known.data, parsed.data as never, lookups);
}

function raw(values: unknown): string[] {
  if (!values || typeof values !== 'object' || Object.keys(values).length === 0)
    return ['none beyond the action itself'];
  return Object.entries(values).map(
    ([name, value]) =>
      `${name}: ${Array.isArray(value) ? value.join(', ') : typeof value === 'string' ? value : JSON.stringify(value)}`,
  );
}
