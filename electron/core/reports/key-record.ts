import type { AuditService } from '../audit/audit-service';
import { signedEntries } from '../audit/signed-entries';
import { canonicalJson, sha256Hex } from '../canonical-json';
import { runParams } from '../quorum/proposal-closure';
import type { Store } from '../store/database';
import { sql } from '../store/sql';

/** The entries that record a proposal's run (proposal-closure.ts), whose params bind its stored outcome. */
export const RUN_ACTIONS: ReadonlySet<string> = new Set(['proposal.execute', 'proposal.reconcile']);

/** What a run's outcome records of one key: its id, and its fingerprint and check value where it records them. */
export interface RecordedKey {
  keyId: string;
  fingerprint?: unknown;
  kcv?: unknown;
}

/**
 * Every key a run's outcome names, with the facts it records of each (a generation, each key a restore proved…). A
 * rotation's result names the old key as `keyId` and records the successor's fingerprint and check value beside
 * `successorId`: read as the old key's, they failed a genuine rotation's report.
 */
export function keysRecorded(action: string | undefined, outcome: unknown): RecordedKey[] {
  const result = (outcome as { result?: Record<string, unknown> } | null)?.result;
  if (action === 'key.rotate' && typeof result === 'object' && result !== null) {
    const { keyId, successorId, fingerprint, kcv } = result;
    return [
      ...(typeof keyId === 'string' ? [{ keyId }] : []),
      ...(typeof successorId === 'string' ? [{ keyId: successorId, fingerprint, kcv }] : []),
    ];
  }
  return objectsNamingKeys(outcome, []);
}

function objectsNamingKeys(value: unknown, found: RecordedKey[]): RecordedKey[] {
  if (Array.isArray(value)) value.forEach((item) => objectsNamingKeys(item, found));
  else if (typeof value === 'object' && value !== null) {
    const o = value as Record<string, unknown>;
    if (typeof o.keyId === 'string') found.push(o as unknown as RecordedKey);
    Object.values(o).forEach((item) => objectsNamingKeys(item, found));
  }
  return found;
}

/**
 * The signed run that made a key, as a report without a ceremony carries it beside the key: the entry's seq, and what
 * its params hash (the proposal's action and fingerprint, the outcome exactly as stored), so `report verify` can tie
 * the key's fingerprint and check value to that entry.
 */
export interface KeyMade {
  seq: number;
  proposal: string;
  action: string;
  fingerprint: string;
  outcome: string;
}

/**
 * The run of the proposal the key's signed record names (its generation, import, rotation, or the restore that
 * brought it here), when its signed entry binds the stored outcome and that outcome names the key; null otherwise (a
 * key sealed from before its record was signed, or a run recorded before outcomes were bound into its entry).
 */
export function keyMade(store: Store, audit: AuditService, keyId: string): KeyMade | null {
  const key = store.get<{ proposal_id: string | null }>(sql`SELECT proposal_id FROM keys WHERE id = ${keyId}`);
  const proposal = key?.proposal_id;
  if (!proposal) return null;
  const run = [...RUN_ACTIONS]
    .flatMap((action) => signedEntries(store, audit, { action, object: `proposal:${proposal}` }))
    .sort((a, b) => a.seq - b.seq)[0];
  const row = store.get<{ body: string; fingerprint: string; outcome: string | null }>(
    sql`SELECT body, fingerprint, outcome FROM proposals WHERE id = ${proposal}`,
  );
  if (!run || !row?.outcome) return null;
  try {
    const { action } = JSON.parse(row.body) as { action: string };
    if (run.params !== sha256Hex(canonicalJson(runParams(action, row.fingerprint, row.outcome)))) return null;
    const names = keysRecorded(action, JSON.parse(row.outcome)).some((k) => k.keyId === keyId);
    return names ? { seq: run.seq, proposal, action, fingerprint: row.fingerprint, outcome: row.outcome } : null;
  } catch {
    // A body or outcome a database writer made unreadable binds nothing (its entry's hash fails wherever it is read).
    return null;
  }
}
