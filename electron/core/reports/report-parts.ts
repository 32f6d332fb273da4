import type { AuditService } from '../audit/audit-service';
import { signedEntries, signedEntryAt } from '../audit/signed-entries';
import { canonicalJson, sha256Hex } from '../canonical-json';
import type { Store } from '../store/database';
import { sql } from '../store/sql';
import { proposalParts, type CustodyBegun, type RecordedPart } from './participant-record';

/** A proposal's parts as the signed entries among `seqs` (the report's own) record them, each naming its entry. */
export function signedProposalParts(
  store: Store,
  audit: AuditService,
  seqs: number[],
  proposal: { id: string; fingerprint: string },
): RecordedPart[] {
  const entries = seqs.flatMap((seq) => signedEntryAt(store, audit, seq) ?? []);
  return proposalParts(entries, proposal.id, proposal.fingerprint);
}

/** A custody as the audit log began it: its `custody.begin` entry, and the exact params that entry's hash binds. */
export interface CustodyBeginning {
  seq: number;
  time: string;
  begun: CustodyBegun;
}

/**
 * The params of a custody's `custody.begin` entry, rebuilt from its record and found by their hash: the holders in
 * the order their shares were written (the order dealt), and the custody it replaced, if any. Null when no rebuilt
 * form hashes to the entry's params (a custody begun before the params held all of these): then nothing is claimed.
 */
export function custodyBeginning(
  store: Store,
  audit: AuditService,
  custody: { id: string; token: { serial: string; label: string }; threshold: number; pinBits: number | null } & {
    pinAlphabet?: string | null;
  },
): CustodyBeginning | null {
  const begin = signedEntries(store, audit, { action: 'custody.begin', object: `custody:${custody.id}` })[0];
  if (!begin || custody.pinBits === null) return null;
  const holders = store
    .all<{ id: string }>(
      sql`SELECT custodian_id AS id FROM custody_shares WHERE custody_id = ${custody.id} AND pin = 'user' ORDER BY rowid`,
    )
    .map((r) => r.id);
  const superseded = signedEntries(store, audit, { action: 'custody.supersede', objectPrefix: 'custody:' })
    .filter((e) => e.params === sha256Hex(canonicalJson({ by: custody.id })))
    .flatMap((e) => (e.object ? [e.object.id] : []));
  const token = { serial: custody.token.serial, label: custody.token.label };
  const base = {
    token,
    threshold: custody.threshold,
    holders,
    pinBits: custody.pinBits,
    pinAlphabet: custody.pinAlphabet ?? 'alphanumeric',
  };
  const candidates: CustodyBegun[] = [base, ...superseded.map((replaces) => ({ ...base, replaces }))];
  const begun = candidates.find((c) => sha256Hex(canonicalJson(c)) === begin.params);
  return begun ? { seq: begin.seq, time: begin.time, begun } : null;
}
