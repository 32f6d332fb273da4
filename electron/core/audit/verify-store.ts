import type { AuditVerdict } from '../../../shared/audit';
import { CustosError } from '../errors';
import type { Store } from '../store/database';
import { sql } from '../store/sql';
import type { NoteKey } from './checkpoint';
import { verifyAuditLog, type VerifiableEntry } from './verifier';

export interface VerifyOptions {
  /** The key to trust; by default the one on record in the database (which an attacker could swap). */
  key?: NoteKey;
  trustedCheckpoints?: readonly string[];
  onProgress?: (checked: number, total: number | undefined) => void;
}

/** Verifies the live log straight from its tables: nothing is taken from the stored tree. */
export async function verifyStoredLog(store: Store, options: VerifyOptions = {}): Promise<AuditVerdict> {
  const key = options.key ?? recordedKey(store);
  const total = store.get<{ n: number }>(sql`SELECT count(*) AS n FROM audit_entries`)!.n;
  const checkpoints = store.all<{ note: string }>(sql`SELECT note FROM audit_checkpoints ORDER BY id`).map((r) => r.note);
  return verifyAuditLog({
    entries: store.iterate<VerifiableEntry>(sql`SELECT entry, signature, key_id AS keyId FROM audit_entries ORDER BY seq`),
    checkpoints,
    trustedCheckpoints: options.trustedCheckpoints ?? [],
    key,
    total,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
}

export function recordedKey(store: Store): NoteKey {
  const row = store.get<{ name: string; public_key: Buffer }>(sql`SELECT name, public_key FROM audit_keys ORDER BY created_at DESC, rowid DESC LIMIT 1`);
  if (!row) throw new CustosError('AUDIT_NOT_FOUND', 'This data directory has no audit key yet, so there is no log to verify.');
  return { name: row.name, publicKey: row.public_key };
}
