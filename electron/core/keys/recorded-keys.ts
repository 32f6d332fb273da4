import type { AuditService } from '../audit/audit-service';
import { signedEntries, signedObjectIds } from '../audit/signed-entries';
import { canonicalJson, sha256Hex } from '../canonical-json';
import { runParams } from '../quorum/proposal-closure';
import type { Store } from '../store/database';
import { sql } from '../store/sql';

/** The quorum actions whose run adds keys to the inventory, and the key ids their stored outcome's result names. */
const MAKES_KEYS: Record<string, (result: Record<string, unknown>) => unknown[]> = {
  'key.generate': (r) => [r.keyId],
  'key.import-wrapped': (r) => [r.keyId],
  'key.rotate': (r) => [r.successorId],
  'rehearsal.stand-ins': (r) => (Array.isArray(r.keys) ? r.keys.map((k: { keyId?: unknown } | null) => k?.keyId) : []),
};

export interface RecordedKeys {
  /** The keys the signed log says the inventory holds. */
  ids: Set<string>;
  /**
   * Proposals the signed log shows carried out whose stored record is gone (deleted) or no longer the run the log
   * recorded (forged): which keys they made cannot be told.
   */
  unaccounted: { proposalId: string; verdict: 'deleted' | 'forged' }[];
}

/**
 * Every key the signed audit log says exists: the objects of its own entries (a transition, a restore, a sealing),
 * and the keys a carried-out generation, rotation, import or rehearsal made, read from the proposal's stored outcome
 * once the signed run entry proves it byte for byte (the entry's parameters are only a hash). Custos never deletes a
 * key's row, so a key named here and missing from the table was deleted by someone else.
 */
export function recordedKeys(store: Store, audit: AuditService, keyEntries: readonly string[]): RecordedKeys {
  const ids = signedObjectIds(store, audit, 'key', keyEntries);
  const unaccounted: RecordedKeys['unaccounted'] = [];
  for (const action of ['proposal.execute', 'proposal.reconcile'])
    for (const entry of signedEntries(store, audit, { action, objectPrefix: 'proposal:' })) {
      if (entry.object?.type !== 'proposal') continue;
      const proposalId = entry.object.id;
      const row = store.get<{ body: string; fingerprint: string; outcome: string | null }>(
        sql`SELECT body, fingerprint, outcome FROM proposals WHERE id = ${proposalId}`,
      );
      if (!row) {
        unaccounted.push({ proposalId, verdict: 'deleted' });
        continue;
      }
      const made = keysMade(row, entry.params);
      if (made === null) unaccounted.push({ proposalId, verdict: 'forged' });
      else made.forEach((id) => ids.add(id));
    }
  return { ids, unaccounted };
}

/** The keys a run made, from its stored outcome when the signed parameters bind it; null when they do not. */
function keysMade(
  row: { body: string; fingerprint: string; outcome: string | null },
  signed: string | null,
): string[] | null {
  try {
    const { action } = JSON.parse(row.body) as { action?: unknown };
    if (typeof action !== 'string') return null;
    // Recorded before outcomes were bound into the entry: the keys it made cannot be read.
    if (signed === sha256Hex(canonicalJson({ action, fingerprint: row.fingerprint }))) return [];
    if (row.outcome === null || signed !== sha256Hex(canonicalJson(runParams(action, row.fingerprint, row.outcome))))
      return null;
    const names = MAKES_KEYS[action];
    if (!names) return [];
    const { result } = JSON.parse(row.outcome) as { result?: unknown };
    if (typeof result !== 'object' || result === null) return [];
    return names(result as Record<string, unknown>).filter((id): id is string => typeof id === 'string');
  } catch {
    return null;
  }
}
