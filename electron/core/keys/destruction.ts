import pkcs11js from 'pkcs11js';
import { KeyParams, ScheduleParams } from '../../../shared/actions';
import type { KeyCopy } from '../../../shared/backups';
import { objectsInWords } from '../../../shared/key-lifecycle';
import type { PartialDestruction } from '../../../shared/keys';
import type { TokenRef } from '../../../shared/tokens';
import type { AuditService } from '../audit/audit-service';
import { signedEntries } from '../audit/signed-entries';
import { CustosError } from '../errors';
import { destroyed, everyObject } from '../hsm/find-objects';
import type { Store } from '../store/database';
import { refuseTampered, signState, stateDocument, stateVerdict, type SignedColumns } from '../store/signed-state';
import { sql } from '../store/sql';
import { NEEDS_LOGIN, PartlyCarriedOut, type DecidedBy, type QuorumReconciler } from '../quorum/quorum-service';
import { refuseKeyChange } from './key-change';
import { publicKeySpki } from './key-generation';
import type { KeyAction, KeyInventory } from './key-inventory';

interface Schedule extends SignedColumns {
  id: number;
  key_id: string;
  proposal_id: string;
  scheduled_at: string;
  not_before: string;
  state: string;
  closed_at: string | null;
  closed_by_proposal: string | null;
  proof: string | null;
}

/**
 * The key's waiting destruction, as the audit key signed it in the latest state the log recorded
 * (the executions that scheduled and closed it): a shortened waiting period, a schedule moved to
 * another key or a cancelled one put back is refused (DESTRUCTION_TAMPERED) and recorded.
 */
export function verifiedSchedule(store: Store, audit: AuditService, keyId: string): Schedule | undefined {
  const row = store.get<Schedule>(
    sql`SELECT * FROM destruction_schedules WHERE key_id = ${keyId} AND state = 'waiting'`,
  );
  return row && verified(store, audit, row, `The stored destruction schedule of key ${keyId}`);
}

/** The row, if the audit key signed it in the latest state the log recorded for it; else refused and recorded. */
function verified(store: Store, audit: AuditService, row: Schedule, what: string): Schedule {
  const latest = store.get<{ seq: number | null }>(sql`
    SELECT max(seq) AS seq FROM audit_entries
    WHERE result = 'ok' AND ((object IN (${`proposal:${row.proposal_id}`}, ${`proposal:${row.closed_by_proposal ?? ''}`})
      AND action IN ('proposal.execute', 'proposal.reconcile'))
      OR (object = ${`destruction:${row.id}`} AND action IN ('destruction.state.seal', 'destruction.closed')))`)?.seq;
  const verdict = stateVerdict(audit, row, (seq) => scheduleDocument(row, seq), latest, {
    table: 'destruction_schedules',
    id: String(row.id),
  });
  if (verdict === 'authentic') return row;
  return refuseTampered(audit, 'DESTRUCTION_TAMPERED', { type: 'destruction', id: String(row.id) }, what, verdict);
}

/**
 * Refuses (DESTRUCTION_TAMPERED, recorded) when the record heads signed with the latest checkpoint name a schedule
 * whose row is gone, or when any schedule's row is not as the audit key signed it: a waiting destruction deleted,
 * edited to closed (its state) or moved to another key outside Custos would otherwise read as none, and the key could
 * be made active or rotated (Custos deletes none; only a waiting row is read for the key, so every row is checked).
 */
export function refuseTamperedSchedules(store: Store, audit: AuditService): void {
  const rows = store.all<Schedule>(sql`SELECT * FROM destruction_schedules ORDER BY id`);
  const held = new Set(rows.map((r) => String(r.id)));
  const gone = audit.recordsNamed('destruction_schedules').find((id) => !held.has(id));
  if (gone !== undefined)
    refuseTampered(
      audit,
      'DESTRUCTION_TAMPERED',
      { type: 'destruction', id: gone },
      `The destruction schedule ${gone}`,
      'deleted',
    );
  for (const row of rows)
    verified(store, audit, row, `The stored destruction schedule ${row.id} (of key ${row.key_id})`);
}

/** Signs the schedule as it now stands; inside the transaction of the execution that changed it. */
export function signSchedule(store: Store, audit: AuditService, id: number): void {
  const row = store.get<Schedule>(sql`SELECT * FROM destruction_schedules WHERE id = ${id}`)!;
  const { seq, signature } = signState(audit, (at) => scheduleDocument(row, at), {
    table: 'destruction_schedules',
    id: String(id),
  });
  store.execute(sql`UPDATE destruction_schedules SET state_seq = ${seq}, state_sig = ${signature} WHERE id = ${id}`);
}

/** Signs schedules from before they were signed, once (as KeyInventory.sealUnsignedOnce does for keys). */
export function sealUnsignedSchedules(store: Store, audit: AuditService): number {
  const unsigned = store.all<{ id: number; key_id: string; state: string }>(
    sql`SELECT id, key_id, state FROM destruction_schedules WHERE state_sig IS NULL ORDER BY id`,
  );
  if (unsigned.length === 0) return 0;
  audit.log();
  if (audit.installationSetUp()) return 0;
  if (
    store.get(
      sql`SELECT 1 AS yes FROM audit_entries WHERE action IN ('installation.setup', 'destruction.state.seal') LIMIT 1`,
    )
  )
    return 0;
  store.transaction(() => {
    for (const row of unsigned) {
      audit.record(
        {
          actor: { type: 'system', id: 'system' },
          action: 'destruction.state.seal',
          object: { type: 'destruction', id: String(row.id) },
          params: { keyId: row.key_id, state: row.state },
        },
        () => signSchedule(store, audit, row.id),
      );
    }
  });
  return unsigned.length;
}

function scheduleDocument(row: Schedule, seq: number): Buffer {
  return stateDocument(
    'custos/destruction-schedule',
    {
      id: row.id,
      keyId: row.key_id,
      proposalId: row.proposal_id,
      scheduledAt: row.scheduled_at,
      notBefore: row.not_before,
      state: row.state,
      closedAt: row.closed_at,
      closedByProposal: row.closed_by_proposal,
      proof: row.proof,
    },
    seq,
  );
}

/** The destruction ceremony's quorum actions, and the reconciler of a destruction a crash interrupted. */
export function destructionActions(
  store: Store,
  inventory: KeyInventory,
  now: () => Date,
  /** Every place the key lives (tokens, backup sets): a destruction records what became of each. */
  copiesOf: (keyId: string) => KeyCopy[] = () => [],
): { actions: Record<string, KeyAction>; reconcile: QuorumReconciler } {
  // What the key's state allows is the shared rule (keyChangeRefusal), asked when proposed and again when run.
  const scheduleReady = (params: unknown, token: TokenRef) => {
    const { keyId, waitDays } = ScheduleParams.parse(params);
    refuseKeyChange(inventory.checkToken(keyId, token), 'key.schedule-destruction');
    return { keyId, waitDays };
  };
  const cancelReady = (params: unknown, token: TokenRef) => {
    const { keyId } = KeyParams.parse(params);
    refuseKeyChange(inventory.checkToken(keyId, token), 'key.cancel-destruction');
    // The rule refused a key with no waiting schedule: the key's destructionNotBefore is this schedule's.
    return { keyId, schedule: inventory.waitingSchedule(keyId)! };
  };
  const destroyReady = (params: unknown, token: TokenRef) => {
    const { keyId } = KeyParams.parse(params);
    const key = inventory.checkToken(keyId, token);
    const schedule = inventory.waitingSchedule(keyId);
    // Read after the key, whose destructionDue the rule reads: due then is due now.
    const at = now();
    if (schedule && at.toISOString() < schedule.scheduled_at) {
      throw new CustosError(
        'CLOCK_BACKWARDS',
        `The clock reads earlier than when the destruction was scheduled (${schedule.scheduled_at}): it went backwards. Nothing was destroyed.`,
        ['Check the computer’s clock against a trusted source before going on.'],
      );
    }
    refuseKeyChange(key, 'key.destroy');
    return { keyId, schedule: schedule!, at };
  };

  const actions: Record<string, KeyAction> = {
    'key.schedule-destruction': {
      ready: scheduleReady,
      run: ({ params, proposalId, token }) => {
        const { keyId, waitDays } = scheduleReady(params, token);
        const at = now();
        const notBefore = new Date(at.getTime() + waitDays * 86_400_000).toISOString();
        return {
          result: { keyId, notBefore, waitDays, copies: copiesOf(keyId) },
          commit: () => scheduleDestruction(store, inventory, { keyId, proposalId, at, notBefore }),
        };
      },
    },

    'key.cancel-destruction': {
      ready: cancelReady,
      run: ({ params, proposalId, token }) => {
        const { keyId, schedule } = cancelReady(params, token);
        return {
          result: { keyId, cancelled: true },
          commit: () => {
            store.execute(
              sql`UPDATE destruction_schedules SET state = 'cancelled', closed_at = ${now().toISOString()}, closed_by_proposal = ${proposalId} WHERE id = ${schedule.id}`,
            );
            inventory.signClosedSchedule(schedule.id);
          },
        };
      },
    },

    /**
     * After the wait: destroys every object carrying the key's CKA_ID, then searches again and
     * records that none of the key's objects is left — the proof of absence. Only a private or secret
     * half made with the user PIN (CKA_PRIVATE) shows the key was here: a token holding none proves
     * nothing (another token, the key already gone, objects anyone could plant without the PIN) and
     * is refused, never certified.
     */
    'key.destroy': {
      ready: destroyReady,
      run: ({ session, lib, params, proposalId, token, decidedBy }) => {
        const ready = destroyReady(params, token);
        const found = keyObjects(lib, session, recorded(inventory, ready.keyId));
        // A destruction cut short has already destroyed the key's half: what it left is destroyed now.
        if (found.halves.length === 0 && !inventory.get(ready.keyId).partlyDestroyed) throw noHalf(token, found);
        return destroyAndRecord(lib, session, ready, { proposalId, decidedBy }, found, token);
      },
    },
  };

  /** Destroys the objects found, proves that none is left, and returns the record to commit. */
  function destroyAndRecord(
    lib: pkcs11js.PKCS11,
    session: Buffer,
    ready: ReturnType<typeof destroyReady>,
    { proposalId, decidedBy }: { proposalId: string; decidedBy: DecidedBy },
    found: KeyObjects,
    token: TokenRef,
    reconciled = false,
  ) {
    const { keyId, schedule, at } = ready;
    const earlier = inventory.get(keyId).partlyDestroyed;
    if (found.halves.length > 0)
      inventory.journalDestruction(proposalId, { keyId, token, halves: found.halves.length });
    destroyKeyObjects(lib, session, found, { keyId, proposalId, at, earlier });
    // An object planted under the id may be made CKA_DESTROYABLE false: it is not the key, so it cannot block the
    // key's destruction; it is named in the proof as left.
    const othersDestroyed = found.others.filter((handle) => destroyed(lib, session, handle)).length;
    const after = keyObjects(lib, session, recorded(inventory, keyId));
    const remaining = after.halves.length + after.publics.length;
    if (remaining !== 0)
      throw new CustosError(
        'TOKEN_ERROR',
        `${remaining} object(s) of the key are still in the token after destruction.`,
      );
    const objectsDestroyed = found.halves.length + found.publics.length;
    // The destruction record names who decided it: the certificate an auditor reads (issue 6 reports it).
    // As the quorum proves them (the fingerprinted body, the signed approvals), not the tables beside them.
    const { proposedBy, approvedBy } = decidedBy;
    const proof = {
      // After an interruption, objects destroyed before it cannot be counted: null says so.
      objectsDestroyed: reconciled && found.halves.length === 0 ? null : objectsDestroyed,
      searchedFor: `CKA_ID=${keyId}`,
      remaining,
      // Objects under the id that are not the key (no PIN made them): counted apart, never as its copies.
      ...(found.others.length ? { othersDestroyed, othersLeft: after.others.length } : {}),
      checkedAt: at.toISOString(),
      proposal: proposalId,
      proposedBy,
      approvedBy,
      scheduledBy: schedule.proposal_id,
      ...(reconciled ? { reconciled: true } : {}),
      // The destruction cut short that this one finishes, and what it had destroyed.
      ...(earlier ? { finishes: { proposal: earlier.proposalId, destroyed: earlier.destroyed } } : {}),
      copies: copiesOf(keyId).map((copy) => ({ copy, fate: fateOf(copy, token, keyId, after.others.length) })),
    };
    return {
      result: { keyId, ...proof },
      commit: () => {
        // The key's entry first: the schedule is then signed with the seq of this execution's entry.
        inventory.markDestroyed(keyId, proof);
        store.execute(
          sql`UPDATE destruction_schedules SET state = 'destroyed', closed_at = ${at.toISOString()}, closed_by_proposal = ${proposalId}, proof = ${JSON.stringify(proof)} WHERE id = ${schedule.id}`,
        );
        inventory.signClosedSchedule(schedule.id);
      },
    };
  }

  /**
   * After a crash mid-destruction, at a quorum login on the key's token (its secret half shows only
   * then): what is left of the key is destroyed as approved, and its absence proven and recorded. A token with no half
   * of the key is certified only when the log shows this destruction found one there before it destroyed anything (the
   * crash came after the token let it go); otherwise it proves nothing, as in the run, and is refused.
   */
  const reconcile: QuorumReconciler = ({ session, lib, params, proposalId, token, loggedIn, decidedBy }) => {
    if (!loggedIn) return NEEDS_LOGIN;
    const ready = destroyReady(params, token);
    const found = keyObjects(lib, session, recorded(inventory, ready.keyId));
    const begun = inventory.destructionJournaled(proposalId) || inventory.get(ready.keyId).partlyDestroyed !== null;
    if (found.halves.length === 0 && !begun) throw noHalf(token, found);
    return destroyAndRecord(lib, session, ready, { proposalId, decidedBy }, found, token, true);
  };

  /**
   * Destroys the key's halves, then its public objects. When the token fails after destroying some (pulled out, an
   * error), the key is not left looking whole: the failure records, signed with the key, which objects went and which
   * remain (with what an earlier destruction cut short had destroyed), and a new destruction finishes the job.
   */
  function destroyKeyObjects(
    lib: pkcs11js.PKCS11,
    session: Buffer,
    found: KeyObjects,
    run: { keyId: string; proposalId: string; at: Date; earlier: PartialDestruction | null },
  ): void {
    const half = inventory.get(run.keyId).algorithm.startsWith('AES') ? 'secret key' : 'private key';
    const objects = [
      ...found.halves.map((handle) => ({ handle, kind: half })),
      ...found.publics.map((handle) => ({ handle, kind: 'public key' })),
    ];
    const gone: string[] = [];
    for (const { handle, kind } of objects) {
      try {
        lib.C_DestroyObject(session, handle);
      } catch (error) {
        if (gone.length === 0) throw error;
        const partial: PartialDestruction = {
          proposalId: run.proposalId,
          at: run.at.toISOString(),
          destroyed: [...(run.earlier?.destroyed ?? []), ...gone],
          remaining: objects.slice(gone.length).map((o) => o.kind),
        };
        throw new PartlyCarriedOut(
          'KEY_PARTLY_DESTROYED',
          `The token failed after destroying part of the key: destroyed ${objectsInWords(partial.destroyed)}; still in the ` +
            `token ${objectsInWords(partial.remaining)}. The key is recorded as partly destroyed: it is never used again, ` +
            'and its destruction can no longer be cancelled.',
          [
            'Put the token back (or fix what failed), then propose key.destroy for this key again: it destroys what is ' +
              'left and proves that nothing of the key remains.',
          ],
          () => inventory.markPartlyDestroyed(run.keyId, partial),
          error,
        );
      }
      gone.push(kind);
    }
  }
  return { actions, reconcile };
}

/** The refusal of a token holding no half of the key: nothing proves the key was there, so nothing is certified. */
function noHalf(token: TokenRef, found: KeyObjects): CustosError {
  const others = found.others.length
    ? ` It holds ${found.others.length} object(s) under the key’s id that anyone can make without the PIN; they were left in place.`
    : '';
  return new CustosError(
    'KEY_OBJECTS_MISSING',
    `Token ${token.label} holds no private or secret half of this key, so its destruction cannot be proven; nothing was recorded as destroyed.${others}`,
    ['Check that the key’s token is the one attached, and tell your security officer.'],
  );
}

/**
 * Journaled after the destruction found the key's halves in its token and before it destroys any: after a crash, only
 * a destruction that recorded it can have removed them, so only then does an empty token prove the key destroyed.
 */
export const DESTRUCTION_DESTROYING = 'key.destroy.destroying';

export function journalDestruction(
  audit: AuditService,
  proposalId: string,
  params: { keyId: string; token: TokenRef; halves: number },
): void {
  audit.record({
    actor: { type: 'system', id: 'system' },
    action: DESTRUCTION_DESTROYING,
    object: { type: 'proposal', id: proposalId },
    params,
  });
}

/** Whether the signed log holds this proposal's DESTRUCTION_DESTROYING step. */
export function destructionJournaled(store: Store, audit: AuditService, proposalId: string): boolean {
  return signedEntries(store, audit, { action: DESTRUCTION_DESTROYING, object: `proposal:${proposalId}` }).length > 0;
}

/**
 * Every object carrying the key's CKA_ID that this (logged-in) session can see, sorted by what it proves. A half of the
 * key is a private or secret key object with CKA_PRIVATE true: only the user PIN makes one (without it, SoftHSM2 still
 * creates a public object or generates a CKA_LOCAL key pair with CKA_PRIVATE false). Its public half is a public key
 * object holding the public key the inventory recorded. Anything else is another object under the id.
 */
interface KeyObjects {
  halves: Buffer[];
  publics: Buffer[];
  others: Buffer[];
}

/** The key as the inventory recorded it: what its objects in a token must match. */
interface RecordedKey {
  id: string;
  algorithm: string;
  spki: Buffer | null;
}

function recorded(inventory: KeyInventory, keyId: string): RecordedKey {
  return { id: keyId, algorithm: inventory.get(keyId).algorithm, spki: inventory.publicKey(keyId) };
}

function keyObjects(lib: pkcs11js.PKCS11, session: Buffer, key: RecordedKey): KeyObjects {
  const id = { type: pkcs11js.CKA_ID, value: Buffer.from(key.id, 'hex') };
  // Every object, however many: anyone can plant more than one search returns, listed ahead of the key's own, and a
  // public half missed was left in the token under a proof that said none remained.
  const find = (...template: pkcs11js.Template) => everyObject(lib, session, [id, ...template]);
  const madeWithPin = { type: pkcs11js.CKA_PRIVATE, value: true };
  const halves = [
    ...find({ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, madeWithPin),
    ...find({ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY }, madeWithPin),
  ];
  const publics =
    key.spki === null
      ? []
      : find({ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }).filter((handle) =>
          publicKeyOf(lib, session, handle, key.algorithm)?.equals(key.spki!),
        );
  const theKeys = [...halves, ...publics];
  const others = find().filter((handle) => !theKeys.some((own) => own.equals(handle)));
  return { halves, publics, others };
}

/** The public key object's key as SPKI DER, or null when its attributes make none of that algorithm. */
function publicKeyOf(lib: pkcs11js.PKCS11, session: Buffer, handle: Buffer, algorithm: string): Buffer | null {
  try {
    return publicKeySpki(lib, session, handle, algorithm);
  } catch {
    return null;
  }
}

/** What this destruction did to one copy: the token searched is proven empty; anywhere else is named as it stands. */
function fateOf(copy: KeyCopy, token: TokenRef, keyId: string, othersLeft: number): string {
  if (copy.kind === 'backup')
    return copy.retiredAt
      ? `set retired ${copy.retiredAt.slice(0, 10)}, it can no longer be restored`
      : 'STILL HOLDING A COPY: the set can still be restored (retire it with backup.retire)';
  if (copy.serial === token.serial && copy.label === token.label)
    return othersLeft === 0
      ? `destroyed, a search for CKA_ID=${keyId} found no object left`
      : `destroyed, a search for CKA_ID=${keyId} found none of the key's objects left (${othersLeft} other object(s) ` +
          'under its id, which need no PIN to make and which the token would not destroy, are not the key)';
  return 'NOT searched by this ceremony: the token may still hold a copy';
}

/** A waiting destruction, signed inside the transaction of the execution entry that made it. */
export function scheduleDestruction(
  store: Store,
  inventory: KeyInventory,
  s: { keyId: string; proposalId: string; at: Date; notBefore: string },
): void {
  const { lastInsertRowid } = store.execute(
    sql`INSERT INTO destruction_schedules (key_id, proposal_id, scheduled_at, not_before, state) VALUES (${s.keyId}, ${s.proposalId}, ${s.at.toISOString()}, ${s.notBefore}, ${'waiting'})`,
  );
  inventory.signSchedule(Number(lastInsertRowid));
}
