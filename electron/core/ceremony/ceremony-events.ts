import type { AuditActor, AuditObject } from '../../../shared/audit';
import type { AuditService } from '../audit/audit-service';
import { canonicalJson, sha256Hex } from '../canonical-json';
import type { Store } from '../store/database';
import { refuseTampered } from '../store/signed-state';
import { sql } from '../store/sql';

/**
 * Ceremony records (a run's steps, rehearsals, the rehearsal policy) kept as events: each the canonical parameters
 * of one signed audit entry at the same seq, action `ceremony.<kind>`, about one object. Read back only when every
 * row matches its entry and no entry lacks its row, so a database writer's edit, insertion or deletion is refused.
 */
export type StoredEvent = { kind: string } & Record<string, unknown>;

const keyOf = (object: AuditObject) => (object.type === 'ceremony-run' ? object.id : `${object.type}:${object.id}`);

export function appendEvent(
  store: Store,
  audit: AuditService,
  object: AuditObject,
  actor: AuditActor,
  event: StoredEvent,
): void {
  const body = canonicalJson(event);
  audit.record({ actor, action: `ceremony.${event.kind}`, object, params: event }, () => {
    const seq = audit.log().size();
    store.execute(
      sql`INSERT INTO ceremony_events (seq, run_id, kind, body) VALUES (${seq}, ${keyOf(object)}, ${event.kind}, ${body})`,
    );
  });
}

export function readEvents<E extends StoredEvent>(
  store: Store,
  audit: AuditService,
  object: AuditObject,
  what: string,
): (E & { seq: number; at: string })[] {
  const rows = store.all<{ seq: number; body: string }>(
    sql`SELECT seq, body FROM ceremony_events WHERE run_id = ${keyOf(object)} ORDER BY seq`,
  );
  // Refusals about the object (`<type>.tampered`) are not events of it.
  const entries = store.all<{ seq: number; entry: string; signature: Buffer }>(
    sql`SELECT seq, entry, signature FROM audit_entries
        WHERE object = ${`${object.type}:${object.id}`} AND action GLOB 'ceremony.*' ORDER BY seq`,
  );
  const tampered = () => refuseTampered(audit, 'CEREMONY_TAMPERED', object, what, 'forged');
  if (rows.length !== entries.length) tampered();
  return rows.map((row, i) => {
    const stored = entries[i]!;
    const entry = JSON.parse(stored.entry) as {
      params: string | null;
      time: string;
      action: string;
      object: AuditObject | null;
    };
    const event = JSON.parse(row.body) as E;
    // What the entry is about is read from the signed bytes, not from the columns derived from them: a database
    // writer can redefine those (the schema is in the file too) to make a signed entry about one thing read as another.
    if (
      stored.seq !== row.seq ||
      entry.object?.type !== object.type ||
      entry.object.id !== object.id ||
      entry.action !== `ceremony.${event.kind}` ||
      entry.params !== sha256Hex(row.body) ||
      !audit.verifyDocument(Buffer.from(stored.entry, 'utf8'), stored.signature)
    )
      tampered();
    return { ...event, seq: row.seq, at: entry.time };
  });
}
