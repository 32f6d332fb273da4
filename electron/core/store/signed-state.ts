import type { ErrorCode } from '../../../shared/errors';
import type { AuditService } from '../audit/audit-service';
import type { RecordRef } from '../audit/record-heads';
import { canonicalJson } from '../canonical-json';
import { CustosError } from '../errors';

/**
 * Row state a database writer must not change: the audit key signs the fields that grant or limit
 * authority together with the seq of the audit entry that recorded the change. A forged row fails
 * the signature; an older signed row put back fails because its seq is not the latest entry the
 * log holds for that row, or not the one the record heads signed with the latest checkpoint name (entries under a
 * checkpoint can be edited away from the row unseen until `audit verify`). Used by custodians, keys, destruction
 * schedules, custody records, trusted recipients and backup retirements.
 */
export interface SignedColumns {
  state_seq: number | null;
  state_sig: Buffer | null;
}

/** The exact bytes the audit key signs for one row state. */
export function stateDocument(purpose: string, fields: Record<string, unknown>, seq: number): Buffer {
  return Buffer.from(canonicalJson({ v: 1, purpose, ...fields, seq }), 'utf8');
}

/**
 * Must run inside the transaction of the entry that records the change: that entry is the next seq. With `ref`, the
 * record heads signed with the next checkpoint name this state as the row's latest.
 */
export function signState(
  audit: AuditService,
  document: (seq: number) => Buffer,
  ref?: RecordRef,
): { seq: number; signature: Buffer } {
  const seq = audit.log().size();
  const signature = audit.signDocument(document(seq));
  if (ref) audit.sealed(ref, seq);
  return { seq, signature };
}

/**
 * authentic: signed and the latest recorded state; replayed: signed, but an older state; forged: not signed as stored.
 * `latest` is the seq of the latest entry the log holds for the row; with `ref`, a state from before the latest
 * checkpoint must also be the one its signed record heads name.
 */
export function stateVerdict(
  audit: AuditService,
  row: SignedColumns,
  document: (seq: number) => Buffer,
  latest: number | null | undefined,
  ref?: RecordRef,
): 'authentic' | 'replayed' | 'forged' {
  if (row.state_sig === null || row.state_seq === null) return 'forged';
  if (!audit.verifyDocument(document(row.state_seq), row.state_sig)) return 'forged';
  const head = ref && audit.recordHead(ref);
  if (head && row.state_seq < head.size && head.seq !== row.state_seq) return 'replayed';
  return row.state_seq === latest ? 'authentic' : 'replayed';
}

/**
 * Records the refusal (best effort: the log may be what is damaged) and throws the stable code. deleted: the signed
 * log records the row, the table no longer holds it.
 */
export function refuseTampered(
  audit: AuditService,
  code: ErrorCode,
  object: { type: string; id: string },
  what: string,
  verdict: 'replayed' | 'forged' | 'deleted',
  action = `${object.type}.tampered`,
): never {
  void audit.tryRecord({
    actor: { type: 'system', id: 'system' },
    action,
    object,
    result: { status: 'refused', code },
  });
  throw new CustosError(
    code,
    verdict === 'deleted'
      ? `${what} was deleted outside Custos: the audit log records it, the database no longer holds it.`
      : `${what} was changed outside Custos${verdict === 'replayed' ? ' (an older state was put back)' : ''}; it is not used.`,
    [
      'Treat this as a security incident: someone wrote to the database file. Restore the data directory from a backup you trust.',
      `“custos audit verify” and the audit log show what this ${object.type}’s state should be.`,
    ],
  );
}
