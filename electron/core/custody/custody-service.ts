import { createHash, randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { combine, split } from 'shamir-secret-sharing';
import type { AuditActor } from '../../../shared/audit';
import type { TokenRef } from '../../../shared/tokens';
import type { AuditService } from '../audit/audit-service';
import { signedObjectIds } from '../audit/signed-entries';
import { retiredError, type CustodianService } from '../custodians/custodian-service';
import { open, seal } from '../custodians/sealing';
import { tokenObject } from '../audit/audit-log';
import { CustosError, isCustosError } from '../errors';
import { trimPadded } from '../hsm/token-info';
import type { TokenModule } from '../hsm/token-module';
import type { Store } from '../store/database';
import { refuseTampered, signState, stateDocument, stateVerdict, type SignedColumns } from '../store/signed-state';
import { sql } from '../store/sql';
import type { CustodyView, PinAlphabet } from '../../../shared/quorum';
import { drawPin, pinBits, pinLength, throwawayPin } from './pin';
import { tokenProfile } from '../hsm/token-profiles';

export type PinKind = 'user' | 'so';

export interface Holder {
  custodianId: string;
  passphrase: string;
  code: string;
}

/** A custody as the core keeps it: the wire's view with the number of holders, whose names the root adds. */
export type CustodyRecord = Omit<CustodyView, 'holders'> & { holders: number };

/** What an approval contributes: the custodian and their passphrase key (owned and wiped by the caller). */
export interface UnsealKey {
  custodianId: string;
  key: Buffer;
}

const shareAad = (custodyId: string, custodianId: string, pin: PinKind) =>
  `custos/pin-share/v1/${custodyId}/${custodianId}/${pin}`;

export function shareCommitment(custodyId: string, custodianId: string, pin: PinKind, share: Uint8Array): Buffer {
  return createHash('sha256')
    .update(`custos/pin-share-commitment/v1/${custodyId}/${custodianId}/${pin}\n`)
    .update(share)
    .digest();
}

/**
 * Taking a token into custody: new random user and SO PINs from the token's own RNG, each split
 * t-of-n with Shamir, one share per custodian sealed under their passphrase key. Nobody ever
 * sees a whole PIN; the shares are journaled before the token is changed, so a crash cannot
 * leave a token whose PINs nobody holds.
 */
export class CustodyService {
  /** Tokens a custody ceremony is under way on (holders' factors being checked, PINs being set). */
  private readonly taking = new Set<string>();

  constructor(
    private readonly options: {
      store: Store;
      audit: AuditService;
      custodians: CustodianService;
      actor: AuditActor;
      module: () => TokenModule;
      clock: () => Date;
    },
  ) {}

  async take(request: {
    token: TokenRef;
    threshold: number;
    holders: Holder[];
    currentSoPin?: string;
    label?: string;
    pinAlphabet?: PinAlphabet;
    /**
     * Runs once every holder's factors are checked, before anything reaches the token: the caller's own check that
     * the custody is still wanted (a ceremony run aborted while the factors were checked). Throwing stops it there.
     */
    stillWanted?: () => void;
  }): Promise<CustodyRecord> {
    // Refused before anything reaches the token: a typed SO PIN tried there would cost one of its SO PIN tries.
    this.refuseIfInCustody(request.token);
    this.refuseRetiredHolder(request.token, request.holders);
    this.checkHolders(
      request.holders.map((h) => h.custodianId),
      request.threshold,
    );
    this.refuseBlankWithoutSoPin(request.token, request.currentSoPin);
    // One ceremony per token at a time: a second, begun while the first checks factors, would try the SO PIN the
    // first has just replaced (one SO PIN try spent) and leave a custody pending.
    const taking = ceremonyOn(request.token);
    if (this.taking.has(taking)) this.refuseTaking(request.token, 'being taken into custody', 'custody.take');
    this.taking.add(taking);
    // Everyone proves both factors first: nothing on the token changes until all have.
    const keys: UnsealKey[] = [];
    try {
      for (const holder of request.holders)
        keys.push({
          custodianId: holder.custodianId,
          key: await this.options.custodians.verifyFactors(
            holder.custodianId,
            holder.passphrase,
            holder.code,
            'custody',
          ),
        });
      request.stillWanted?.();
      return await this.deal(request, keys);
    } finally {
      this.taking.delete(taking);
      keys.forEach((k) => k.key.fill(0));
    }
  }

  /**
   * Turnover: a new set of holders or a new threshold. The quorum has rebuilt the current SO PIN;
   * the token gets new random PINs dealt to the new holders, and every old share becomes
   * worthless because the token no longer accepts what it rebuilds.
   */
  async redeal(custodyId: string, soPin: Buffer, keys: UnsealKey[], threshold: number): Promise<CustodyRecord> {
    const current = this.record(custodyId);
    if (current.state !== 'active') throw new CustosError('CUSTODY_NOT_FOUND', 'That token is not in active custody.');
    this.checkHolders(
      keys.map((k) => k.custodianId),
      threshold,
    );
    // The new PINs keep the character set the token was taken with.
    const pinAlphabet = current.pinAlphabet ?? 'alphanumeric';
    return this.deal(
      { token: current.token, threshold, currentSoPin: soPin.toString('latin1'), replaces: custodyId, pinAlphabet },
      keys,
    );
  }

  /** This custody is now the token's: whichever was in force before is superseded. Inside the entry's transaction. */
  private activate(custodyId: string, token: TokenRef): void {
    const { store, audit } = this.options;
    const replaced = store.all<{ id: string }>(
      sql`SELECT id FROM custody WHERE token_serial = ${token.serial} AND token_label = ${token.label} AND state = 'active'`,
    );
    for (const { id } of replaced) {
      // Its own entry, so the superseded record is signed with a seq its own object's entries show.
      audit.record(
        { actor: SYSTEM, action: 'custody.supersede', object: { type: 'custody', id }, params: { by: custodyId } },
        () => this.changeState(id, () => store.execute(sql`UPDATE custody SET state = 'superseded' WHERE id = ${id}`)),
      );
    }
    this.changeState(custodyId, () =>
      store.execute(
        sql`UPDATE custody SET state = 'active', activated_at = ${this.options.clock().toISOString()} WHERE id = ${custodyId}`,
      ),
    );
  }

  /** Runs a change of a custody row inside its audit entry's transaction, and signs the new state. */
  private changeState(id: string, change: () => void): void {
    change();
    const row = this.options.store.get<CustodyRow>(sql`SELECT * FROM custody WHERE id = ${id}`)!;
    const holders = shareHolders(this.options.store, id);
    const { seq, signature } = signState(this.options.audit, (at) => custodyDocument(row, at, holders), {
      table: 'custody',
      id,
    });
    this.options.store.execute(sql`UPDATE custody SET state_seq = ${seq}, state_sig = ${signature} WHERE id = ${id}`);
  }

  /**
   * Signs custody records from before they were signed, once: only while the log shows neither an
   * installation setup nor an earlier sealing (as for custodians and keys). Returns how many.
   */
  sealUnsignedOnce(): number {
    const { store, audit } = this.options;
    const unsigned = store.all<{ id: string; threshold: number; state: string }>(
      sql`SELECT id, threshold, state FROM custody WHERE state_sig IS NULL ORDER BY created_at`,
    );
    if (unsigned.length === 0) return 0;
    audit.log();
    if (audit.installationSetUp()) return 0;
    if (
      store.get(
        sql`SELECT 1 AS yes FROM audit_entries WHERE action IN ('installation.setup', 'custody.state.seal') LIMIT 1`,
      )
    )
      return 0;
    store.transaction(() => {
      for (const row of unsigned) {
        audit.record(
          {
            actor: SYSTEM,
            action: 'custody.state.seal',
            object: { type: 'custody', id: row.id },
            params: { threshold: row.threshold, state: row.state },
          },
          () => this.changeState(row.id, () => undefined),
        );
      }
    });
    return unsigned.length;
  }

  /**
   * A blank token that wants its current (factory) SO PIN to be initialised is refused before anyone
   * proves factors, and before the token is tried: a guessed PIN would cost one of its SO PIN tries.
   */
  private refuseBlankWithoutSoPin(token: TokenRef, currentSoPin: string | undefined): void {
    if (currentSoPin) return;
    const module = this.options.module();
    const info = module.run('Reading the token', (lib) => lib.C_GetTokenInfo(module.findSlot(token)));
    if ((info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0) return;
    const profile = tokenProfile({ manufacturer: trimPadded(info.manufacturerID), model: trimPadded(info.model) });
    if (profile.blankInitNeedsSoPin) throw soPinRequired(profile.product, profile.factorySoPinSource);
  }

  /** A custody ceremony already under way on this token: refused before anything reaches it, and recorded. */
  private refuseTaking(token: TokenRef, where: string, action: 'custody.take' | 'custody.settle'): never {
    this.options.audit.record({
      actor: this.options.actor,
      action,
      object: tokenObject(token),
      params: { token },
      result: { status: 'refused', code: 'TOKEN_IN_CUSTODY' },
    });
    throw new CustosError('TOKEN_IN_CUSTODY', `Token ${token.label} is already ${where}; nothing was tried on it.`, [
      'Wait for that custody ceremony to finish; to change its holders afterwards, propose a turnover.',
    ]);
  }

  private refuseIfInCustody(token: TokenRef): void {
    // The audit token's SO PIN is Custos's own: a typed one tried there would only spend its SO PIN tries.
    const auditToken = this.options.audit.auditToken();
    if (auditToken && auditToken.serial === token.serial && auditToken.label === token.label)
      throw new CustosError(
        'TOKEN_RESERVED',
        `“${token.label}” is Custos’s audit token: it signs the audit log and is never taken into custody.`,
        ['Pick another token; nothing was tried on this one.'],
      );
    const found = this.options.store.get<{ id: string }>(
      sql`SELECT id FROM custody WHERE token_serial = ${token.serial} AND token_label = ${token.label} AND state IN ('active', 'pending')`,
    );
    if (!found) return;
    const held = this.record(found.id);
    this.options.audit.record({
      actor: this.options.actor,
      action: 'custody.take',
      object: { type: 'custody', id: held.id },
      params: { token },
      result: { status: 'refused', code: 'TOKEN_IN_CUSTODY' },
    });
    const active = held.state === 'active';
    const where = active ? 'in custody' : 'in a custody a crash left pending';
    throw new CustosError('TOKEN_IN_CUSTODY', `Token ${token.label} is already ${where}; nothing was tried on it.`, [
      active
        ? 'To change its holders or threshold, propose a change of holders (turnover) to its custodians.'
        : 'Settle the pending custody first.',
    ]);
  }

  /** A retired holder is refused, and recorded, before anyone's factors are spent on a custody that cannot be dealt. */
  private refuseRetiredHolder(token: TokenRef, holders: Holder[]): void {
    const retired = holders.map((h) => this.options.custodians.get(h.custodianId)).find((c) => c.retiredAt !== null);
    if (!retired) return;
    this.options.audit.record({
      actor: this.options.actor,
      action: 'custody.take',
      object: tokenObject(token),
      params: { token, retired: retired.id },
      result: { status: 'refused', code: 'CUSTODIAN_RETIRED' },
    });
    throw retiredError(retired.name, retired.retiredAt!);
  }

  private checkHolders(ids: string[], threshold: number): void {
    if (new Set(ids).size !== ids.length)
      throw new CustosError('QUORUM_INVALID', 'Each custodian can hold only one share.', [
        'Remove the duplicate holder.',
      ]);
    if (!Number.isInteger(threshold) || threshold < 2 || threshold > ids.length) {
      throw new CustosError(
        'QUORUM_INVALID',
        `The threshold must be between 2 and the number of holders (${ids.length}).`,
        ['With one, a single person could use the token; with more than the holders, nobody could.'],
      );
    }
    for (const id of ids) {
      const custodian = this.options.custodians.get(id);
      if (custodian.retiredAt !== null) throw retiredError(custodian.name, custodian.retiredAt);
      if (!custodian.roles.includes('custodian'))
        throw new CustosError('NOT_AUTHORIZED', `${custodian.name} is not enrolled as a custodian.`);
    }
  }

  private async deal(
    request: {
      token: TokenRef;
      threshold: number;
      currentSoPin?: string;
      label?: string;
      replaces?: string;
      pinAlphabet?: PinAlphabet;
    },
    keys: UnsealKey[],
  ): Promise<CustodyRecord> {
    const alphabet = request.pinAlphabet ?? 'alphanumeric';
    const module = this.options.module();
    let token = request.token;
    let soPinNow: string;
    const blank = module.run(
      'Reading the token',
      (lib) => (lib.C_GetTokenInfo(module.findSlot(token)).flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0,
    );
    if (blank) {
      // A blank token is initialised with the SO PIN it wants (its factory PIN, typed by the operator) or, where
      // it takes any as the specification says, a throwaway one; either is replaced below by one from its own RNG.
      const slot = module.findSlot(token);
      const limits = module.run('Reading the token', (lib) => lib.C_GetTokenInfo(slot));
      const throwaway = request.currentSoPin
        ? null
        : throwawayPin(pinLength(limits.minPinLen, limits.maxPinLen, alphabet), alphabet);
      soPinNow = request.currentSoPin ?? throwaway!.toString('latin1');
      throwaway?.fill(0);
      const label = (request.label ?? 'Custos custody').slice(0, 32);
      try {
        module.run('Initialising the token', (lib) => lib.C_InitToken(slot, soPinNow, label.padEnd(32, ' ')));
      } catch (error) {
        // A token this version does not know, which wants its SO PIN although blank: ask for it, once.
        if (!request.currentSoPin && error instanceof CustosError && error.code === 'PIN_INCORRECT') {
          throw new CustosError(
            'SO_PIN_REQUIRED',
            'Although blank, this token refused to be initialised without its current SO PIN. Custos tried once with a PIN of its own, which the token may have counted as one wrong SO PIN; nothing else was changed.',
            [
              'Enter the token’s current SO PIN (its factory SO PIN if it was never changed; see the vendor’s documentation). Custos replaces it at once with one nobody sees.',
            ],
          );
        }
        throw error;
      }
      token = module.run('Reading the token', (lib) => {
        const info = lib.C_GetTokenInfo(slot);
        return { serial: trimPadded(info.serialNumber), label: trimPadded(info.label) };
      });
    } else {
      if (!request.currentSoPin)
        throw new CustosError(
          'PIN_INVALID',
          'This token is already initialised: enter its current SO PIN once, so Custos can replace it.',
        );
      soPinNow = request.currentSoPin;
      // A wrong SO PIN must fail here, before any share is journaled for PINs that would never be set.
      module.withSession(token, { write: true, login: { user: 'so', pin: soPinNow } }, () => undefined);
    }
    const info = module.run('Reading the token', (lib) => lib.C_GetTokenInfo(module.findSlot(token)));
    const length = pinLength(info.minPinLen, info.maxPinLen, alphabet);
    const bits = pinBits(length, alphabet);
    const { userPin, soPin } = module.withSession(token, {}, (session, lib) => ({
      userPin: drawPin(lib, session, length, alphabet),
      soPin: drawPin(lib, session, length, alphabet),
    }));
    const custodyId = randomBytes(8).toString('hex');
    try {
      const userShares = await splitWiped(userPin, keys.length, request.threshold);
      const soShares = await splitWiped(soPin, keys.length, request.threshold);
      // Journal first: the sealed shares are durable before the token holds the PINs they rebuild.
      this.options.audit.record(
        {
          actor: this.options.actor,
          action: 'custody.begin',
          object: { type: 'custody', id: custodyId },
          params: {
            token,
            threshold: request.threshold,
            holders: keys.map((k) => k.custodianId),
            pinBits: bits,
            pinAlphabet: alphabet,
            ...(request.replaces ? { replaces: request.replaces } : {}),
          },
        },
        () =>
          // The shares are written before the record is signed: the signature binds who holds which.
          this.changeState(custodyId, () => {
            this.options.store.execute(
              sql`INSERT INTO custody (id, token_serial, token_label, threshold, holders, state, created_at, pin_bits, pin_alphabet) VALUES (${custodyId}, ${token.serial}, ${token.label}, ${request.threshold}, ${keys.length}, ${'pending'}, ${this.options.clock().toISOString()}, ${bits}, ${alphabet})`,
            );
            keys.forEach(({ custodianId, key }, i) => {
              for (const [pin, shares] of [
                ['user', userShares],
                ['so', soShares],
              ] as const) {
                const share = Buffer.from(shares[i]!);
                this.options.store.execute(sql`
                INSERT INTO custody_shares (custody_id, custodian_id, pin, sealed_share, commitment)
                VALUES (${custodyId}, ${custodianId}, ${pin}, ${seal(key, share, shareAad(custodyId, custodianId, pin))}, ${shareCommitment(custodyId, custodianId, pin, share)})`);
                share.fill(0);
              }
            });
          }),
      );
      [...userShares, ...soShares].forEach((s) => s.fill(0));
      try {
        module.withSession(token, { write: true, login: { user: 'so', pin: soPinNow } }, (session, lib) => {
          lib.C_InitPIN(session, userPin.toString('latin1'));
          lib.C_SetPIN(session, soPinNow, soPin.toString('latin1'));
        });
      } catch (error) {
        throw setHalfway(error, request.threshold);
      }
      try {
        this.options.audit.record(
          {
            actor: this.options.actor,
            action: 'custody.take',
            object: { type: 'custody', id: custodyId },
            params: { token },
          },
          () => this.activate(custodyId, token),
        );
      } catch (error) {
        // The token's PINs are the custody's now: the cause's own "nothing was written" is true of the database only.
        throw new CustosError(
          'OPERATION_UNRECORDED',
          `The token now has the custody's PINs, but Custos could not record the custody as active (${
            isCustosError(error) ? error.code : 'an unexpected problem'
          }). The custody stays pending.`,
          [
            'Do not take the token into custody again. Fix the cause first: free space on the disk that holds the ' +
              'data directory, or put the audit token back.',
            `Then settle the pending custody: ${request.threshold} of its holders give their factors (the Ceremonies ` +
              'screen, under “Waiting for someone”, or custos custody settle).',
          ],
          { cause: error },
        );
      }
      this.options.audit.checkpoint('custody ceremony');
      return this.record(custodyId);
    } finally {
      userPin.fill(0);
      soPin.fill(0);
    }
  }

  /**
   * Settles a custody that a crash left pending (journaled, never activated): t of its holders
   * prove both factors, its user and SO PINs are rebuilt and tried on the token. Both accepted:
   * the token got them, so this custody becomes the active one. Both refused: the token never
   * changed, so it is set aside. One of each: the token is half-changed, which people must sort out
   * (nothing is changed, the finding says which PIN is which). Each try is one login attempt.
   */
  async settle(
    custodyId: string,
    holders: Holder[],
  ): Promise<{ outcome: 'activated' | 'set-aside'; record: CustodyRecord }> {
    const custody = this.record(custodyId);
    if (custody.state !== 'pending')
      throw new CustosError('CUSTODY_NOT_FOUND', 'Only a custody left pending can be settled.');
    // One holder giving two codes is one holder: refused before anyone's factors are tried.
    if (new Set(holders.map((h) => h.custodianId)).size !== holders.length)
      throw new CustosError('QUORUM_INVALID', 'Each holder counts once.', ['Remove the holder named twice.']);
    // One ceremony per token at a time: a second settle begun meanwhile would try its PINs again (login tries spent)
    // and then supersede the very custody the first had just activated.
    const taking = ceremonyOn(custody.token);
    if (this.taking.has(taking)) this.refuseTaking(custody.token, 'in a custody ceremony', 'custody.settle');
    this.taking.add(taking);
    const keys: UnsealKey[] = [];
    const pins: Buffer[] = [];
    try {
      for (const holder of holders)
        keys.push({
          custodianId: holder.custodianId,
          key: await this.options.custodians.verifyFactors(
            holder.custodianId,
            holder.passphrase,
            holder.code,
            `settle ${custodyId}`,
          ),
        });
      if (this.record(custodyId).state !== 'pending')
        throw new CustosError('CUSTODY_NOT_FOUND', 'Only a custody left pending can be settled.');
      const user = await this.rebuildPin(custodyId, 'user', keys);
      const so = await this.rebuildPin(custodyId, 'so', keys);
      pins.push(user, so);
      const module = this.options.module();
      const works = (kind: PinKind, pin: Buffer) => {
        try {
          return module.withSession(
            custody.token,
            { write: kind === 'so', login: { user: kind, pin: pin.toString('latin1') } },
            () => true,
          );
        } catch (error) {
          // A blank token cut off before C_InitPIN has no user PIN at all: it never took this custody's either.
          const refused = error instanceof CustosError && error.code === 'PIN_INCORRECT';
          const noUserPin = error instanceof CustosError && kind === 'user' && error.code === 'TOKEN_NOT_INITIALIZED';
          if (refused || noUserPin) return false;
          throw error;
        }
      };
      const [userOk, soOk] = [works('user', user), works('so', so)];
      const object = { type: 'custody', id: custodyId };
      if (userOk && soOk) {
        this.options.audit.record(
          { actor: this.options.actor, action: 'custody.settle', object, params: { outcome: 'activated' } },
          () => this.activate(custodyId, custody.token),
        );
        this.options.audit.checkpoint('custody settled');
        return { outcome: 'activated', record: this.record(custodyId) };
      }
      // A first custody cut off halfway has no custody in force to go back to: its SO PIN is the one from before the
      // take (a blank token's died with the process), so it can never be activated. Left pending, it could not be
      // settled either: it is set aside as well, and the token re-initialised or taken again with that SO PIN.
      if ((!userOk && !soOk) || !this.inForceBesides(custodyId, custody.token)) {
        const params = userOk === soOk ? { outcome: 'set-aside' } : { outcome: 'set-aside', halfChanged: true };
        this.options.audit.record({ actor: this.options.actor, action: 'custody.settle', object, params }, () =>
          this.changeState(custodyId, () =>
            this.options.store.execute(sql`UPDATE custody SET state = 'superseded' WHERE id = ${custodyId}`),
          ),
        );
        this.options.audit.checkpoint('custody settled');
        return { outcome: 'set-aside', record: this.record(custodyId) };
      }
      this.options.audit.record({
        actor: this.options.actor,
        action: 'custody.settle',
        object,
        result: { status: 'failed', code: 'CUSTODY_HALF_CHANGED' },
      });
      this.options.audit.checkpoint('custody settled');
      throw new CustosError(
        'CUSTODY_HALF_CHANGED',
        `The token accepts this custody’s ${userOk ? 'user' : 'SO'} PIN but not its ${userOk ? 'SO' : 'user'} PIN: it was interrupted halfway. Nothing was changed.`,
        [
          userOk
            ? 'The SO PIN is still the previous custody’s: its holders can rebuild it and re-deal the token (Change the holders).'
            : 'Call your security officer: the user PIN was not replaced.',
        ],
      );
    } finally {
      this.taking.delete(taking);
      keys.forEach((k) => k.key.fill(0));
      pins.forEach((p) => p.fill(0));
    }
  }

  /** Whether another custody of this token is in force, as the audit key signed it. */
  private inForceBesides(custodyId: string, token: TokenRef): boolean {
    return this.options.store
      .all<{ id: string }>(
        sql`SELECT id FROM custody
            WHERE token_serial = ${token.serial} AND token_label = ${token.label} AND id != ${custodyId}`,
      )
      .some(({ id }) => this.record(id).state === 'active');
  }

  /**
   * Rebuilds a PIN from the approvers' shares: each share is unsealed and checked against its
   * commitment (a wrong share names its holder). The caller logs in with it and overwrites it.
   */
  async rebuildPin(custodyId: string, pin: PinKind, approvals: UnsealKey[]): Promise<Buffer> {
    const custody = this.record(custodyId);
    if (approvals.length < custody.threshold) {
      throw new CustosError('QUORUM_NOT_MET', `${approvals.length} of the ${custody.threshold} approvals needed.`, [
        'Ask more custodians to approve.',
      ]);
    }
    // Shares were dealt for the signed threshold: fewer held shares than that means the deal was changed.
    const held = this.options.store.get<{ n: number }>(
      sql`SELECT count(*) AS n FROM custody_shares WHERE custody_id = ${custodyId} AND pin = ${pin}`,
    )!.n;
    if (held < custody.threshold || held !== custody.holders) {
      return refuseTampered(
        this.options.audit,
        'CUSTODY_TAMPERED',
        { type: 'custody', id: custodyId },
        `The share list of custody ${custodyId}`,
        'forged',
      );
    }
    const shares: Uint8Array[] = [];
    try {
      for (const { custodianId, key } of approvals) {
        const name = this.options.custodians.get(custodianId).name;
        const share = this.unsealShare(custodyId, custodianId, pin, key, name);
        // The library insists on plain Uint8Arrays (a Buffer from another realm fails its check).
        shares.push(Uint8Array.from(share));
        share.fill(0);
      }
      const secret = await combine(shares);
      const pinBytes = Buffer.from(secret);
      secret.fill(0);
      return pinBytes;
    } finally {
      shares.forEach((s) => s.fill(0));
    }
  }

  /** One holder's share of a PIN, checked against its commitment; the caller overwrites it. */
  unsealShare(custodyId: string, custodianId: string, pin: PinKind, key: Buffer, name = custodianId): Buffer {
    return unsealShare(this.options.store, custodyId, custodianId, pin, key, name);
  }

  /**
   * Custody records with their holders, active first. A custody the signed log records but the table no longer holds
   * (its row deleted outside Custos) refuses the list (CUSTODY_TAMPERED, recorded) rather than leave it out unseen.
   */
  list(): (CustodyRecord & { holderIds: string[] })[] {
    const ids = this.options.store
      .all<{ id: string }>(sql`SELECT id FROM custody ORDER BY state = 'active' DESC, created_at DESC`)
      .map(({ id }) => id);
    const held = new Set(ids);
    const gone = [...this.recordedIds()].find((id) => !held.has(id));
    if (gone !== undefined) this.refuseDeleted(gone);
    return ids.map((id) => ({
      ...this.record(id),
      holderIds: this.options.store
        .all<{ custodian_id: string }>(
          sql`SELECT DISTINCT custodian_id FROM custody_shares WHERE custody_id = ${id} ORDER BY custodian_id`,
        )
        .map((r) => r.custodian_id),
    }));
  }

  /** The custody records the signed log says were made (journaled, taken, sealed at an upgrade) or its heads name. */
  private recordedIds(): Set<string> {
    const ids = signedObjectIds(this.options.store, this.options.audit, 'custody', CREATING_ENTRIES);
    for (const id of this.options.audit.recordsNamed('custody')) ids.add(id);
    return ids;
  }

  private refuseDeleted(id: string): never {
    return refuseTampered(
      this.options.audit,
      'CUSTODY_TAMPERED',
      { type: 'custody', id },
      `The record of custody ${id}`,
      'deleted',
    );
  }

  /**
   * The custody as the audit key signed it, in the latest state the log recorded for it; a
   * threshold, holder count, token or state a database writer set is refused (CUSTODY_TAMPERED).
   */
  record(custodyId: string): CustodyRecord {
    const row = this.options.store.get<CustodyRow>(sql`SELECT * FROM custody WHERE id = ${custodyId}`);
    if (!row && this.recordedIds().has(custodyId)) this.refuseDeleted(custodyId);
    if (!row) throw new CustosError('CUSTODY_NOT_FOUND', 'There is no such custody record.');
    const latest = this.options.store.get<{ seq: number | null }>(sql`
      SELECT max(seq) AS seq FROM audit_entries WHERE object = ${`custody:${custodyId}`} AND result = 'ok'
        AND action IN ('custody.begin', 'custody.take', 'custody.settle', 'custody.supersede', 'custody.state.seal')`)?.seq;
    const holders = shareHolders(this.options.store, custodyId);
    const signedWithHolders = stateVerdict(
      this.options.audit,
      row,
      (seq) => custodyDocument(row, seq, holders),
      latest,
      { table: 'custody', id: custodyId },
    );
    // A record last signed before share holders were signed with it keeps its earlier document; one signed with them
    // never verifies without them, so a share moved to another holder cannot fall back to it.
    const verdict =
      signedWithHolders === 'forged'
        ? stateVerdict(this.options.audit, row, (seq) => custodyDocument(row, seq), latest, {
            table: 'custody',
            id: custodyId,
          })
        : signedWithHolders;
    if (verdict !== 'authentic')
      return refuseTampered(
        this.options.audit,
        'CUSTODY_TAMPERED',
        { type: 'custody', id: custodyId },
        `The stored record of custody ${custodyId}`,
        verdict,
      );
    return {
      id: row.id,
      token: { serial: row.token_serial, label: row.token_label },
      threshold: row.threshold,
      holders: row.holders,
      state: row.state,
      pinBits: row.pin_bits,
      pinAlphabet: row.pin_alphabet,
    };
  }
}

const SYSTEM = { type: 'system', id: 'system' } as const;
/** The entries that add a custody's row or record it as it stands (Custos never deletes one). */
const CREATING_ENTRIES = ['custody.begin', 'custody.take', 'custody.state.seal'];

function soPinRequired(product: string, source: string | null): CustosError {
  return new CustosError(
    'SO_PIN_REQUIRED',
    `Although blank, ${product} must be given its current SO PIN to be initialised; nothing was tried on it.`,
    [
      `Enter the token’s current SO PIN (its factory SO PIN if it was never changed${source ? `; ${source}` : ''}). Custos replaces it at once with one nobody sees.`,
    ],
  );
}

interface CustodyRow extends SignedColumns {
  id: string;
  token_serial: string;
  token_label: string;
  threshold: number;
  holders: number;
  state: CustodyRecord['state'];
  created_at: string;
  activated_at: string | null;
  pin_bits: number | null;
  pin_alphabet: PinAlphabet | null;
}

/** What the audit key signs: every column of the custody record. */
/**
 * Who holds a share of which PIN (`custodian:pin`, sorted): signed with the record, so a share row moved to another
 * custodian's name (who would then count as a holder when approving, and be named as one in the signed custody report)
 * makes the record refused.
 */
function shareHolders(store: Store, custodyId: string): string[] {
  return store
    .all<{ holder: string }>(
      sql`SELECT custodian_id || ':' || pin AS holder FROM custody_shares WHERE custody_id = ${custodyId} ORDER BY holder`,
    )
    .map((r) => r.holder);
}

function custodyDocument(row: CustodyRow, seq: number, shareHolders?: string[]): Buffer {
  return stateDocument(
    'custos/custody-state',
    {
      id: row.id,
      tokenSerial: row.token_serial,
      tokenLabel: row.token_label,
      threshold: row.threshold,
      holders: row.holders,
      state: row.state,
      createdAt: row.created_at,
      activatedAt: row.activated_at,
      // Signed from the version that records it; a record from before keeps its earlier document.
      ...(row.pin_bits !== null ? { pinBits: row.pin_bits } : {}),
      ...(row.pin_alphabet !== null ? { pinAlphabet: row.pin_alphabet } : {}),
      ...(shareHolders ? { shareHolders } : {}),
    },
    seq,
  );
}

/** One holder's share, unsealed with their passphrase key and checked against its commitment. */
export function unsealShare(
  store: Store,
  custodyId: string,
  custodianId: string,
  pin: PinKind,
  key: Buffer,
  name = custodianId,
): Buffer {
  const row = store.get<{ sealed_share: Buffer; commitment: Buffer }>(
    sql`SELECT sealed_share, commitment FROM custody_shares WHERE custody_id = ${custodyId} AND custodian_id = ${custodianId} AND pin = ${pin}`,
  );
  if (!row) throw new CustosError('SHARE_MISMATCH', `${name} holds no share of this token’s PIN.`);
  const share = open(key, row.sealed_share, shareAad(custodyId, custodianId, pin));
  if (!shareCommitment(custodyId, custodianId, pin, share).equals(row.commitment)) {
    share.fill(0);
    throw new CustosError('SHARE_MISMATCH', `The share of ${name} does not match its commitment.`, [
      'Stop and verify the audit log: the stored share was changed.',
    ]);
  }
  return share;
}

/** split() with a plain copy of the secret, overwritten as soon as the shares exist. */
/**
 * The token failed (pulled out, an error) while it took the custody's PINs, after their shares were journaled: it may
 * hold the new user PIN (C_InitPIN) without the new SO PIN (C_SetPIN), so the cause's own words ("check it is attached,
 * then refresh") would read as if nothing changed. The custody stays pending, and settling it says what the token took.
 */
function setHalfway(error: unknown, threshold: number): CustosError {
  const code = isCustosError(error) ? error.code : 'INTERNAL';
  const cause = isCustosError(error) ? error.message.replace(/\.$/, '') : 'an unexpected problem';
  return new CustosError(
    code,
    `The token failed while it took the custody's new PINs (${cause}): it may now hold the new user PIN, the new ` +
      'SO PIN, both or neither, so the PINs in force before may no longer open it. The custody stays pending.',
    [
      'Do not take the token into custody again. Put the token back (or fix the cause) and restart Custos.',
      `Then settle the pending custody: ${threshold} of its holders give their factors (the Ceremonies screen, under ` +
        '“Waiting for someone”, or custos custody settle); it says which PINs the token took.',
    ],
    { cause: error },
  );
}

async function splitWiped(secret: Buffer, shares: number, threshold: number): Promise<Uint8Array[]> {
  const copy = Uint8Array.from(secret);
  try {
    return await split(copy, shares, threshold);
  } finally {
    copy.fill(0);
  }
}

/** The key of a custody ceremony under way on a token (taking, settling): its serial and label. */
function ceremonyOn(token: TokenRef): string {
  return `${token.serial}\u0000${token.label}`;
}
