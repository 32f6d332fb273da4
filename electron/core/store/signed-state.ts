import type { ErrorCode } from '../../../shared/errors';
import type { AuditService } from '../audit/audit-service';
import { canonicalJson } from '../canonical-json';
import { CustosError } from '../errors';

/**
 * Row state a database writer must not change: the audit key signs the fields that grant or limit
 * authority together with the seq of the audit entry that recorded the change. A forged row fails
 * the signature; an older signed row put back fails because its seq is not the latest entry the
 * log holds for that row. Used by custodians, keys, destruction schedules and custody records.
 */
export interface SignedColumns {
  state_seq: number | null;
  state_sig: Buffer | null;
}

/** The exact bytes the audit key signs for one row state. */
export function stateDocument(purpose: string, fields: Record<string, unknown>, seq: number): Buffer {
  return Buffer.from(canonicalJson({ v: 1, purpose, ...fields, seq }), 'utf8');
}

/** Must run inside the transaction of the entry that records the change: that entry is the next seq. */
export function signState(audit: AuditService, document: (seq: number) => Buffer): { seq: number; signature: Buffer } {
  const seq = audit.log().size();
  return { seq, signature: audit.signDocument(document(seq)) };
}

/**
 * authentic: signed and the latest recorded state; replayed: signed, but an older state; forged: not signed as stored.
 */
export function stateVerdict(
  audit: AuditService,
  row: SignedColumns,
  document: (seq: number) => Buffer,
  latest: number | null | undefined,
): 'authentic' | 'replayed' | 'forged' {
  const signed =
    row.state_sig !== null && row.state_seq !== null && audit.verifyDocument(document(row.state_seq), row.state_sig);
  if (!signed) return 'forged';
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
