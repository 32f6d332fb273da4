import type { AuditService } from '../audit/audit-service';
import { canonicalJson, sha256Hex } from '../canonical-json';
import type { Store } from '../store/database';
import { refuseTampered } from '../store/signed-state';
import { sql } from '../store/sql';

/** A witness sign-off as a report carries it: `seq` is its `ceremony.witness` entry, among the report's entries. */
export interface WitnessSignOff {
  name: string;
  role: string;
  at: string;
  seq: number;
}

/** What a `ceremony.witness` entry's params hash binds: who signed off, in which capacity, and when. */
export const witnessParams = (w: { name: string; role: string; at: string }) => ({
  name: w.name,
  role: w.role,
  at: w.at,
});

export interface WitnessEntry {
  action?: unknown;
  object?: { type?: unknown; id?: unknown } | null;
  params?: unknown;
  result?: { status?: unknown };
  time?: unknown;
}

/**
 * Whether a signed entry records this sign-off on this ceremony. Entries made before the time was bound hash only
 * name and role: for them the sign-off's time is the entry's own.
 */
export function recordsWitness(entry: WitnessEntry, ceremonyId: string, w: Omit<WitnessSignOff, 'seq'>): boolean {
  return (
    entry.action === 'ceremony.witness' &&
    entry.object?.type === 'ceremony' &&
    entry.object.id === ceremonyId &&
    entry.result?.status === 'ok' &&
    (entry.params === sha256Hex(canonicalJson(witnessParams(w))) ||
      (entry.params === sha256Hex(canonicalJson({ name: w.name, role: w.role })) && entry.time === w.at))
  );
}

/**
 * A ceremony's witness sign-offs, each backed by its signed `ceremony.witness` entry, paired in order: a row
 * without its entry, an entry without its row, or one that differs is refused (CEREMONY_TAMPERED, recorded), so a
 * database writer cannot add, change or drop a sign-off in a signed report.
 */
export function provenWitnesses(store: Store, audit: AuditService, ceremonyId: string): WitnessSignOff[] {
  const rows = store.all<{ name: string; role: string; signed_at: string }>(
    sql`SELECT name, role, signed_at FROM witnesses WHERE ceremony_id = ${ceremonyId} ORDER BY id`,
  );
  const stored = store.all<{ seq: number; entry: string; signature: Buffer }>(
    sql`SELECT seq, entry, signature FROM audit_entries
        WHERE object = ${`ceremony:${ceremonyId}`} AND action = 'ceremony.witness' AND result = 'ok' ORDER BY seq`,
  );
  const tampered = () =>
    refuseTampered(
      audit,
      'CEREMONY_TAMPERED',
      { type: 'ceremony', id: ceremonyId },
      `A witness sign-off of ceremony ${ceremonyId}`,
      'forged',
    );
  if (rows.length !== stored.length) return tampered();
  return rows.map((row, i) => {
    const { seq, entry, signature } = stored[i]!;
    // Read from the signed bytes, not the columns derived from them, which a database writer can redefine.
    const signed = JSON.parse(entry) as WitnessEntry;
    const current = { name: row.name, role: row.role, at: row.signed_at };
    const at = recordsWitness(signed, ceremonyId, current) ? current.at : String(signed.time);
    const recorded = recordsWitness(signed, ceremonyId, { ...current, at });
    if (!recorded || !audit.verifyDocument(Buffer.from(entry, 'utf8'), signature)) return tampered();
    return { ...current, at, seq };
  });
}
