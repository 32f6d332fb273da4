import type { AuditProblem, AuditVerdict, KeySource } from '../../../shared/audit';
import { CustosError } from '../errors';
import type { Store } from '../store/database';
import { sql } from '../store/sql';
import type { NoteKey } from './checkpoint';
import { storedTreeReader } from './stored-tree';
import { verifyAuditLog, type VerifiableEntry } from './verifier';

export interface VerifyOptions {
  /** The key to trust; by default the one on record in the database (which an attacker could swap). */
  key?: NoteKey;
  keySource?: KeySource;
  trustedCheckpoints?: readonly string[];
  /** Found outside the entries (a rolled-back log, another key in the audit token): each fails the verdict, first. */
  findings?: readonly AuditProblem[];
  onProgress?: (checked: number, total: number | undefined) => void;
}

/** Verifies the live log straight from its tables: nothing is taken from the stored tree. */
export async function verifyStoredLog(store: Store, options: VerifyOptions = {}): Promise<AuditVerdict> {
  const key = options.key ?? recordedKey(store);
  const keySource: KeySource = options.key ? (options.keySource ?? 'pinned') : 'record';
  const total = store.get<{ n: number }>(sql`SELECT count(*) AS n FROM audit_entries`)!.n;
  const checkpoints = store
    .all<{ note: string }>(sql`SELECT note FROM audit_checkpoints ORDER BY id`)
    .map((r) => r.note);
  const verdict = await verifyAuditLog({
    entries: storedEntries(store),
    checkpoints,
    trustedCheckpoints: options.trustedCheckpoints ?? [],
    key,
    keySource,
    total,
    storedTreeMatches: storedTreeReader(store),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const findings = options.findings ?? [];
  if (findings.length === 0) return verdict;
  return { ...verdict, ok: false, first: findings[0]!, problems: [...findings, ...verdict.problems] };
}

const CHUNK = 4096;

/**
 * The entries as stored, read in chunks by sequence number and yielding to the event loop
 * between chunks: the database is never held busy across an await, so the app keeps answering
 * (and appending) while a million entries are verified. Only entries present at the start count,
 * every one of them: a row a writer stored at a negative seq is read too, and named.
 */
async function* storedEntries(store: Store): AsyncGenerator<VerifiableEntry[]> {
  const last = store.get<{ last: number | null }>(sql`SELECT max(seq) AS last FROM audit_entries`)!.last;
  if (last === null) return;
  let after = store.get<{ first: number }>(sql`SELECT min(seq) AS first FROM audit_entries`)!.first - 1;
  for (;;) {
    const chunk = store.all<VerifiableEntry & { seq: number }>(
      sql`SELECT seq, entry, signature, key_id AS keyId FROM audit_entries WHERE seq > ${after} AND seq <= ${last} ORDER BY seq LIMIT ${CHUNK}`,
    );
    if (chunk.length === 0) return;
    yield chunk;
    after = chunk.at(-1)!.seq;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export function recordedKey(store: Store): NoteKey {
  // The first key on record: a row added later (triggers allow INSERT) cannot replace it.
  const row = store.get<{ name: string; public_key: Buffer }>(
    sql`SELECT name, public_key FROM audit_keys ORDER BY rowid LIMIT 1`,
  );
  if (!row)
    throw new CustosError('AUDIT_NOT_FOUND', 'This data directory has no audit key yet, so there is no log to verify.');
  return { name: row.name, publicKey: row.public_key };
}
