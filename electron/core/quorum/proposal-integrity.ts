import type { AuditService } from '../audit/audit-service';
import { canonicalJson, sha256Hex } from '../canonical-json';
import type { Store } from '../store/database';
import { refuseTampered } from '../store/signed-state';
import { sql } from '../store/sql';

/**
 * Refuses a proposal whose stored body was changed after it was proposed. The body must hash to its
 * fingerprint, and that fingerprint (with, for a script's proposal, its custody) must be the one the signed
 * `proposal.create` entry recorded (its params hash): a database writer who rewrites the body, or the body and
 * its fingerprint, cannot have the quorum approve or run what nobody proposed.
 */
export function refuseAlteredProposal(store: Store, audit: AuditService, id: string): void {
  const row = store.get<{ body: string; fingerprint: string; custody_id: string }>(
    sql`SELECT body, fingerprint, custody_id FROM proposals WHERE id = ${id}`,
  );
  if (!row) return;
  const created = store.get<{ entry: string; signature: Buffer }>(
    sql`SELECT entry, signature FROM audit_entries
        WHERE object = ${`proposal:${id}`} AND action = 'proposal.create' AND result = 'ok' ORDER BY seq LIMIT 1`,
  );
  // A script's proposal body names the token, not the custody record (so its fingerprint is known in advance): its
  // signed entry binds the custody whose shares approve it, so a row pointed at another custody is refused too.
  const scripted = (JSON.parse(row.body) as { v?: unknown }).v === 2;
  const bound = scripted ? { fingerprint: row.fingerprint, custody: row.custody_id } : { fingerprint: row.fingerprint };
  const recorded =
    created !== undefined &&
    audit.verifyDocument(Buffer.from(created.entry, 'utf8'), created.signature) &&
    (JSON.parse(created.entry) as { params: unknown }).params === sha256Hex(canonicalJson(bound));
  if (sha256Hex(row.body) !== row.fingerprint || !recorded)
    refuseTampered(audit, 'PROPOSAL_TAMPERED', { type: 'proposal', id }, `Proposal ${id}`, 'forged');
}
