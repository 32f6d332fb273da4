import { DecisionReason, reasonProblem, type ProposalDecisionView } from '../../../shared/quorum';
import type { AuditService } from '../audit/audit-service';
import { CustosError } from '../errors';
import type { Store } from '../store/database';
import { signState, stateDocument, stateVerdict } from '../store/signed-state';
import { sql } from '../store/sql';

/** The states a person closes a proposal into, and the entry that records each. */
export type DecidedState = 'rejected' | 'cancelled';
const ENTRY_OF: Record<DecidedState, string> = { rejected: 'proposal.reject', cancelled: 'proposal.cancel' };

interface DecisionRow {
  id: string;
  state: string;
  decided_by: string | null;
  decision_reason: string | null;
  closed_at: string | null;
  decision_seq: number | null;
  decision_sig: Buffer | null;
}

/** The exact bytes the audit key signs for a decision: who, why, when, into which state. */
function decisionDocument(row: Omit<DecisionRow, 'decision_seq' | 'decision_sig'>, seq: number): Buffer {
  const { id, state, decided_by: by, decision_reason: reason, closed_at: at } = row;
  return stateDocument('proposal-decision', { id, state, by, reason, at }, seq);
}

/**
 * The reason as it will be kept (trimmed), or null when none was given and none is needed. A
 * rejection without one, or a reason that is too long or holds control characters, is PROPOSAL_INVALID.
 */
export function checkedReason(reason: string | undefined, state: DecidedState): string | null {
  if (reason === undefined && state === 'cancelled') return null;
  const checked = DecisionReason.safeParse(reason ?? '');
  if (checked.success) return checked.data;
  throw new CustosError(
    'PROPOSAL_INVALID',
    `${reasonProblem(reason ?? '')} ${state === 'rejected' ? 'A rejection must say why; nothing' : 'Nothing'} was done.`,
    ['Give a reason of 1 to 500 characters on one line; the approvers and the audit record see it.'],
  );
}

/**
 * Closes the proposal as decided and signs who decided, why and when. Must run inside the
 * transaction of the entry that records the decision: that entry is the next seq.
 */
export function recordDecision(
  store: Store,
  audit: AuditService,
  decision: { id: string; state: DecidedState; by: string; reason: string | null; at: string },
): void {
  const row = {
    id: decision.id,
    state: decision.state,
    decided_by: decision.by,
    decision_reason: decision.reason,
    closed_at: decision.at,
  };
  const { seq, signature } = signState(audit, (next) => decisionDocument(row, next));
  store.execute(sql`
    UPDATE proposals SET state = ${row.state}, closed_at = ${row.closed_at}, decided_by = ${row.decided_by},
      decision_reason = ${row.decision_reason}, decision_seq = ${seq}, decision_sig = ${signature}
    WHERE id = ${row.id}`);
}

const TAMPERED = {
  status: 'tampered',
  message:
    'Who closed this proposal and why was changed outside Custos, so it is not shown. ' +
    '“custos audit verify” and the audit log show what was recorded.',
} as const;

/**
 * Who rejected or cancelled the proposal and why, believed only as the audit key signed it and only
 * in the latest decision the log recorded for it. A decision recorded before reasons were kept is
 * read from its signed entry (who, when; no reason). A proposal voided by a change of custody has none.
 */
export function decisionOf(store: Store, audit: AuditService, id: string): ProposalDecisionView {
  const row = store.get<DecisionRow>(
    sql`SELECT id, state, decided_by, decision_reason, closed_at, decision_seq, decision_sig FROM proposals WHERE id = ${id}`,
  );
  if (!row || (row.state !== 'rejected' && row.state !== 'cancelled')) return null;
  const object = `proposal:${id}`;
  const entry = store.get<{ seq: number; entry: string; signature: Buffer }>(sql`
    SELECT seq, entry, signature FROM audit_entries
    WHERE object = ${object} AND action = ${ENTRY_OF[row.state]} AND result = 'ok' ORDER BY seq DESC LIMIT 1`);
  const stored = row.decided_by !== null || row.decision_reason !== null || row.decision_sig !== null;
  if (!entry) {
    const voided = store.get(
      sql`SELECT 1 AS yes FROM audit_entries WHERE object = ${object} AND action = 'proposal.void'`,
    );
    return row.state === 'cancelled' && voided && !stored ? null : TAMPERED;
  }
  if (!stored) {
    // Before reasons were kept the entry had no parameters; a signed entry still names who and when.
    const signed = JSON.parse(entry.entry) as { params: unknown; actor: { id: string }; time: string };
    return signed.params === null && audit.verifyDocument(Buffer.from(entry.entry, 'utf8'), entry.signature)
      ? { status: 'recorded', by: signed.actor.id, reason: null, at: signed.time }
      : TAMPERED;
  }
  const verdict = stateVerdict(
    audit,
    { state_seq: row.decision_seq, state_sig: row.decision_sig },
    (seq) => decisionDocument(row, seq),
    entry.seq,
  );
  return verdict === 'authentic' && row.decided_by !== null && row.closed_at !== null
    ? { status: 'recorded', by: row.decided_by, reason: row.decision_reason, at: row.closed_at }
    : TAMPERED;
}
