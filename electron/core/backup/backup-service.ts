import { createHash, randomBytes } from 'node:crypto';
import type pkcs11js from 'pkcs11js';
import { combine, split } from 'shamir-secret-sharing';
import type { AuditActor } from '../../../shared/audit';
import type { AuditService } from '../audit/audit-service';
import { retiredError, type CustodianService } from '../custodians/custodian-service';
import { CustosError, isCustosError } from '../errors';
import type { Need } from '../hsm/capabilities';
import type { TokenModule } from '../hsm/token-module';
import {
  LeftUnsettled,
  type CeremonyOperation,
  type QuorumReconciler,
  type QuorumService,
} from '../quorum/quorum-service';
import { refusalName } from '../hsm/pkcs11-errors';
import type { ProposalView } from '../../../shared/quorum';
import { HeldSecrets } from '../held-secrets/held-secrets';
import { KeyUsage } from '../../../shared/keys';
import type { BackupSummary, KeyCopy, PrintableCard as WirePrintableCard } from '../../../shared/backups';
import type { PracticeSet } from '../../../shared/rehearsals';
import type { TokenRef } from '../../../shared/tokens';
import { generateInToken, shapeDifferences } from '../keys/key-generation';
import { NO_FINGERPRINT, type KeyInventory } from '../keys/key-inventory';
import { refuseLookalikeLabel } from '../keys/key-labels';
import { BackupParams, RestoreParams, type ActionParams } from '../../../shared/actions';
import { checkLeastPrivilege, keyAgreement, withLockdown } from '../keys/key-attributes';
import type { Store } from '../store/database';
import { sql } from '../store/sql';
import {
  chooseWrapMechanism,
  restoreNeeds,
  createPublicObject,
  continueAsUser,
  createTrustedKek,
  findKek,
  importUnwrapKek,
  privateObjectsWithId,
  removePlantedKeyObjects,
  openingRefusal,
  proveKey,
  leftoverKekReconciler,
  unwrapKey,
  wrapKey,
  type KeyShape,
} from './key-wrap';
import {
  backupFileText,
  Manifest,
  manifestFingerprint,
  parseBackupFile,
  readableManifest,
  signManifest,
  type ManifestKey,
} from './manifest';
import { refuseInvalidKeys } from './manifest-keys';
import {
  authenticateManifest,
  macMatches,
  makerOf,
  manifestMac,
  provenance,
  type Maker,
} from './manifest-authenticity';
import { refuseTampered } from '../store/signed-state';
import { canonicalJson, sha256Hex } from '../canonical-json';
import { signedEntries } from '../audit/signed-entries';
import type { Authentication } from './manifest-authenticity';
import { BackupRetirements } from './retirement';
import { decodeCard, encodeCard, kekCheck, qrPayload, shareCommitment, type ShareCard } from './share-card';

/**
 * A holder's card as the core releases it: the wire's card with its QR payload, which the shell renders as SVG.
 * Its text is the share itself, only ever handed out for printing.
 */
export type PrintableCard = Omit<WirePrintableCard, 'qrSvg'> & { qr: string };

const CARD_MINUTES = 30;
const PRACTICE_CARD_MINUTES = 24 * 60;
/**
 * The signed `proposal` of a rehearsal's practice set's manifest (a real set names the proposal that made it). A set
 * that a rehearsed `key.backup` makes holds stand-ins too: its manifest names its proposal after this mark.
 */
export const PRACTICE_SET_PROPOSAL = 'rehearsal practice set';
const isPractice = (proposal: string) =>
  proposal === PRACTICE_SET_PROPOSAL || proposal.startsWith(`${PRACTICE_SET_PROPOSAL}: `);
const SHARE_MINUTES = 15;

/**
 * Backup, restore and share health checks (DESIGN §4). The KEK exists only while a ceremony runs:
 * drawn from the token's RNG, split t-of-n onto share cards, overwritten. Cards are held in memory
 * for printing for a limited time; shares entered for a restore are held like approvals.
 */
export class BackupService {
  private readonly cards = new Map<string, { shares: Map<number, Buffer>; expiresAt: Date }>();
  private readonly entered: HeldSecrets;
  readonly retirements: BackupRetirements;

  constructor(
    private readonly options: {
      store: Store;
      audit: AuditService;
      custodians: CustodianService;
      keys: KeyInventory;
      module: () => TokenModule;
      quorum: () => QuorumService;
      clock: () => Date;
      /** This is a rehearsal's scratch installation: its cards are practice cards. */
      rehearsal?: () => boolean;
    },
  ) {
    this.entered = new HeldSecrets(options.clock);
    this.retirements = new BackupRetirements({ ...options, manifest: (setId) => this.manifest(setId) });
  }

  /** The quorum action `key.backup`: needs the SO (a trusted KEK) and the user (to wrap). */
  backupCeremony(): CeremonyOperation {
    return {
      pins: ['user', 'so'],
      check: (params, custodyId) => this.checkBackup(BackupParams.parse(params), custodyId),
      run: async ({ pins, params, proposalId, token, custodyId }) => {
        const p = BackupParams.parse(params);
        // What was true when proposed must still be true now (a key may have been destroyed since).
        this.checkBackup(p, custodyId);
        const made = await this.makeSet({
          token,
          pins: { so: pins.so!.toString('latin1'), user: pins.user!.toString('latin1') },
          setId: randomBytes(16).toString('hex'),
          keys: p.keyIds.map((id) => this.shape(id)),
          holders: p.holders.map((id) => ({ id, name: this.options.custodians.get(id).name })),
          threshold: p.threshold,
          verify: p.verify,
          proposal: this.options.rehearsal?.() ? `${PRACTICE_SET_PROPOSAL}: ${proposalId}` : proposalId,
          describe: (key, kcv, blob) => this.manifestKey(key, kcv, blob),
          cardMinutes: CARD_MINUTES,
        });
        return {
          result: {
            setId: made.setId,
            keys: p.keyIds,
            threshold: p.threshold,
            holders: p.holders,
            verified: p.verify,
            mechanism: made.mechanism.name,
            fingerprint: manifestFingerprint(made.text),
          },
          commit: () => this.storeSet(made, proposalId),
        };
      },
    };
  }

  /**
   * A rehearsal's practice backup set, for a script that restores a real set (rehearsal.ts): stand-ins for the real
   * set's keys are generated in the rehearsal's practice token, and wrapped, split and signed exactly as a backup
   * does, under the real set's id, threshold and holders, so the script's restore step restores it from practice
   * cards dealt to the real holders. Nothing of the real set is used. The rehearsal's setup makes it, and its log
   * says so (`rehearsal.practice-set`); only a rehearsal's scratch installation makes one.
   */
  async makePracticeSet(set: PracticeSet, token: TokenRef, pins: { so: string; user: string }): Promise<void> {
    if (!this.options.rehearsal?.())
      throw new CustosError('REHEARSAL_ONLY', 'Practice backup sets are made only in a rehearsal; nothing was made.');
    const module = this.options.module();
    const at = this.options.clock();
    const keys = module.withSession(token, { write: true, login: { user: 'user', pin: pins.user } }, (session, lib) =>
      set.keys.map((key): KeyShape => {
        const generation = {
          algorithm: key.algorithm,
          label: key.label,
          usage: key.usage,
          backupable: true,
          cryptoperiodDays: key.cryptoperiodDays,
          ckaId: key.keyId,
        } as const;
        const made = generateInToken(lib, session, { ...generation, acceptUnrestrictedExport: true });
        return { id: key.keyId, ...generation, publicKey: made.spki, kcv: made.kcv };
      }),
    );
    const made = await this.makeSet({
      token,
      pins,
      setId: set.setId,
      keys,
      holders: set.holders,
      threshold: set.threshold,
      verify: true,
      proposal: PRACTICE_SET_PROPOSAL,
      // Held while the rehearsal lasts, not half an hour: they protect nothing real, and the run comes after.
      cardMinutes: PRACTICE_CARD_MINUTES,
      describe: (key, kcv, blob) => {
        const real = set.keys.find((k) => k.keyId === key.id)!;
        return {
          id: key.id,
          label: key.label,
          algorithm: key.algorithm,
          usage: key.usage,
          backupable: true,
          state: real.state,
          // Dated no later than the real key's end, so a stand-in of a key past its usage period is still in order.
          createdAt: Date.parse(real.expiresAt) < at.getTime() ? real.expiresAt : at.toISOString(),
          cryptoperiodDays: real.cryptoperiodDays,
          // The real key's end: a restore of the real set keeps it, so the drill refuses what the real drill refuses.
          expiresAt: real.expiresAt,
          kcv,
          publicKey: key.publicKey ? key.publicKey.toString('base64') : null,
          fingerprint: key.publicKey ? createHash('sha256').update(key.publicKey).digest('hex') : NO_FINGERPRINT,
          wrapped: blob.toString('base64'),
        };
      },
    });
    this.options.audit.record(
      {
        actor: SYSTEM_ACTOR,
        action: 'rehearsal.practice-set',
        object: { type: 'backup', id: set.setId },
        params: { holders: set.holders, threshold: set.threshold, keys: set.keys, token },
      },
      () => this.storeSet(made, null),
    );
  }

  /**
   * Wraps the keys in the token under a fresh KEK from its RNG (trusted, made by the SO), proves each copy when asked,
   * splits the KEK onto the holders' cards (held for printing) and signs the manifest; the KEK is overwritten.
   */
  private async makeSet(set: {
    token: TokenRef;
    pins: { so: string; user: string };
    setId: string;
    keys: KeyShape[];
    holders: { id: string; name: string }[];
    threshold: number;
    verify: boolean;
    proposal: string;
    describe: (key: KeyShape, kcv: string | null, blob: Buffer) => ManifestKey;
    /** How long the cards are held for printing. */
    cardMinutes: number;
  }): Promise<{
    setId: string;
    manifest: Manifest;
    text: string;
    signature: Buffer;
    mechanism: Manifest['mechanism'];
  }> {
    const { token, setId, keys } = set;
    const module = this.options.module();
    const mechanism = chooseWrapMechanism(module.mechanisms(token));
    let kek: Buffer | null = null;
    try {
      // The KEK is an object of the SO's session: the user logs in on it to wrap, and it goes when the session does.
      const wrapUnder = (lib: pkcs11js.PKCS11, session: Buffer, wrapOnly: Buffer) => {
        const handle = findKek(lib, session, setId);
        try {
          continueAsUser(lib, session, set.pins.user);
          const wrapped = keys.map((key) => wrapKey(lib, session, mechanism, handle, key));
          // Verify before anyone relies on it, the way a restore will: the KEK as an unwrap-only
          // session object, each blob unwrapped beside it as a session object, proven, destroyed.
          const unwrapper = set.verify ? importUnwrapKek(lib, session, wrapOnly) : null;
          const measured = keys.map((key, i) => {
            if (!unwrapper) return key.kcv;
            const copy = unwrapKey(lib, session, mechanism, unwrapper, key, wrapped[i]!, false);
            try {
              return proveKey(lib, session, copy, key) ?? key.kcv;
            } finally {
              lib.C_DestroyObject(session, copy);
            }
          });
          return { blobs: wrapped, kcvs: measured };
        } finally {
          lib.C_DestroyObject(session, handle);
        }
      };
      const made = module.withSession(
        token,
        { write: true, login: { user: 'so', pin: set.pins.so } },
        (session, lib) => {
          const wrapOnly = createTrustedKek(lib, session, setId);
          try {
            return { kek: wrapOnly, ...wrapUnder(lib, session, wrapOnly) };
          } catch (error) {
            wrapOnly.fill(0);
            throw error;
          }
        },
      );
      kek = made.kek;
      const { blobs, kcvs } = made;
      const copy = Uint8Array.from(kek);
      let shares: Uint8Array[];
      try {
        shares = await split(copy, set.holders.length, set.threshold);
      } finally {
        copy.fill(0);
      }
      try {
        const holders = set.holders.map((holder, i) => ({
          index: i + 1,
          holder,
          commitment: shareCommitment(setId, i + 1, shares[i]!),
        }));
        const auditKey = this.options.audit.noteKey();
        if (!auditKey) throw new CustosError('AUDIT_UNAVAILABLE', 'No audit key has been created yet.');
        const body = {
          kind: 'custos-backup-manifest' as const,
          v: 2 as const,
          auditKey: auditKey.publicKey.toString('base64'),
          setId,
          createdAt: this.options.clock().toISOString(),
          installation: this.options.audit.origin,
          source: token,
          proposal: set.proposal,
          mechanism,
          threshold: set.threshold,
          shares: holders,
          kekCheck: kekCheck(setId, kek),
          verified: set.verify,
          keys: keys.map((key, i) => set.describe(key, kcvs[i] ?? null, blobs[i]!)),
        };
        // The MAC is made while the KEK still exists: only t cards can vouch for the manifest again.
        const manifest: Manifest = { ...body, mac: manifestMac(kek, body) };
        kek.fill(0);
        const { text, signature } = signManifest(this.options.audit, manifest);
        this.cards.set(setId, {
          shares: new Map(shares.map((s, i) => [i + 1, Buffer.from(s)])),
          expiresAt: new Date(this.options.clock().getTime() + set.cardMinutes * 60_000),
        });
        // Unreleased cards are overwritten when their time is up, whether or not anyone asks again.
        setTimeout(() => this.forgetCards(setId), set.cardMinutes * 60_000).unref();
        return { setId, manifest, text, signature, mechanism };
      } finally {
        shares.forEach((s) => s.fill(0));
      }
    } finally {
      kek?.fill(0);
    }
  }

  /** The set's row and its keys; must run in the transaction of the entry that records it. */
  private storeSet(made: { manifest: Manifest; text: string; signature: Buffer }, proposalId: string | null): void {
    const { manifest, text, signature } = made;
    const at = manifest.createdAt;
    this.options.store.execute(sql`
      INSERT INTO backups (set_id, token_serial, token_label, created_at, proposal_id, manifest, signature, verified_at)
      VALUES (${manifest.setId}, ${manifest.source.serial}, ${manifest.source.label}, ${at}, ${proposalId}, ${text}, ${signature}, ${manifest.verified ? at : null})`);
    for (const key of manifest.keys)
      this.options.store.execute(sql`INSERT INTO backup_keys (set_id, key_id) VALUES (${manifest.setId}, ${key.id})`);
  }

  /** After a crash mid-backup: removes the trusted KEK it left in the token; the backup itself failed. */
  reconcileBackup(): QuorumReconciler {
    return leftoverKekReconciler(this.options.audit, 'backup.kek-removed');
  }

  /** What restoring this set needs from the target token: the mechanism its keys were wrapped with, to unwrap. */
  restoreNeeds(params: unknown): Need[] {
    const manifest = this.manifest(RestoreParams.parse(params).setId);
    return restoreNeeds(manifest.mechanism, manifest.keys);
  }

  /** The quorum action `key.restore`: opens the target token, and waits until t cards are entered. */
  restoreCeremony(): CeremonyOperation {
    return {
      pins: ['user'],
      check: (params, custodyId) => {
        const p = RestoreParams.parse(params);
        this.retirements.refuseRetired(p.setId);
        const manifest = this.manifest(p.setId);
        refuseInvalidKeys(manifest, 'nothing was proposed');
        this.refuseOtherKeys(manifest, makerOf(this.options.audit, manifest).here);
        // A custody this database holds no row for (met in a rehearsal's restore drill): the run checks the token.
        const token = this.custodyRow(custodyId);
        if (token) this.refuseLookalikeLabels(manifest, token);
        this.refuseWaitingDestruction(manifest);
        this.refuseCompromised(manifest);
        const destroyed = manifest.keys.filter((k) => this.stateOf(k.id) === 'destroyed');
        if (destroyed.length > 0 && !p.overrideDestroyed) {
          throw new CustosError(
            'PROPOSAL_INVALID',
            `The inventory records ${destroyed.map((k) => `“${k.label}”`).join(', ')} as destroyed.`,
            [
              'Restoring a destroyed key needs the quorum to approve an explicit override (overrideDestroyed: true); it comes back suspended.',
            ],
          );
        }
      },
      waitingFor: (proposalId, params) => {
        const { setId } = RestoreParams.parse(params);
        const needed = this.manifest(setId).threshold - this.entered.live(proposalId).length;
        return needed > 0
          ? [`${needed} more share card${needed === 1 ? '' : 's'} of backup set ${setId.slice(0, 8)}`]
          : [];
      },
      forget: (proposalId) => this.entered.drop(proposalId),
      run: async ({ pins, params, proposalId, token, custodyId }) => {
        const p = RestoreParams.parse(params);
        this.retirements.refuseRetired(p.setId);
        const manifest = this.manifest(p.setId);
        const { audit } = this.options;
        // Checked again before the inventory is written: a set stored before this check existed is read here too.
        refuseInvalidKeys(manifest, 'nothing was restored');
        this.refuseOtherKeys(manifest, makerOf(audit, manifest).here);
        this.refuseLookalikeLabels(manifest, token);
        this.refuseWaitingDestruction(manifest);
        this.refuseCompromised(manifest);
        const destroyed = manifest.keys.filter((k) => this.stateOf(k.id) === 'destroyed');
        if (destroyed.length > 0 && !p.overrideDestroyed)
          throw new CustosError(
            'KEY_STATE_FORBIDS',
            `Since this was proposed, ${destroyed.map((k) => `“${k.label}”`).join(', ')} was destroyed; restoring it needs the explicit override.`,
          );
        const secret = await combine(this.entered.live(proposalId).map(([, share]) => share));
        const kek = Buffer.from(secret);
        secret.fill(0);
        try {
          const authentication = this.authenticateWithKek(manifest, kek, proposalId);
          if (kekCheck(manifest.setId, kek) !== manifest.kekCheck)
            throw new CustosError(
              'SHARE_MISMATCH',
              'The cards rebuilt a key that does not match the backup’s check value. Nothing was imported.',
            );
          const restored = this.options
            .module()
            .withSession(
              token,
              { write: true, login: { user: 'user', pin: pins.user!.toString('latin1') } },
              (session, lib) => {
                const unwrapper = importUnwrapKek(lib, session, kek);
                const created: { keyId: string; handle: Buffer }[] = [];
                const measured = new Map<string, string | null>();
                try {
                  // Only an object made with the PIN can be the key; public ones anyone planted are not, nor block it.
                  for (const key of manifest.keys) {
                    if (privateObjectsWithId(lib, session, key.id).length > 0)
                      throw new CustosError(
                        'KEY_ALREADY_IN_TOKEN',
                        `This token already holds “${key.label}”; nothing was imported.`,
                        ['Restore into a token that does not hold these keys.'],
                      );
                  }
                  const planted = manifest.keys
                    .map((key) => ({
                      keyId: key.id,
                      label: key.label,
                      ...removePlantedKeyObjects(lib, session, key.id),
                    }))
                    .filter(({ removed, left }) => removed + left > 0);
                  if (planted.length > 0)
                    audit.record({
                      actor: SYSTEM_ACTOR,
                      action: RESTORE_PLANTED_REMOVED,
                      object: { type: 'proposal', id: proposalId },
                      params: { setId: manifest.setId, token, planted },
                    });
                  // From here on the token holds only what this restore makes: what a crash leaves is removed.
                  audit.record({
                    actor: SYSTEM_ACTOR,
                    action: RESTORE_UNWRAPPING,
                    object: { type: 'proposal', id: proposalId },
                    params: { setId: manifest.setId, token },
                  });
                  for (const key of manifest.keys) {
                    // Proven against the inventory's check value where the manifest records none (a set of a wrap or
                    // sign key made unverified): a restore registered the one it measured.
                    const shape = { ...this.shapeFromManifest(key), kcv: key.kcv ?? this.recordedKcv(key.id) };
                    const blob = Buffer.from(key.wrapped, 'base64');
                    // Proven on a session copy that may sign or encrypt, whatever the key's own usage allows.
                    const copy = opened(key.label, () =>
                      unwrapKey(lib, session, manifest.mechanism, unwrapper, shape, blob, false),
                    );
                    try {
                      refuseOtherShape(lib, session, key, copy);
                      measured.set(key.id, proveKey(lib, session, copy, shape));
                    } finally {
                      lib.C_DestroyObject(session, copy);
                    }
                    const unwrapForGood = (l: boolean) =>
                      unwrapKey(lib, session, manifest.mechanism, unwrapper, shape, blob, true, l);
                    const { value: restoredKey, lockdown } = withLockdown(unwrapForGood);
                    created.push({ keyId: key.id, handle: restoredKey });
                    refuseOtherShape(lib, session, key, restoredKey);
                    const publicHandle = createPublicObject(lib, session, shape, lockdown);
                    if (publicHandle) created.push({ keyId: key.id, handle: publicHandle });
                    // Read back: a restored key carries exactly its least-privilege attributes, or none of the set is
                    // kept.
                    const usage = KeyUsage.parse(key.usage);
                    const half = key.algorithm === 'AES-256' ? ('secret' as const) : ('private' as const);
                    // An EC wrapping key unwraps by key agreement: its private half derives, as at generation.
                    const agreement = keyAgreement(key.algorithm, key.usage);
                    const halves = [
                      { handle: restoredKey, usage, half, agreement },
                      ...(publicHandle ? [{ handle: publicHandle, usage, half: 'public' as const }] : []),
                    ];
                    checkLeastPrivilege(lib, session, key.label, halves, lockdown, key.backupable, key.backupable);
                  }
                  // The AES check values are the ones measured in this token, not copied from the manifest; a key
                  // pair's fingerprint is its public key's, which the proof above showed the restored key matches: so
                  // the run's signed entry binds which public key came back (a report's keys are checked against it).
                  return manifest.keys.map((k) => ({
                    keyId: k.id,
                    label: k.label,
                    algorithm: k.algorithm,
                    kcv: measured.get(k.id) ?? null,
                    fingerprint: k.publicKey
                      ? createHash('sha256').update(Buffer.from(k.publicKey, 'base64')).digest('hex')
                      : null,
                  }));
                } catch (error) {
                  // All or nothing: a key that fails its proof takes the others back out with it.
                  const kept = created.filter(({ handle }) => {
                    try {
                      lib.C_DestroyObject(session, handle);
                      return false;
                    } catch {
                      return true;
                    }
                  });
                  if (kept.length > 0) this.leftUnsettled(manifest, token, proposalId, kept, error);
                  throw error;
                }
              },
            );
          return {
            result: { setId: manifest.setId, token, keys: restored, authentication, madeBy: makerOf(audit, manifest) },
            commit: () => {
              for (const key of manifest.keys) {
                const { kcv } = restored.find((k) => k.keyId === key.id)!;
                this.options.keys.registerRestored(key, { token, custodyId, proposalId, setId: manifest.setId }, kcv);
              }
            },
          };
        } finally {
          kek.fill(0);
        }
      },
    };
  }

  /**
   * A restore whose token failed half-way (pulled out, broken) and would not take back what it had unwrapped: recorded
   * (RESTORE_UNSETTLED), and left to reconcileRestore at the next quorum login on that token, as after a crash.
   */
  private leftUnsettled(
    manifest: Manifest,
    token: TokenRef,
    proposalId: string,
    kept: { keyId: string }[],
    error: unknown,
  ): never {
    const cause = isCustosError(error) ? error.code : (refusalName(error) ?? 'INTERNAL');
    const keyIds = [...new Set(kept.map((k) => k.keyId))];
    this.options.audit.record({
      actor: SYSTEM_ACTOR,
      action: RESTORE_UNSETTLED,
      object: { type: 'proposal', id: proposalId },
      params: { setId: manifest.setId, token, keyIds, objects: kept.length, cause },
    });
    const labels = manifest.keys.filter((k) => keyIds.includes(k.id)).map((k) => `“${k.label}”`);
    throw new LeftUnsettled(
      `Token ${token.label} failed during the restore of backup set ${manifest.setId.slice(0, 8)}… (${cause}), and ` +
        `what it had already unwrapped of ${labels.join(', ')} could not be removed: the token may still hold partial ` +
        'copies of them. They are not registered and Custos does not use them; at the next quorum login on that ' +
        'token (any approved operation there, a new restore of this set included) Custos removes them, records it, ' +
        'and closes this restore as failed. Nothing was restored.',
      ['Check the token is attached and answering, then run any approved operation on it (a quorum drill will do).'],
      error,
    );
  }

  /** One holder's card, typed or pasted, checked at once against the manifest and held for the restore. */
  async enterShare(proposalId: string, text: string): Promise<ProposalView> {
    const proposal = this.options.quorum().view(proposalId);
    const object = { type: 'proposal', id: proposalId };
    if (proposal.action !== 'key.restore' || proposal.state !== 'open')
      throw new CustosError('PROPOSAL_CLOSED', 'Share cards are entered only for an open restore proposal.');
    const { setId } = RestoreParams.parse(proposal.params);
    const manifest = this.manifest(setId);
    const card = this.checked(text, manifest, (code) =>
      this.options.audit.record({
        actor: SYSTEM_ACTOR,
        action: 'backup.share-enter',
        object,
        result: { status: 'refused', code },
      }),
    );
    const holder = manifest.shares.find((s) => s.index === card.index)!.holder.name;
    if (this.entered.live(proposalId).some(([index]) => index === String(card.index))) {
      card.share.fill(0);
      this.options.audit.record({
        actor: SYSTEM_ACTOR,
        action: 'backup.share-enter',
        object,
        result: { status: 'refused', code: 'SHARE_DUPLICATE' },
      });
      throw new CustosError(
        'SHARE_DUPLICATE',
        `Card ${card.index} (${holder}) has already been entered; each card counts once.`,
        ['Ask the next holder for their card.'],
      );
    }
    try {
      this.options.audit.record({
        actor: SYSTEM_ACTOR,
        action: 'backup.share-enter',
        object,
        params: { setId, index: card.index },
      });
    } catch (error) {
      card.share.fill(0);
      throw error;
    }
    // Held for SHARE_MINUTES, and never past the proposal's own expiry: nothing could use it after that.
    const until = Math.min(this.options.clock().getTime() + SHARE_MINUTES * 60_000, Date.parse(proposal.expiresAt));
    this.entered.hold(proposalId, String(card.index), Uint8Array.from(card.share), new Date(until));
    card.share.fill(0);
    return this.options.quorum().proceed(proposalId);
  }

  /** A holder confirms their card still matches the manifest; nothing is rebuilt. */
  checkShare(text: string): { setId: string; index: number; holder: string } {
    const setId = (() => {
      try {
        const peek = decodeCard(text);
        peek.share.fill(0);
        return peek.setId;
      } catch (error) {
        if (isCustosError(error))
          this.options.audit.record({
            actor: SYSTEM_ACTOR,
            action: 'backup.share-check',
            result: { status: 'refused', code: error.code },
          });
        throw error;
      }
    })();
    const object = { type: 'backup', id: setId };
    let manifest: Manifest;
    try {
      manifest = this.manifest(setId);
    } catch (error) {
      this.options.audit.record({
        actor: SYSTEM_ACTOR,
        action: 'backup.share-check',
        object,
        result: { status: 'refused', code: isCustosError(error) ? error.code : 'INTERNAL' },
      });
      throw error;
    }
    const card = this.checked(text, manifest, (code) =>
      this.options.audit.record({
        actor: SYSTEM_ACTOR,
        action: 'backup.share-check',
        object,
        result: { status: 'refused', code },
      }),
    );
    card.share.fill(0);
    const holder = manifest.shares.find((s) => s.index === card.index)!.holder.name;
    // The signed entry is the record: when each card was last checked is read from the log (lastChecks).
    this.options.audit.record({
      actor: SYSTEM_ACTOR,
      action: 'backup.share-check',
      object,
      params: { index: card.index },
    });
    return { setId, index: card.index, holder };
  }

  /**
   * One holder's card, released to that holder only after they prove both factors, and recorded
   * before it leaves: nobody at the console sees more than their own card.
   */
  async releaseCard(
    setId: string,
    holder: { custodianId: string; passphrase: string; code: string },
  ): Promise<PrintableCard> {
    const manifest = this.manifest(setId);
    const share = manifest.shares.find((s) => s.holder.id === holder.custodianId);
    if (!share)
      throw new CustosError(
        'NOT_AUTHORIZED',
        `${this.options.custodians.get(holder.custodianId).name} holds no card of this backup.`,
      );
    // Cards already gone are said before the factor check, which would spend the holder's code for nothing.
    this.heldCards(setId);
    (
      await this.options.custodians.verifyFactors(holder.custodianId, holder.passphrase, holder.code, `card ${setId}`)
    ).fill(0);
    const card = this.printableCards(setId, share.index)[0]!;
    this.options.audit.record({
      actor: { type: 'custodian', id: holder.custodianId, role: 'custodian' },
      action: 'backup.card.release',
      object: { type: 'backup', id: setId },
      params: { index: share.index },
    });
    return card;
  }

  /** The cards of a set still held for printing; BACKUP_NOT_FOUND once forgotten or past their time. */
  private heldCards(setId: string) {
    const held = this.cards.get(setId);
    if (!held || held.expiresAt <= this.options.clock()) {
      this.forgetCards(setId);
      throw new CustosError(
        'BACKUP_NOT_FOUND',
        'The share cards of this backup are no longer held: they can be printed only just after the backup.',
        [
          this.options.rehearsal?.()
            ? 'If a practice card was not taken, end the rehearsal and start it again: it makes a new practice set.'
            : 'If a card was not printed, make a new backup.',
        ],
      );
    }
    return held;
  }

  /**
   * The cards of a backup just made, while they may still be printed (inside the core only: see releaseCard); with
   * `only`, that card alone, so no other holder's share is written out as text (a string cannot be overwritten).
   */
  printableCards(setId: string, only?: number): PrintableCard[] {
    const held = this.heldCards(setId);
    const { manifest, text: signed } = this.signedManifest(setId);
    const setFingerprint = manifestFingerprint(signed);
    const shares = only === undefined ? manifest.shares : manifest.shares.filter((s) => s.index === only);
    return shares.map(({ index, holder }) => {
      const text = encodeCard({
        setId,
        threshold: manifest.threshold,
        holders: manifest.shares.length,
        index,
        share: held.shares.get(index)!,
      });
      return {
        setId,
        index,
        threshold: manifest.threshold,
        holders: manifest.shares.length,
        holder,
        createdAt: manifest.createdAt,
        token: manifest.source,
        keys: manifest.keys.map(({ id, label, algorithm, kcv, fingerprint, publicKey }) => ({
          id,
          label,
          algorithm,
          kcv,
          // As the inventory reads it: only a public key has a fingerprint.
          fingerprint: publicKey ? fingerprint : null,
        })),
        setFingerprint,
        text,
        rehearsal: this.options.rehearsal?.() ?? false,
        qr: qrPayload(text),
      };
    });
  }

  forgetCards(setId: string): void {
    for (const share of this.cards.get(setId)?.shares.values() ?? []) share.fill(0);
    this.cards.delete(setId);
  }

  forgetAll(): void {
    for (const setId of [...this.cards.keys()]) this.forgetCards(setId);
    this.entered.clear();
  }

  list(): BackupSummary[] {
    return this.options.store
      .all<{ set_id: string }>(sql`SELECT set_id FROM backups ORDER BY created_at DESC`)
      .map(({ set_id: setId }) => {
        const { manifest: m, text } = this.signedManifest(setId);
        const checks = this.lastCardEntries(setId, m.shares.length, 'backup.share-check');
        const released = this.lastCardEntries(setId, m.shares.length, 'backup.card.release');
        return {
          setId,
          token: m.source,
          createdAt: m.createdAt,
          threshold: m.threshold,
          holders: m.shares.map((s) => ({
            index: s.index,
            id: s.holder.id,
            name: s.holder.name,
            lastChecked: checks.get(s.index) ?? null,
            released: released.get(s.index) ?? null,
          })),
          keys: m.keys.map((k) => ({ id: k.id, label: k.label, algorithm: k.algorithm })),
          // From the signed manifest, not a column: a set made here and verified then says so in its manifest.
          verifiedAt: m.verified && makerOf(this.options.audit, m).here ? m.createdAt : null,
          mechanism: m.mechanism.name,
          fingerprint: manifestFingerprint(text),
          madeBy: makerOf(this.options.audit, m),
          retirement: this.retirements.retirement(setId),
        };
      });
  }

  /**
   * Every place the key lives: the tokens it was generated in and restored into (from the executed
   * ceremonies), and every backup set holding it, live or retired.
   */
  copiesOf(keyId: string): KeyCopy[] {
    const { store } = this.options;
    const tokens = new Map<string, { serial: string; label: string }>();
    const add = (t: { serial: string; label: string }) => tokens.set(`${t.serial}\u0000${t.label}`, t);
    const generated = store.get<{ body: string }>(
      sql`SELECT p.body FROM keys k JOIN proposals p ON p.id = k.proposal_id WHERE k.id = ${keyId}`,
    );
    if (generated) add((JSON.parse(generated.body) as { token: { serial: string; label: string } }).token);
    // Believed as the audit log proves them (proposal-closure.ts): a restore's state or outcome changed in the
    // database could hide a token holding the key from a destruction certificate or a compromise notice.
    // Every proposal, each proven, not those whose stored columns say an executed key.restore: a body edited to another
    // action, or a state column edited, would hide the restore (it is refused as tampered instead).
    const proposals = store.all<{ id: string }>(sql`SELECT id FROM proposals`);
    // The sets the log proves were made or imported here: a set whose row was deleted would drop out of the list.
    const recorded = new Set(this.importedSets());
    for (const { id } of proposals) {
      const restore = this.options.quorum().provenView(id);
      if (restore.action === 'key.backup' && restore.state === 'executed' && restore.outcome?.status === 'ok')
        recorded.add((restore.outcome.result as { setId: string }).setId);
      if (restore.action !== 'key.restore' || restore.state !== 'executed' || restore.outcome?.status !== 'ok')
        continue;
      const result = restore.outcome.result as { token?: unknown; keys?: { keyId?: unknown }[] } | undefined;
      const token = result?.token as { serial: string; label: string } | undefined;
      if (token && result?.keys?.some((k) => k.keyId === keyId)) add(token);
    }
    if (this.options.keys.known(keyId)) add(this.options.keys.get(keyId).token);
    const sets = store.all<{ set_id: string }>(sql`SELECT set_id FROM backups ORDER BY created_at`);
    const stored = new Set(sets.map((s) => s.set_id));
    for (const setId of recorded)
      if (!stored.has(setId))
        refuseTampered(
          this.options.audit,
          'BACKUP_INVALID',
          { type: 'backup', id: setId },
          `The record of backup set ${setId.slice(0, 8)} (missing, though the audit log records the set)`,
          'forged',
        );
    const backups: KeyCopy[] = sets.flatMap(({ set_id: setId }) => {
      const m = this.manifest(setId);
      if (!m.keys.some((k) => k.id === keyId)) return [];
      const retired = this.retirements.retirement(setId);
      return [
        {
          kind: 'backup' as const,
          setId,
          threshold: m.threshold,
          holders: m.shares.map((s) => s.holder.name),
          retiredAt: retired?.retiredAt ?? null,
        },
      ];
    });
    return [...[...tokens.values()].map((t) => ({ kind: 'token' as const, ...t })), ...backups];
  }

  /** The backup file: the signed manifest (wrapped keys inside), to keep apart from the cards. */
  exportFile(setId: string): string {
    const row = this.options.store.get<{ manifest: string; signature: Buffer }>(
      sql`SELECT manifest, signature FROM backups WHERE set_id = ${setId}`,
    );
    if (!row) throw new CustosError('BACKUP_NOT_FOUND', 'There is no such backup set.');
    // A rehearsal's sets hold stand-ins (a practice set even carries the real set's id): none leaves it as a file.
    if (this.options.rehearsal?.())
      throw new CustosError(
        'REHEARSAL_ACTIVE',
        'No backup file is exported from a rehearsal: its sets hold stand-ins.',
        ['Export the real set once the rehearsal has ended.'],
      );
    this.retirements.refuseRetired(setId, 'exported');
    for (const key of this.manifest(setId).keys) this.refuseNewCopy(key.id, 'exported in a backup file');
    this.options.audit.record({ actor: SYSTEM_ACTOR, action: 'backup.export', object: { type: 'backup', id: setId } });
    return backupFileText(row.manifest, row.signature);
  }

  /**
   * Reads a backup file, refused before anything is stored if changed (signature) or if nothing can
   * vouch for it here. A file made elsewhere is stored pending: its MAC is checked once t cards
   * rebuild the KEK, before anything is unwrapped. With `expectAuditKey` (a fingerprint from a
   * report), the file must be signed by that installation's audit key. `json` may be read here, so a
   * file that cannot be read is refused and recorded like one that is not a backup.
   */
  importFile(
    json: string | (() => string),
    expectAuditKey?: string,
  ): BackupSummary & { authentication: Authentication } {
    let read: ReturnType<typeof parseBackupFile> & ReturnType<typeof authenticateManifest>;
    try {
      const parsed = parseBackupFile(typeof json === 'string' ? json : json());
      const { audit } = this.options;
      const authenticated = authenticateManifest(audit, parsed.manifest, parsed.text, parsed.signature, expectAuditKey);
      // Its signed proposal field says so: a rehearsal's set holds stand-ins under real key ids, and is never imported.
      if (isPractice(parsed.manifest.proposal))
        throw new CustosError(
          'BACKUP_INVALID',
          'This file is a backup set made in a rehearsal: it holds stand-ins, never real keys. Nothing was imported.',
          ['Use the backup file of the real set.'],
        );
      this.refuseOtherKeys(parsed.manifest, authenticated.maker.here);
      read = { ...parsed, ...authenticated };
    } catch (error) {
      this.options.audit.record({
        actor: SYSTEM_ACTOR,
        action: 'backup.import',
        result: { status: 'refused', code: isCustosError(error) ? error.code : 'INTERNAL' },
      });
      throw error;
    }
    const { manifest, text, signature, authentication, maker } = read;
    const known = this.options.store.get<{ manifest: string }>(
      sql`SELECT manifest FROM backups WHERE set_id = ${manifest.setId}`,
    );
    // Another set under an id held here (a rehearsal's practice set, a forgery signed elsewhere) never shadows it.
    if (known && known.manifest !== text) {
      this.options.audit.record({
        actor: SYSTEM_ACTOR,
        action: 'backup.import',
        object: { type: 'backup', id: manifest.setId },
        result: { status: 'refused', code: 'BACKUP_INVALID' },
      });
      throw new CustosError(
        'BACKUP_INVALID',
        `This file holds a different backup set under the id of set ${manifest.setId.slice(0, 8)}, which is already here; nothing was imported.`,
        ['Keep the file apart and tell your security officer: the set already here is the one its cards restore.'],
      );
    }
    if (!known) {
      const object = provenance(manifest.setId, maker, authentication);
      const params = {
        setId: manifest.setId,
        madeBy: maker.installation,
        auditKey: maker.auditKey,
        authentication,
        fingerprint: manifestFingerprint(text),
      };
      this.options.audit.record({ actor: SYSTEM_ACTOR, action: 'backup.import', object, params }, () => {
        this.options.store.execute(sql`
          INSERT INTO backups (set_id, token_serial, token_label, created_at, proposal_id, manifest, signature, verified_at)
          VALUES (${manifest.setId}, ${manifest.source.serial}, ${manifest.source.label}, ${manifest.createdAt}, ${null}, ${text}, ${signature}, ${null})`);
      });
    }
    return { ...this.list().find((b) => b.setId === manifest.setId)!, authentication };
  }

  manifest(setId: string): Manifest {
    return this.signedManifest(setId).manifest;
  }

  /** The stored manifest and the exact text its signature covers, checked like a file. */
  private signedManifest(setId: string): { manifest: Manifest; text: string } {
    const row = this.options.store.get<{ manifest: string; signature: Buffer }>(
      sql`SELECT manifest, signature FROM backups WHERE set_id = ${setId}`,
    );
    if (!row)
      throw new CustosError('BACKUP_NOT_FOUND', 'This installation holds no backup set with that id.', [
        'Import the backup file first.',
      ]);
    // The stored copy is checked like a file: a manifest edited in the database is not trusted.
    let read: { manifest: Manifest; maker: Maker };
    try {
      const manifest = Manifest.parse(JSON.parse(row.manifest));
      read = { manifest, ...authenticateManifest(this.options.audit, manifest, row.manifest, row.signature) };
    } catch (error) {
      const message =
        'The stored manifest of this backup no longer matches its signature: it was changed in the database.';
      const remedy = ['Import the backup file from its original source.'];
      throw new CustosError('BACKUP_INVALID', message, remedy, { cause: error });
    }
    // Signed, but by whom: any key can sign a manifest naming itself, so one made elsewhere is believed only
    // where the log records its import from that key; and a signed manifest is kept under its own set id only.
    const { manifest, maker } = read;
    if (
      manifest.setId !== setId ||
      (!maker.here && !this.importRecorded(setId, maker.auditKey)) ||
      !readableManifest(manifest) ||
      !this.provenManifest(setId, row.manifest, maker)
    )
      refuseTampered(
        this.options.audit,
        'BACKUP_INVALID',
        { type: 'backup', id: setId },
        `The stored manifest of backup set ${setId.slice(0, 8)}`,
        'forged',
      );
    return { manifest, text: row.manifest };
  }

  /**
   * Whether the stored manifest is the one the log signed for the set. One this installation's audit key signed is (no
   * one else holds that key); one made elsewhere only if its signed `backup.import` entry hashes its fingerprint: its
   * maker's signature alone would let whoever holds that key put another manifest under the set's id.
   */
  private provenManifest(setId: string, text: string, maker: Maker): boolean {
    if (maker.here) return true;
    const fingerprint = manifestFingerprint(text);
    const { store, audit } = this.options;
    const imports = signedEntries(store, audit, { action: 'backup.import', objectPrefix: `backup:${setId} made-by ` });
    return imports.some((entry) => {
      const authentication = entry.object!.id.split(' via ').at(-1);
      const params = { setId, madeBy: maker.installation, auditKey: maker.auditKey, authentication };
      // An import recorded before its fingerprint was is vouched for by the maker's signature alone.
      const legacy = sha256Hex(canonicalJson(params));
      return entry.params === sha256Hex(canonicalJson({ ...params, fingerprint })) || entry.params === legacy;
    });
  }

  /**
   * A set brings back only the keys the inventory records under its ids: one holding another key under a known id (made
   * elsewhere, or forged with cards of its own) would put that key in the known key's place, under its signed record.
   */
  private refuseOtherKeys(manifest: Manifest, madeHere: boolean): void {
    for (const key of manifest.keys) {
      if (!this.options.keys.known(key.id)) continue;
      const known = this.options.keys.get(key.id);
      const publicKey = this.options.keys.publicKey(key.id);
      const same =
        known.algorithm === key.algorithm &&
        (key.publicKey === null ? publicKey === null : publicKey?.equals(Buffer.from(key.publicKey, 'base64'))) &&
        // An AES key is told by its check value where both record one. A wrap or sign key has none on record until a
        // restore measures it, and a set made unverified records none: then only this installation's own sets, wrapped
        // from the token's object with that id, are believed to hold it (a restore proves a copy against the record).
        (key.algorithm !== 'AES-256' || (known.kcv !== null && key.kcv !== null ? known.kcv === key.kcv : madeHere));
      if (!same)
        throw new CustosError(
          'BACKUP_INVALID',
          `Backup set ${manifest.setId.slice(0, 8)} holds a different key under the id of “${known.label}”: ` +
            'its public key or check value is not the one the inventory records. Nothing was imported or restored.',
          ['Keep the file and its cards apart and tell your security officer: someone made a set to replace this key.'],
        );
    }
  }

  /**
   * When each card of a set was last checked (`backup.share-check`) or released to its holder (`backup.card.release`),
   * read from the signed entries (their parameters hash the card's index), not from a table a database writer could
   * add to.
   */
  private lastCardEntries(setId: string, cards: number, action: string): Map<number, string> {
    const index = new Map(
      Array.from({ length: cards }, (_, i) => [sha256Hex(canonicalJson({ index: i + 1 })), i + 1] as const),
    );
    const checks = new Map<number, string>();
    const { store, audit } = this.options;
    for (const { params, time } of signedEntries(store, audit, { action, object: `backup:${setId}` })) {
      const card = params === null ? undefined : index.get(params);
      if (card !== undefined) checks.set(card, time);
    }
    return checks;
  }

  /** The sets the log records as imported here (the set id leads each import's object). */
  private importedSets(): string[] {
    return signedEntries(this.options.store, this.options.audit, { action: 'backup.import', anyObject: true }).map(
      (entry) => entry.object!.id.slice(0, 32),
    );
  }

  /** Whether the log holds this set's import from the installation whose audit key signed it. */
  private importRecorded(setId: string, auditKey: string | null): boolean {
    if (auditKey === null) return false;
    const objectPrefix = `backup:${setId} made-by ${auditKey} via `;
    return signedEntries(this.options.store, this.options.audit, { action: 'backup.import', objectPrefix }).length > 0;
  }

  /**
   * Before anything is unwrapped: the KEK the cards rebuilt must vouch for a format-2 manifest (its
   * MAC), whichever installation made it; recorded either way. A format-1 manifest is stored only
   * when this installation's audit key signed it.
   */
  private authenticateWithKek(manifest: Manifest, kek: Buffer, proposalId: string): Authentication {
    if (manifest.v === 1) return 'own-audit-key';
    const maker = makerOf(this.options.audit, manifest);
    const object = provenance(manifest.setId, maker, 'kek-mac-verified');
    const params = {
      setId: manifest.setId,
      proposal: proposalId,
      madeBy: maker.installation,
      auditKey: maker.auditKey,
      authentication: 'kek-mac-verified',
    };
    const entry = { actor: SYSTEM_ACTOR, action: 'backup.authenticate', object, params };
    if (!macMatches(kek, manifest)) {
      this.options.audit.record({ ...entry, result: { status: 'refused', code: 'BACKUP_MAC_MISMATCH' } });
      const rebuilt = kekCheck(manifest.setId, kek) === manifest.kekCheck;
      throw new CustosError(
        'BACKUP_MAC_MISMATCH',
        rebuilt
          ? 'The cards rebuilt this backup’s key, and that key does not vouch for the manifest: ' +
              'the backup was changed after it was made. Nothing was unwrapped.'
          : 'The key the cards rebuilt does not vouch for the manifest: the manifest was changed after it was made, ' +
              'or the cards are not this backup’s. Nothing was unwrapped.',
        [
          'Treat this backup file as tampered with; restore from a copy you trust.',
          'The refusal is recorded in the audit log (backup.authenticate).',
        ],
      );
    }
    this.options.audit.record(entry);
    return 'kek-mac-verified';
  }

  private checked(text: string, manifest: Manifest, refused: (code: CustosError['code']) => void): ShareCard {
    let card: ShareCard;
    try {
      card = decodeCard(text);
    } catch (error) {
      if (isCustosError(error)) refused(error.code);
      throw error;
    }
    const fail = (code: CustosError['code'], message: string, remedy: string[]): never => {
      card.share.fill(0);
      refused(code);
      throw new CustosError(code, message, remedy);
    };
    if (card.setId !== manifest.setId) {
      fail(
        'SHARE_FOREIGN',
        `This card belongs to another backup (set ${card.setId.slice(0, 8)}…), not to set ${manifest.setId.slice(0, 8)}….`,
        ['Check the set id printed on the card.'],
      );
    }
    const expected = manifest.shares.find((s) => s.index === card.index);
    if (
      !expected ||
      card.threshold !== manifest.threshold ||
      card.holders !== manifest.shares.length ||
      shareCommitment(manifest.setId, card.index, card.share) !== expected.commitment
    ) {
      fail(
        'SHARE_MISMATCH',
        `This card does not match share ${card.index}${expected ? ` (${expected.holder.name})` : ''} of the backup, though it reads correctly.`,
        ['Nothing was used. Tell your security officer: the card may have been altered.'],
      );
    }
    return card;
  }

  private checkBackup(p: ActionParams<'key.backup'>, custodyId: string): void {
    for (const id of p.holders) {
      const holder = this.options.custodians.get(id);
      if (holder.retiredAt !== null) throw retiredError(holder.name, holder.retiredAt);
      // Auditors read the record; a card is a share of the key-encryption key.
      if (!holder.roles.some((role) => role === 'custodian' || role === 'security-officer'))
        throw new CustosError(
          'PROPOSAL_INVALID',
          `${holder.name} is an auditor: auditors read the record, they hold no card of a backup.`,
          ['Name custodians or security officers as card holders.'],
        );
    }
    const token = this.custodyToken(custodyId);
    for (const id of p.keyIds) {
      const key = this.options.keys.get(id);
      if (!key.backupable)
        throw new CustosError(
          'PROPOSAL_INVALID',
          `“${key.label}” was generated not backup-able; the token will not let it out.`,
        );
      this.refuseNewCopy(id, 'backed up');
      this.options.keys.checkToken(id, token);
    }
  }

  private custodyToken(custodyId: string): TokenRef {
    return this.custodyRow(custodyId)!;
  }

  private custodyRow(custodyId: string): TokenRef | null {
    const custody = this.options.store.get<{ token_serial: string; token_label: string }>(
      sql`SELECT token_serial, token_label FROM custody WHERE id = ${custodyId}`,
    );
    return custody ? { serial: custody.token_serial, label: custody.token_label } : null;
  }

  /**
   * A restored key's label must not read as another key's on the target token, as at generation and at a package's
   * import (key-labels.ts): both would be registered there, and every screen, proposal and report would show two keys
   * as one. A key the inventory knows is judged by the label it records (the one it keeps), and its own record there
   * is no other key; a key new to it by the manifest's, held to the script rule as a received package is.
   */
  private refuseLookalikeLabels(manifest: Manifest, token: TokenRef): void {
    for (const key of manifest.keys) {
      const known = this.options.keys.known(key.id);
      const label = known ? this.options.keys.get(key.id).label : key.label;
      refuseLookalikeLabel(label, token, this.options.keys, RESTORE_LABEL_FIX, known ? key.id : undefined);
    }
  }

  /**
   * No new copy of a key that is to be gone: destroyed, compromised, or waiting for its destruction (a copy made now
   * would outlive the destruction certificate, or spread a key an attacker may hold).
   */
  private refuseNewCopy(id: string, as: string): void {
    if (this.stateOf(id) === null) return;
    const key = this.options.keys.get(id);
    if (key.state === 'destroyed' || key.state === 'compromised')
      throw new CustosError('KEY_STATE_FORBIDS', `“${key.label}” is ${key.state}: no new copy of it is ${as}.`, [
        key.state === 'destroyed'
          ? 'Leave it out. A set that still holds it is retired with backup.retire.'
          : 'Leave it out, and retire the sets that hold it (backup.retire); its compromise impact report names them.',
      ]);
    const waiting = this.options.keys.waitingSchedule(id);
    if (waiting)
      throw new CustosError(
        'DESTRUCTION_WAITING',
        `“${key.label}” is waiting to be destroyed (not before ${waiting.not_before.slice(0, 10)}): no new copy of it is ${as}.`,
        ['Leave it out, or cancel its destruction first (key.cancel-destruction, a quorum) if it is to be kept.'],
      );
  }

  /**
   * A restore makes a new copy and moves the key's record to the target token, where the destruction scheduled on its
   * token no longer finds it (KEY_WRONG_TOKEN): no set brings back a key waiting for its destruction.
   */
  private refuseWaitingDestruction(manifest: Manifest): void {
    for (const key of manifest.keys) {
      if (this.stateOf(key.id) === null) continue;
      const waiting = this.options.keys.waitingSchedule(key.id);
      if (waiting)
        throw new CustosError(
          'DESTRUCTION_WAITING',
          `“${key.label}” is waiting to be destroyed (not before ${waiting.not_before.slice(0, 10)}): it is not restored from a backup. Nothing was changed.`,
          ['Cancel its destruction first (key.cancel-destruction, a quorum) if it is to be kept.'],
        );
    }
  }

  /**
   * A compromised key never again applies protection (SP 800-57): no set brings a copy of it back into a token, where
   * anyone with the PIN could use it outside Custos. No override: data it protected is read with a key not compromised.
   */
  private refuseCompromised(manifest: Manifest): void {
    const compromised = manifest.keys.filter((k) => (this.stateOf(k.id) ?? k.state) === 'compromised');
    if (compromised.length > 0)
      throw new CustosError(
        'KEY_STATE_FORBIDS',
        `${compromised.map((k) => `“${k.label}”`).join(', ')} ${compromised.length === 1 ? 'is' : 'are'} recorded as ` +
          `compromised: backup set ${manifest.setId.slice(0, 8)} is not restored. Nothing was changed.`,
        ['Retire the set (backup.retire); its compromise impact report names the sets that hold the key.'],
      );
  }

  private shape(id: string): KeyShape {
    const key = this.options.keys.get(id);
    return {
      id,
      algorithm: key.algorithm,
      usage: key.usage,
      backupable: key.backupable,
      label: key.label,
      publicKey: this.options.keys.publicKey(id),
      kcv: key.kcv,
    };
  }

  private shapeFromManifest(key: ManifestKey): KeyShape {
    return {
      id: key.id,
      algorithm: key.algorithm,
      usage: key.usage,
      backupable: key.backupable,
      label: key.label,
      publicKey: key.publicKey ? Buffer.from(key.publicKey, 'base64') : null,
      kcv: key.kcv,
    };
  }

  private manifestKey(key: KeyShape, kcv: string | null, blob: Buffer): ManifestKey {
    const row = this.options.store.get<{
      state: string;
      created_at: string;
      cryptoperiod_days: number;
      expires_at: string;
      fingerprint: string;
    }>(sql`SELECT state, created_at, cryptoperiod_days, expires_at, fingerprint FROM keys WHERE id = ${key.id}`)!;
    return {
      id: key.id,
      label: key.label,
      algorithm: key.algorithm,
      usage: key.usage,
      backupable: key.backupable,
      state: row.state,
      createdAt: row.created_at,
      cryptoperiodDays: row.cryptoperiod_days,
      expiresAt: row.expires_at,
      kcv,
      publicKey: key.publicKey ? key.publicKey.toString('base64') : null,
      fingerprint: row.fingerprint,
      wrapped: blob.toString('base64'),
    };
  }

  /** The check value the inventory records for the key; null for a key it does not know or records none for. */
  private recordedKcv(id: string): string | null {
    return this.options.keys.known(id) ? this.options.keys.get(id).kcv : null;
  }

  private stateOf(id: string): string | null {
    // Through the inventory, so a state a database writer set (say, a destroyed key made active) is refused.
    return this.options.keys.known(id) ? this.options.keys.get(id).state : null;
  }
}

const SYSTEM_ACTOR: AuditActor = { type: 'system', id: 'system' };

const RESTORE_LABEL_FIX =
  'Restore the set into a token where no key’s label reads as one of its keys’ (Custos has no rename). A label ' +
  'that mixes scripts is refused on every token: ask whoever made the set for one labelled in one script.';

/**
 * Recorded once a restore has found none of the set's keys in the token (no private object under their CKA_IDs),
 * before it unwraps anything: after a crash only a restore that recorded it can have left objects there
 * (reconcile-restore.ts).
 */
export const RESTORE_UNWRAPPING = 'backup.restore.unwrapping';

/** Recorded when a restore destroyed public key objects anyone had planted under its keys' ids (or found them left). */
export const RESTORE_PLANTED_REMOVED = 'backup.restore.planted-removed';

/**
 * Recorded when a restore's token failed half-way and would not take back what it had unwrapped: the proposal
 * stays journaled and reconcile-restore.ts removes what is left at the next quorum login on that token.
 */
export const RESTORE_UNSETTLED = 'backup.restore.unsettled';

/**
 * A restored key is the size and type its manifest records (an AES key's type and CKA_VALUE_LEN where the token
 * states it, an RSA modulus, a curve), as the token reads it back. Where the token states no length, a 40-byte blob
 * that encrypts as AES (proveKey) can only hold 32 bytes: 16 and 24 wrap to fewer, 25 to 31 are no AES key.
 */
function refuseOtherShape(lib: pkcs11js.PKCS11, session: Buffer, key: ManifestKey, handle: Buffer): void {
  const differences = shapeDifferences(lib, session, key.algorithm, handle, true);
  if (differences.length > 0)
    throw new CustosError(
      'RESTORE_MISMATCH',
      `The backup’s copy of “${key.label}” is not the ${key.algorithm} key its manifest records: ${differences.join('; ')}. Nothing was imported.`,
      ['Keep the backup file and its cards apart and tell your security officer: this set was not made by Custos.'],
    );
}

/**
 * An unwrap of a set's blob under the KEK its cards rebuilt and its MAC vouched for: a refusal to open means the set
 * was made so (a forger's set whose MAC fits its own blobs), and says so rather than naming a token failure.
 */
function opened<T>(label: string, unwrap: () => T): T {
  try {
    return unwrap();
  } catch (error) {
    const refusal = openingRefusal(error);
    if (!refusal) throw error;
    throw new CustosError(
      'RESTORE_MISMATCH',
      `The backup’s copy of “${label}” does not open under the key its cards rebuilt (${refusal}). Nothing was imported.`,
      ['Keep the backup file and its cards apart and tell your security officer: this set was not made by Custos.'],
      { cause: error },
    );
  }
}
