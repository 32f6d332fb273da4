import type { AuditEntry } from '../../../shared/audit';
import type { Store } from '../store/database';
import { sql } from '../store/sql';
import type { AuditService } from './audit-service';

/**
 * The successful entries of one action, on one object (`type:id`) or on objects that begin so, in log order, each
 * read from its own signed bytes and kept only when its signature verifies: a row a database writer added to the log
 * never decides anything read from here. The log refuses to open over such a row (AuditLog.checkOpened), but reads
 * still answer while it is refused, and an entry whose signature was replaced is left out rather than believed.
 */
export function signedEntries(
  store: Store,
  audit: AuditService,
  where: { action: string } & ({ object: string } | { objectPrefix: string } | { anyObject: true }),
): AuditEntry[] {
  const rows =
    'object' in where
      ? store.all<{ entry: string; signature: Buffer }>(sql`
          SELECT entry, signature FROM audit_entries
          WHERE object = ${where.object} AND action = ${where.action} AND result = 'ok' ORDER BY seq`)
      : 'objectPrefix' in where
        ? store.all<{ entry: string; signature: Buffer }>(sql`
            SELECT entry, signature FROM audit_entries
            WHERE object >= ${where.objectPrefix} AND object < ${`${where.objectPrefix}\u{10ffff}`}
              AND action = ${where.action} AND result = 'ok' ORDER BY seq`)
        : store.all<{ entry: string; signature: Buffer }>(sql`
            SELECT entry, signature FROM audit_entries WHERE action = ${where.action} AND result = 'ok' ORDER BY seq`);
  return rows.flatMap(({ entry, signature }) =>
    audit.verifyDocument(Buffer.from(entry, 'utf8'), signature) ? [JSON.parse(entry) as AuditEntry] : [],
  );
}

/**
 * The ids of the objects of one type (`key`, `custodian`, `custody`) that the successful signed entries of these
 * actions name: the records the log says exist. Custos never deletes those rows, so one missing from its table was
 * deleted by someone else. One index lookup per action; each entry's signature checked.
 */
export function signedObjectIds(
  store: Store,
  audit: AuditService,
  type: string,
  actions: readonly string[],
): Set<string> {
  const ids = new Set<string>();
  for (const action of actions)
    for (const entry of signedEntries(store, audit, { action, objectPrefix: `${type}:` }))
      if (entry.object?.type === type) ids.add(entry.object.id);
  return ids;
}

/** The entry at this seq as the audit key signed it (for this seq), or undefined. */
export function signedEntryAt(store: Store, audit: AuditService, seq: number): AuditEntry | undefined {
  const row = store.get<{ entry: string; signature: Buffer }>(
    sql`SELECT entry, signature FROM audit_entries WHERE seq = ${seq}`,
  );
  if (!row || !audit.verifyDocument(Buffer.from(row.entry, 'utf8'), row.signature)) return undefined;
  const entry = JSON.parse(row.entry) as AuditEntry;
  return entry.seq === seq ? entry : undefined;
}
