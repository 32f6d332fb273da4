import { createHash, createPublicKey } from 'node:crypto';
import type { AuditActor } from '../../../shared/audit';
import { destructionDueAt, TRANSITION_CHANGE, TRANSITIONS, type KeyTransition } from '../../../shared/key-lifecycle';
import { PartialDestruction, type KeyRecord, type KeyState } from '../../../shared/keys';
import { readable, UNREADABLE_MESSAGE } from '../../../shared/pki';
import type { TokenRef } from '../../../shared/tokens';
import type { AuditService } from '../audit/audit-service';
import { CustosError } from '../errors';
import type { Need } from '../hsm/capabilities';
import type { QuorumOperation } from '../quorum/quorum-service';
import type { Store } from '../store/database';
import { refuseTampered, signState, stateDocument, stateVerdict, type SignedColumns } from '../store/signed-state';
import { sql } from '../store/sql';
import {
  destructionJournaled,
  journalDestruction,
  refuseTamperedSchedules,
  sealUnsignedSchedules,
  signSchedule,
  verifiedSchedule,
} from './destruction';
import { refuseKeyChange } from './key-change';
import { recordedKeys } from './recorded-keys';
import { policyVerdict, rotationDate } from './algorithm-policy';

/** A quorum action on a key: what must hold (checked when proposed and again when run), and the run. */
export interface KeyAction {
  ready(params: unknown, token: TokenRef): void;
  run: QuorumOperation;
  /** What it needs from the token (mechanisms, attributes), checked when proposed. */
  needs?(params: unknown): Need[];
}

/** What a backup manifest says about a key: enough to add it to an inventory that never saw it. */
export interface RestoredKey {
  id: string;
  label: string;
  algorithm: string;
  usage: string;
  backupable: boolean;
  state: string;
  createdAt: string;
  cryptoperiodDays: number;
  expiresAt: string;
  kcv: string | null;
  publicKey: string | null;
  fingerprint: string;
}

/**
 * What the fingerprint column holds for a key without a public key. Read back as null ("none"),
 * as is any value rows from before it hold (then the SHA-256 of the CKA_ID text, which identified nothing).
 */
export const NO_FINGERPRINT = 'none';

/** The SP 800-57 transitions live in shared/ so the Keys screen offers exactly what check() allows. */
export { TRANSITIONS, type KeyTransition };
/** The states a key may be marked compromised from. */
export const COMPROMISED_FROM: readonly KeyState[] = TRANSITIONS.compromise.from;

export class KeyInventory {
  constructor(
    private readonly store: Store,
    private readonly audit: AuditService,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /**
   * Every key, each as the audit key signed it. A key the signed log records but the table no longer holds (its row
   * deleted outside Custos) refuses the list (KEY_TAMPERED, recorded) rather than leave it out unseen.
   */
  list(): KeyRecord[] {
    const ids = this.store.all<{ id: string }>(sql`SELECT id FROM keys ORDER BY created_at DESC`).map(({ id }) => id);
    this.refuseDeleted(new Set(ids));
    refuseTamperedSchedules(this.store, this.audit);
    return ids.map((id) => this.record(id));
  }

  /**
   * The keys the table places on one token, each as the audit key signed it (KEY_TAMPERED, recorded, for any that is
   * not), for a check about that token's keys alone: another token's tampered record does not refuse it. A row whose
   * token a database writer changed is refused from the token it now names; a deleted row names no token, so it
   * refuses this list as it does every other. Each key's waiting destruction is its own schedule, verified; a schedule
   * deleted outside Custos is found where every schedule is read (list, get).
   */
  onToken(token: TokenRef): KeyRecord[] {
    const all = this.store.all<{ id: string }>(sql`SELECT id FROM keys`).map(({ id }) => id);
    this.refuseDeleted(new Set(all));
    return this.store
      .all<{ id: string }>(
        sql`SELECT id FROM keys WHERE token_serial = ${token.serial} AND token_label = ${token.label}
            ORDER BY created_at DESC`,
      )
      .map(({ id }) => this.record(id));
  }

  get(id: string): KeyRecord {
    refuseTamperedSchedules(this.store, this.audit);
    return this.record(id);
  }

  /** The key as signed, its waiting destruction included (a deleted schedule is refused by the caller). */
  private record(id: string): KeyRecord {
    const row = this.row(id);
    const notBefore = verifiedSchedule(this.store, this.audit, id)?.not_before ?? null;
    return {
      id: row.id,
      label: row.label,
      algorithm: row.algorithm,
      usage: row.usage,
      backupable: row.backupable === 1,
      state: row.state,
      token: { serial: row.token_serial, label: row.token_label },
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      fingerprint: row.public_key ? row.fingerprint : null,
      kcv: row.kcv,
      policy: policyVerdict(row.algorithm as Parameters<typeof policyVerdict>[0], this.clock()),
      destructionNotBefore: notBefore,
      destructionDue: notBefore !== null && destructionDueAt(notBefore, this.clock()),
      compromiseReason: row.compromise_reason,
      family: row.family ?? row.id,
      version: row.version ?? 1,
      previous: row.previous,
      rotatedTo: row.rotated_to,
      rotateBy: RETIRED.includes(row.state) ? null : rotationDate(row.algorithm, row.expires_at),
      usagePeriodEnded: Date.parse(row.expires_at) <= this.clock().getTime(),
      postOperational: row.post_operational,
      partlyDestroyed:
        row.partly_destroyed === null ? null : PartialDestruction.parse(JSON.parse(row.partly_destroyed)),
    };
  }

  /** The key's cryptoperiod in days, as generated (a successor gets the same). */
  cryptoperiodDays(id: string): number {
    return this.row(id).cryptoperiod_days;
  }

  /**
   * The old key of a rotation (SP 800-57 deactivated: it may still process, never apply protection),
   * recorded with its successor and with how that holds: 'token' when the token itself now refuses
   * it sign/encrypt/wrap, 'custos' when the token would not change the key. Runs inside the commit of
   * the rotation's execution, its entry before the execution's.
   */
  markRotated(
    id: string,
    successorId: string,
    postOperational: 'token' | 'custos',
    detail: Record<string, unknown>,
  ): void {
    const key = this.get(id);
    // A rotation settled after a crash may find the key marked compromised meanwhile: it stays so (SP 800-57).
    const to: KeyState = key.state === 'compromised' ? 'compromised' : 'deactivated';
    this.audit.record(
      {
        actor: SYSTEM,
        action: 'key.rotate',
        object: { type: 'key', id },
        params: { from: key.state, to, successor: successorId, postOperational, ...detail },
      },
      () =>
        this.changeState(id, () =>
          this.store.execute(
            sql`UPDATE keys SET state = ${to}, rotated_to = ${successorId}, post_operational = ${postOperational} WHERE id = ${id}`,
          ),
        ),
    );
  }

  /** The public key as PEM or JWK; a symmetric key has none to give. */
  exportPublic(id: string, format: 'pem' | 'jwk'): string {
    const row = this.row(id);
    if (!row.public_key) {
      const identity = row.kcv
        ? `its check value ${row.kcv} identifies it`
        : 'and the token could compute no check value for it';
      throw new CustosError('KEY_TYPE_UNSUITED', `A symmetric key has no public part to export; ${identity}.`, [
        'Export the public key of a key pair (RSA, EC or Ed25519).',
      ]);
    }
    const key = createPublicKey({ key: row.public_key, format: 'der', type: 'spki' });
    return format === 'pem'
      ? key.export({ format: 'pem', type: 'spki' }).toString()
      : JSON.stringify({ ...key.export({ format: 'jwk' }), kid: id });
  }

  /**
   * Moves a key to a new state if SP 800-57 allows it from where it is, and only by the right
   * authority; recorded in the same transaction. The quorum path calls this from its operation.
   * A compromise needs its reason (SP 800-57 §5.3.4), kept on the key and bound into the entry's params.
   */
  transition(
    id: string,
    transition: KeyTransition,
    by: 'quorum' | 'security-officer',
    actor: AuditActor,
    reason?: string,
  ): KeyRecord {
    const why = transition === 'compromise' ? compromiseReason(reason) : null;
    const { rule, key } = this.check(id, transition, by);
    const params = { from: key.state, to: rule.to, ...(why === null ? {} : { reason: why }) };
    this.audit.record({ actor, action: `key.${transition}`, object: { type: 'key', id }, params }, () =>
      this.changeState(id, () =>
        this.store.execute(
          why === null
            ? sql`UPDATE keys SET state = ${rule.to} WHERE id = ${id}`
            : sql`UPDATE keys SET state = ${rule.to}, compromise_reason = ${why} WHERE id = ${id}`,
        ),
      ),
    );
    return this.get(id);
  }

  /** The end of the destruction ceremony: the key's objects are gone from the token (proof attached). */
  markDestroyed(id: string, proof: Record<string, unknown>): void {
    const key = this.get(id);
    this.audit.record(
      {
        actor: { type: 'system', id: 'system' },
        action: 'key.destroyed',
        object: { type: 'key', id },
        params: { from: key.state, proof },
      },
      () => this.changeState(id, () => this.store.execute(sql`UPDATE keys SET state = 'destroyed' WHERE id = ${id}`)),
    );
  }

  /**
   * A destruction that failed after the token destroyed some of the key's objects: which went and which remain, signed
   * with the key in the transaction of the failed execution's entry. The key keeps its SP 800-57 state (no state means
   * "half destroyed"); its waiting destruction stays, so nothing uses it, and it can no longer be cancelled.
   */
  markPartlyDestroyed(id: string, partial: PartialDestruction): void {
    const key = this.get(id);
    this.audit.record(
      {
        actor: SYSTEM,
        action: 'key.destroy.partial',
        object: { type: 'key', id },
        params: { state: key.state, ...partial },
      },
      () =>
        this.changeState(id, () =>
          this.store.execute(sql`UPDATE keys SET partly_destroyed = ${JSON.stringify(partial)} WHERE id = ${id}`),
        ),
    );
  }

  /**
   * A key unwrapped from a backup into a token, proven identical. A key the inventory knows moves
   * to that token in the state it had; one it does not know is added as the manifest describes it.
   * A destroyed key (restored only by the quorum's explicit override) comes back suspended, so a
   * second decision is needed before it is used. `kcv` is the check value the restore measured in the token (an AES
   * key's, whatever its usage; null for a key pair), recorded in place of the manifest's: a set of a wrap or sign key
   * may record none, and the run's outcome names the measured one.
   */
  registerRestored(
    key: RestoredKey,
    where: { token: { serial: string; label: string }; custodyId: string; proposalId: string; setId: string },
    kcv: string | null,
  ): void {
    const existing = this.known(key.id) ? this.row(key.id) : undefined;
    const was = existing?.state ?? (key.state as KeyState);
    const state: KeyState = was === 'destroyed' ? 'suspended' : was;
    this.audit.record(
      {
        actor: { type: 'system', id: 'system' },
        action: 'key.restored',
        object: { type: 'key', id: key.id },
        params: { setId: where.setId, token: where.token, from: existing?.state ?? null, to: state },
      },
      () => {
        if (existing) {
          this.store.execute(sql`
            UPDATE keys SET token_serial = ${where.token.serial}, token_label = ${where.token.label},
              custody_id = ${where.custodyId}, state = ${state}, kcv = ${kcv ?? existing.kcv}
            WHERE id = ${key.id}`);
          this.signState(key.id);
          return;
        }
        const publicKey = key.publicKey ? Buffer.from(key.publicKey, 'base64') : null;
        this.store.execute(sql`
          INSERT INTO keys (id, custody_id, token_serial, token_label, label, algorithm, usage, backupable, state,
                            created_at, cryptoperiod_days, expires_at, public_key, kcv, fingerprint, proposal_id)
          VALUES (${key.id}, ${where.custodyId}, ${where.token.serial}, ${where.token.label}, ${key.label},
                  ${key.algorithm}, ${key.usage}, ${key.backupable ? 1 : 0}, ${state}, ${key.createdAt},
                  ${key.cryptoperiodDays}, ${key.expiresAt}, ${publicKey}, ${kcv}, ${key.fingerprint},
                  ${where.proposalId})`);
        this.signState(key.id);
      },
    );
  }

  /**
   * Whether the inventory holds this key: false only for one the signed log never recorded. A key whose row was deleted
   * outside Custos is refused (KEY_TAMPERED), so no check reads it as unknown: a backup set or a transport package
   * could otherwise bring another key in under its id.
   */
  known(id: string): boolean {
    if (this.store.get(sql`SELECT 1 AS yes FROM keys WHERE id = ${id}`)) return true;
    if (recordedKeys(this.store, this.audit, KEY_ENTRIES).ids.has(id))
      refuseTampered(this.audit, 'KEY_TAMPERED', { type: 'key', id }, `The record of key ${id}`, 'deleted');
    return false;
  }

  /** Whether the inventory records this key in that token (false for a key it does not know). */
  livesIn(id: string, token: TokenRef): boolean {
    if (!this.known(id)) return false;
    const key = this.get(id);
    return key.token.serial === token.serial && key.token.label === token.label;
  }

  /** The stored public key (SPKI DER); null for a secret key, or one the inventory does not know. */
  publicKey(id: string): Buffer | null {
    return this.known(id) ? this.row(id).public_key : null;
  }

  /**
   * Signs the key's row as it now stands. Must run inside the transaction of the audit entry that
   * records the change (a transition, the generation's execution, a restore): that entry is the next seq.
   */
  signState(id: string): void {
    const row = this.store.get<KeyRow>(sql`SELECT * FROM keys WHERE id = ${id}`)!;
    const { seq, signature } = signState(this.audit, (at) => keyDocument(row, at), { table: 'keys', id });
    this.store.execute(sql`UPDATE keys SET state_seq = ${seq}, state_sig = ${signature} WHERE id = ${id}`);
  }

  /**
   * Signs keys from before their state was signed, once: only while neither the audit token says the installation
   * was set up nor the log shows a setup or an earlier sealing, so a row a database writer adds or strips of its
   * signature later is refused, never signed. Returns how many were signed.
   */
  sealUnsignedOnce(): number {
    const unsigned = this.store.all<{ id: string; label: string; state: string }>(
      sql`SELECT id, label, state FROM keys WHERE state_sig IS NULL ORDER BY created_at`,
    );
    if (unsigned.length === 0) return 0;
    this.audit.log();
    // The token's marker first: the log's rows could have been edited to hide the setup and the earlier sealing.
    if (this.audit.installationSetUp()) return 0;
    if (
      this.store.get(
        sql`SELECT 1 AS yes FROM audit_entries WHERE action IN ('installation.setup', 'key.state.seal') LIMIT 1`,
      )
    )
      return 0;
    this.store.transaction(() => {
      for (const row of unsigned) {
        this.audit.record(
          {
            actor: SYSTEM,
            action: 'key.state.seal',
            object: { type: 'key', id: row.id },
            params: { label: row.label, state: row.state },
          },
          () => this.signState(row.id),
        );
      }
    });
    return unsigned.length;
  }

  /** Keys and destruction schedules from before their state was signed, signed once; how many. */
  sealUnsigned(): number {
    return this.sealUnsignedOnce() + sealUnsignedSchedules(this.store, this.audit);
  }

  /** The key's waiting destruction schedule, verified (DESTRUCTION_TAMPERED if a database writer changed it). */
  waitingSchedule(keyId: string) {
    refuseTamperedSchedules(this.store, this.audit);
    return verifiedSchedule(this.store, this.audit, keyId);
  }

  /** Journals that a destruction found the key's halves in its token, before it destroys any (destruction.ts). */
  journalDestruction(proposalId: string, params: { keyId: string; token: TokenRef; halves: number }): void {
    journalDestruction(this.audit, proposalId, params);
  }

  /** Whether the signed log shows this destruction found the key's halves before a crash interrupted it. */
  destructionJournaled(proposalId: string): boolean {
    return destructionJournaled(this.store, this.audit, proposalId);
  }

  /** Signs a destruction schedule inside the transaction of the execution entry that changed it. */
  signSchedule(id: number): void {
    signSchedule(this.store, this.audit, id);
  }

  /**
   * Objects anyone could create with no PIN (CKA_PRIVATE false) that a generation found under its new key's id before
   * it made the key: how many it destroyed and how many the token would not let go. Recorded at once, whatever the
   * generation then does, as a restore records those it removes (backup.restore.planted-removed).
   */
  recordPlantedRemoved(proposalId: string, planted: { keyId: string; token: TokenRef; removed: number; left: number }) {
    this.audit.record({
      actor: SYSTEM,
      action: GENERATE_PLANTED_REMOVED,
      object: { type: 'proposal', id: proposalId },
      params: planted,
    });
  }

  /**
   * Signs a schedule an execution closed (cancelled, destroyed) after an entry of its own for it: a copy of the row as
   * it waited, put back by a database writer, is then an older state than the log shows for that schedule.
   */
  signClosedSchedule(id: number): void {
    const row = this.store.get<{ state: string; closed_by_proposal: string | null }>(
      sql`SELECT state, closed_by_proposal FROM destruction_schedules WHERE id = ${id}`,
    )!;
    this.audit.record({
      actor: SYSTEM,
      action: 'destruction.closed',
      object: { type: 'destruction', id: String(id) },
      params: { state: row.state, proposal: row.closed_by_proposal },
    });
    signSchedule(this.store, this.audit, id);
  }

  /**
   * Refuses (KEY_TAMPERED, recorded) when the signed log records a key these ids leave out; PROPOSAL_TAMPERED when a
   * carried-out run's record is gone, so which keys it made cannot be told.
   */
  private refuseDeleted(held: Set<string>): void {
    const recorded = recordedKeys(this.store, this.audit, KEY_ENTRIES);
    const gone = [...recorded.ids].find((id) => !held.has(id));
    if (gone !== undefined)
      refuseTampered(this.audit, 'KEY_TAMPERED', { type: 'key', id: gone }, `The record of key ${gone}`, 'deleted');
    const [lost] = recorded.unaccounted;
    if (lost === undefined) return;
    refuseTampered(
      this.audit,
      'PROPOSAL_TAMPERED',
      { type: 'proposal', id: lost },
      `The record of proposal ${lost}, which the audit log shows carried out and which names the keys it made,`,
      'deleted',
    );
  }

  private changeState(id: string, change: () => void): void {
    change();
    this.signState(id);
  }

  /**
   * The key's row as the audit key signed it, in the latest state the log recorded for it: its own
   * entries (transitions, destruction, restore, sealing), else the execution that generated it.
   * A state or token a database writer set is refused (KEY_TAMPERED) and recorded.
   */
  private row(id: string): KeyRow {
    const row = this.store.get<KeyRow>(sql`SELECT * FROM keys WHERE id = ${id}`);
    if (!row) {
      this.known(id); // refused if the log records it (its row was deleted); otherwise it is unknown
      throw new CustosError('KEY_NOT_FOUND', `There is no key ${id} in the inventory.`, [
        'Check the key id against the key list (custos key list, or the Keys screen).',
      ]);
    }
    const latest = this.store.get<{ seq: number | null }>(sql`
      SELECT coalesce(
        (SELECT max(seq) FROM audit_entries WHERE object = ${`key:${id}`} AND result = 'ok' AND action IN (${KEY_ENTRY_SQL})),
        (SELECT max(seq) FROM audit_entries WHERE object = ${`proposal:${row.proposal_id}`} AND result = 'ok' AND action IN ('proposal.execute', 'proposal.reconcile'))
      ) AS seq`)?.seq;
    const verdict = stateVerdict(this.audit, row, (seq) => keyDocument(row, seq), latest, { table: 'keys', id });
    if (verdict === 'authentic') return row;
    return refuseTampered(this.audit, 'KEY_TAMPERED', { type: 'key', id }, `The stored record of key ${id}`, verdict);
  }

  /**
   * Throws KEY_WRONG_TOKEN unless the key lives in the given token: a custody's quorum (or an
   * officer at a token) has authority over that token's keys only.
   */
  checkToken(id: string, token: TokenRef): KeyRecord {
    const key = this.get(id);
    if (key.token.serial !== token.serial || key.token.label !== token.label) {
      const where = `token ${key.token.label} (serial ${key.token.serial})`;
      throw new CustosError(
        'KEY_WRONG_TOKEN',
        `“${key.label}” lives in ${where}, not in ${token.label} (serial ${token.serial}).`,
        ['Propose it to the custodians of the token that holds the key.'],
      );
    }
    return key;
  }

  /** Throws why the transition is not allowed now (keyChangeRefusal); the quorum checks before work is spent. */
  check(id: string, transition: KeyTransition, by: 'quorum' | 'security-officer') {
    const rule = TRANSITIONS[transition];
    const key = this.get(id);
    if (rule.by !== by)
      throw new CustosError(
        'NOT_AUTHORIZED',
        `To ${transition} a key takes ${rule.by === 'quorum' ? 'a quorum of custodians' : 'a security officer'}.`,
      );
    refuseKeyChange(key, TRANSITION_CHANGE[transition]);
    return { rule, key };
  }
}

const SYSTEM = { type: 'system', id: 'system' } as const;

/** Recorded when a generation destroyed objects planted under the new key's id with no PIN (or found them left). */
export const GENERATE_PLANTED_REMOVED = 'key.generate.planted-removed';
/** States in which a key applies no protection any more, so it has no rotation date. */
const RETIRED: readonly KeyState[] = ['deactivated', 'compromised', 'destroyed'];

/** The officer's reason, trimmed: 1 to 500 characters (as the IPC schema says; the core holds every caller to it). */
function compromiseReason(reason: string | undefined): string {
  const why = reason?.trim() ?? '';
  if (why.length >= 1 && why.length <= 500 && readable(why)) return why;
  throw new CustosError(
    'REASON_REQUIRED',
    `Say why the key is compromised (1 to 500 characters, ${UNREADABLE_MESSAGE}); nothing was changed.`,
    ['Give the reason relying parties will read in the revocation notice: what was exposed, how it was found.'],
  );
}

interface KeyRow extends SignedColumns {
  id: string;
  custody_id: string;
  token_serial: string;
  token_label: string;
  label: string;
  algorithm: string;
  usage: string;
  backupable: number;
  state: KeyState;
  created_at: string;
  cryptoperiod_days: number;
  expires_at: string;
  public_key: Buffer | null;
  kcv: string | null;
  fingerprint: string;
  proposal_id: string;
  compromise_reason: string | null;
  family: string | null;
  version: number | null;
  previous: string | null;
  rotated_to: string | null;
  post_operational: 'token' | 'custos' | null;
  partly_destroyed: string | null;
}

/** The audit entries, with the key as their object, that change its row (and are signed with it). */
const KEY_ENTRIES = [
  'key.activate',
  'key.deactivate',
  'key.reactivate',
  'key.suspend',
  'key.compromise',
  'key.destroyed',
  'key.restored',
  'key.state.seal',
  'key.rotate',
  'key.destroy.partial',
];
const KEY_ENTRY_SQL = { text: KEY_ENTRIES.map(() => '?').join(', '), params: KEY_ENTRIES };

/** What the audit key signs: every column, the public key by its digest. */
function keyDocument(row: KeyRow, seq: number): Buffer {
  return stateDocument(
    'custos/key-state',
    {
      id: row.id,
      custodyId: row.custody_id,
      tokenSerial: row.token_serial,
      tokenLabel: row.token_label,
      label: row.label,
      algorithm: row.algorithm,
      usage: row.usage,
      backupable: row.backupable,
      state: row.state,
      createdAt: row.created_at,
      cryptoperiodDays: row.cryptoperiod_days,
      expiresAt: row.expires_at,
      publicKey: row.public_key === null ? null : createHash('sha256').update(row.public_key).digest('hex'),
      kcv: row.kcv,
      fingerprint: row.fingerprint,
      proposalId: row.proposal_id,
      // Left out while null, so records signed before the column existed keep their signatures.
      ...(row.compromise_reason === null ? {} : { compromiseReason: row.compromise_reason }),
      // Rotation's columns only where set: records signed before key families keep their signatures.
      ...lineage(row),
      ...(row.partly_destroyed === null ? {} : { partlyDestroyed: row.partly_destroyed }),
    },
    seq,
  );
}

function lineage(row: KeyRow): Record<string, unknown> {
  const fields = {
    family: row.family,
    version: row.version,
    previous: row.previous,
    rotatedTo: row.rotated_to,
    postOperational: row.post_operational,
  };
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== null));
}
