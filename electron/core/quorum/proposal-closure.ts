import type { ProposalView } from '../../../shared/quorum';
import type { AuditService } from '../audit/audit-service';
import { canonicalJson, sha256Hex } from '../canonical-json';
import type { Store } from '../store/database';
import { sql } from '../store/sql';

type ProposalState = ProposalView['state'];

/** The entries that close a proposal, and the state each closes it into by its result. */
const CLOSING: Record<string, (status: string) => ProposalState | null> = {
  'proposal.execute': (status) => (status === 'ok' ? 'executed' : status === 'failed' ? 'failed' : null),
  'proposal.reconcile': (status) => (status === 'ok' ? 'executed' : status === 'failed' ? 'failed' : null),
  'proposal.expire': (status) => (status === 'ok' ? 'expired' : null),
  'proposal.void': (status) => (status === 'ok' ? 'cancelled' : null),
  'proposal.reject': (status) => (status === 'ok' ? 'rejected' : null),
  'proposal.cancel': (status) => (status === 'ok' ? 'cancelled' : null),
};
const CLOSING_ACTIONS = {
  text: Object.keys(CLOSING)
    .map(() => '?')
    .join(', '),
  params: Object.keys(CLOSING),
};

/**
 * The parameters of the entry that records a proposal's run (their hash is what the entry signs): what ran, its
 * fingerprint, a failure's token detail, and the SHA-256 of the outcome exactly as stored, so the outcome a screen or
 * a signed report shows can be checked against the log.
 */
export function runParams(action: string, fingerprint: string, storedOutcome: string, failure?: unknown) {
  return { action, fingerprint, ...(failure ? { failure } : {}), outcome: sha256Hex(storedOutcome) };
}

export interface Closure {
  /** The state the signed log says the proposal is in (the `state` column is believed only as far as it agrees). */
  state: ProposalState;
  /**
   * proven: the stored outcome is the one the run's entry signed (or none, and none is due); legacy: recorded before
   * outcomes were bound into the entry, so only its failure detail could be checked; altered: the stored state or
   * outcome is not what the log recorded.
   */
  outcome: 'proven' | 'legacy' | 'altered';
}

/**
 * A proposal's state and outcome as the audit log proves them. The proposals table's state, outcome and closing
 * columns are written by the same transaction as the entry that closes the proposal, but nothing signs them: a
 * database writer could mark a failed destruction executed, give it an outcome ("no copy remains"), or open a closed
 * proposal again. The latest closing entry (signed, in the Merkle log) decides the state, and its parameters' hash
 * binds the stored outcome byte for byte.
 */
export function closureOf(
  store: Store,
  audit: AuditService,
  row: { id: string; state: string; fingerprint: string; action: string; outcome: string | null },
): Closure {
  const entry = store.get<{ entry: string; signature: Buffer }>(sql`
    SELECT entry, signature FROM audit_entries
    WHERE object = ${`proposal:${row.id}`} AND action IN (${CLOSING_ACTIONS}) AND result IN ('ok', 'failed')
    ORDER BY seq DESC LIMIT 1`);
  if (!entry) return { state: 'open', outcome: row.state === 'open' && row.outcome === null ? 'proven' : 'altered' };
  const signed = JSON.parse(entry.entry) as { action: string; params: string | null; result: { status: string } };
  const state = CLOSING[signed.action]?.(signed.result.status) ?? null;
  if (state === null || !audit.verifyDocument(Buffer.from(entry.entry, 'utf8'), entry.signature))
    return { state: row.state as ProposalState, outcome: 'altered' };
  if (row.state !== state) return { state, outcome: 'altered' };
  if (state !== 'executed' && state !== 'failed')
    return { state, outcome: row.outcome === null ? 'proven' : 'altered' };
  if (row.outcome === null) return { state, outcome: 'altered' };
  let failure: unknown;
  try {
    failure = (JSON.parse(row.outcome) as { detail?: unknown }).detail;
  } catch {
    return { state, outcome: 'altered' };
  }
  const bound = state === 'failed' ? failure : undefined;
  if (signed.params === sha256Hex(canonicalJson(runParams(row.action, row.fingerprint, row.outcome, bound))))
    return { state, outcome: 'proven' };
  // Before outcomes were bound: the parameters named what ran, its fingerprint and a failure's detail.
  const legacy = { action: row.action, fingerprint: row.fingerprint, ...(bound ? { failure: bound } : {}) };
  return { state, outcome: signed.params === sha256Hex(canonicalJson(legacy)) ? 'legacy' : 'altered' };
}
