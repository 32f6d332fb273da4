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
  /** Proposals the signed log shows carried out whose stored record is gone: which keys they made cannot be told. */
  unaccounted: string[];
}

/**
 * Every key the signed audit log says exists: the objects of its own entries (a transition, a restore, a sealing),
 * and the keys a carried-out generation, rotation, import or rehearsal made, read from the proposal's stored outcome
 * once the signed run entry proves it byte for byte (the entry's parameters are only a hash). Custos never deletes a
 * key's row, so a key named here and missing from the table was deleted by someone else.
 */
export function recordedKeys(store: Store, audit: AuditService, keyEntries: readonly string[]): RecordedKeys {
  const ids = signedObjectIds(store, audit, 'key', keyEntries);
  // The heads signed with the latest checkpoint name every key there was, whatever entries were edited under it.
  for (const id of audit.recordsNamed('keys')) ids.add(id);
  const unaccounted: RecordedKeys['unaccounted'] = [];
  for (const action of ['proposal.execute', 'proposal.reconcile'])
    for (const entry of signedEntries(store, audit, { action, objectPrefix: 'proposal:' })) {
      if (entry.object?.type !== 'proposal') continue;
      const proposalId = entry.object.id;
      const row = store.get<{ body: string; fingerprint: string; outcome: string | null }>(
        sql`SELECT body, fingerprint, outcome FROM proposals WHERE id = ${proposalId}`,
      );
      if (row) keysMade(row, entry.params).forEach((id) => ids.add(id));
      else unaccounted.push(proposalId);
    }
  return { ids, unaccounted };
}

/**
 * The keys a run made, from its stored outcome when the signed parameters bind it. None when they do not: an edited
 * outcome is shown as tampered wherever it is read (PROPOSAL_TAMPERED), and a screen that lists keys must not fail
 * over a proposal's edited outcome.
 */
function keysMade(row: { body: string; fingerprint: string; outcome: string | null }, signed: string | null): string[] {
  try {
    const { action } = JSON.parse(row.body) as { action?: unknown };
    if (typeof action !== 'string') return [];
    // Not bound when recorded before outcomes were bound into the entry, or when edited since.
    if (row.outcome === null || signed !== sha256Hex(canonicalJson(runParams(action, row.fingerprint, row.outcome))))
      return [];
    const names = MAKES_KEYS[action];
    if (!names) return [];
    const { result } = JSON.parse(row.outcome) as { result?: unknown };
    if (typeof result !== 'object' || result === null) return [];
    return names(result as Record<string, unknown>).filter((id): id is string => typeof id === 'string');
  } catch {
    return [];
  }
}
