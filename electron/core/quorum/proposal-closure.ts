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
/** The actions of the entries that close a proposal. */
export const CLOSING_ACTION_NAMES: ReadonlySet<string> = new Set(Object.keys(CLOSING));
const CLOSING_ACTIONS = {
  text: Object.keys(CLOSING)
    .map(() => '?')
    .join(', '),
  params: Object.keys(CLOSING),
};

/**
 * Proposals that may be open: the `state` column says so, or the log holds no entry closing them. A database writer
 * who marks an open proposal closed in its column hides it from nothing that asks which proposals are open.
 */
export function unclosedProposalIds(store: Store): string[] {
  return store
    .all<{ id: string }>(
      sql`SELECT id FROM proposals p WHERE state = 'open' OR NOT EXISTS (SELECT 1 FROM audit_entries
          WHERE object = 'proposal:' || p.id AND action IN (${CLOSING_ACTIONS})) ORDER BY created_at DESC`,
    )
    .map(({ id }) => id);
}

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
  // Every closing entry of the proposal, whatever its result: an entry whose result or bytes were edited must not drop
  // out of the query and leave an earlier one (or none: open) to decide.
  let latest: { params: string | null; state: ProposalState } | null = null;
  let untrusted = false;
  for (const stored of store.iterate<{ seq: number; entry: string; signature: Buffer }>(sql`
    SELECT seq, entry, signature FROM audit_entries
    WHERE object = ${`proposal:${row.id}`} AND action IN (${CLOSING_ACTIONS}) ORDER BY seq DESC`)) {
    const signed = signedClosing(stored);
    if (signed && audit.verifyDocument(Buffer.from(stored.entry, 'utf8'), stored.signature)) {
      latest = signed;
      break;
    }
    untrusted = true;
  }
  // A closing entry that does not verify, or sits at another seq than it was signed for, was written by someone else:
  // the proposal is never shown open (it could be approved again), nor in the state its column claims.
  if (untrusted) return { state: latest?.state ?? 'failed', outcome: 'altered' };
  if (!latest) return { state: 'open', outcome: row.state === 'open' && row.outcome === null ? 'proven' : 'altered' };
  const { state } = latest;
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
  if (latest.params === sha256Hex(canonicalJson(runParams(row.action, row.fingerprint, row.outcome, bound))))
    return { state, outcome: 'proven' };
  // Before outcomes were bound: the parameters named what ran, its fingerprint and a failure's detail.
  const legacy = { action: row.action, fingerprint: row.fingerprint, ...(bound ? { failure: bound } : {}) };
  return { state, outcome: latest.params === sha256Hex(canonicalJson(legacy)) ? 'legacy' : 'altered' };
}

/** What a stored closing entry says, when it is well formed, names a closing result and was signed for its seq. */
function signedClosing(stored: { seq: number; entry: string }): { params: string | null; state: ProposalState } | null {
  let signed: { seq?: unknown; action?: unknown; params?: unknown; result?: { status?: unknown } | null };
  try {
    signed = JSON.parse(stored.entry) as typeof signed;
  } catch {
    return null;
  }
  const close = typeof signed.action === 'string' ? CLOSING[signed.action] : undefined;
  const state = close && typeof signed.result?.status === 'string' ? close(signed.result.status) : null;
  if (state === null || signed.seq !== stored.seq) return null;
  return { params: typeof signed.params === 'string' ? signed.params : null, state };
}
