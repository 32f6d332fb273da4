import pkcs11js from 'pkcs11js';
import { GenerateParams, RotateParams } from '../../../shared/actions';
import { KeyUsage, type KeyRecord } from '../../../shared/keys';
import type { TokenRef } from '../../../shared/tokens';
import { CustosError } from '../errors';
import { privateKeyObject } from '../hsm/find-objects';
import { refusalName, tokenStep } from '../hsm/pkcs11-errors';
import { NEEDS_LOGIN, type QuorumReconciler } from '../quorum/quorum-service';
import type { Store } from '../store/database';
import { attributeDifferences } from './key-attributes';
import {
  clearPlanted,
  examineGenerated,
  generateInToken,
  generationNeeds,
  publicKeyObjectsHolding,
  refuseDisallowed,
  registration,
  type Lineage,
} from './key-generation';
import { refuseKeyChange } from './key-change';
import type { KeyAction, KeyInventory } from './key-inventory';

/**
 * What a key of each usage applies protection with (SP 800-57 "originator usage"): the attribute a
 * rotated key loses, and the class of the object that carries it. Processing (verify, decrypt,
 * unwrap) stays on.
 */
const PROTECTS: Record<KeyUsage, { attribute: number; name: string; pairClass: number }> = {
  sign: { attribute: pkcs11js.CKA_SIGN, name: 'CKA_SIGN', pairClass: pkcs11js.CKO_PRIVATE_KEY },
  encrypt: { attribute: pkcs11js.CKA_ENCRYPT, name: 'CKA_ENCRYPT', pairClass: pkcs11js.CKO_PUBLIC_KEY },
  wrap: { attribute: pkcs11js.CKA_WRAP, name: 'CKA_WRAP', pairClass: pkcs11js.CKO_PUBLIC_KEY },
};

const symmetric = (algorithm: string) => algorithm === 'AES-256';

/** The successor: the old key's label, usage, backup-ability and cryptoperiod; its algorithm unless changed. */
function successorParams(inventory: KeyInventory, key: KeyRecord, p: RotateParams): GenerateParams {
  return GenerateParams.parse({
    algorithm: p.algorithm ?? key.algorithm,
    label: key.label,
    usage: key.usage,
    backupable: key.backupable,
    cryptoperiodDays: inventory.cryptoperiodDays(key.id),
    ckaId: p.ckaId,
    ...(p.acceptUnrestrictedExport === undefined ? {} : { acceptUnrestrictedExport: p.acceptUnrestrictedExport }),
  });
}

/**
 * The rotation ceremony (SP 800-57 §5.3): the successor generated in the same token with the same
 * custody attributes, the old key made post-operational, both recorded as versions of one family.
 * The old key's protecting attribute is turned off on the token where it allows; keys are made
 * CKA_MODIFIABLE false, and a token that enforces that (SoftHSM2 does) refuses, so then only Custos
 * refuses the old key (it is deactivated, and Custos uses only active keys): the outcome and the
 * key's audit entry say which.
 */
export function keyRotation(store: Store, now: () => Date, inventory: KeyInventory): KeyAction {
  const ready = (params: unknown, token: TokenRef) => {
    const p = RotateParams.parse(params);
    const key = inventory.checkToken(p.keyId, token);
    refuseKeyChange(key, 'key.rotate', p.algorithm ?? key.algorithm);
    const next = successorParams(inventory, key, p);
    if (symmetric(next.algorithm) !== symmetric(key.algorithm)) {
      throw new CustosError(
        'KEY_TYPE_UNSUITED',
        `“${key.label}” is an ${key.algorithm} key; its successor cannot be ${next.algorithm} (a ${symmetric(key.algorithm) ? 'secret key cannot become a key pair' : 'key pair cannot become a secret key'}).`,
        ['Name an algorithm of the same kind, or leave it out to keep the same one.'],
      );
    }
    // Another algorithm than the key's: its policy, which the shared rule leaves to the core.
    refuseDisallowed(next.algorithm, now());
    return { p, key, next };
  };
  return {
    ready: (params, token) => void ready(params, token),
    needs: (params) => {
      const p = RotateParams.parse(params);
      return generationNeeds(successorParams(inventory, inventory.get(p.keyId), p));
    },
    run: ({ session, lib, params, proposalId, token }) => {
      const { key, next } = ready(params, token);
      const protecting = oldProtectingObjects(lib, session, key, inventory);
      clearPlanted(lib, session, next, (planted) =>
        inventory.recordPlantedRemoved(proposalId, { keyId: next.ckaId, token, ...planted }),
      );
      const { spki, kcv, trustedOnly } = generateInToken(lib, session, next);
      const limit = postOperational(lib, session, protecting, KeyUsage.parse(key.usage));
      return rotated(store, inventory, proposalId, key, next, { spki, kcv }, limit, now(), trustedOnly);
    },
  };
}

/**
 * The old key's objects that apply protection; found before anything is generated, so a missing one costs nothing.
 * Anyone can create public objects under its id with no PIN, and the token may list them first: a secret or private
 * half counts only as a private object (CKA_PRIVATE true, which takes the PIN). A public half (encrypt, wrap) is public
 * by nature, so it is every public key object under the id holding the recorded public key, the private half proving
 * the key is there: a copy anyone made of it is limited too, and the token enforces the limit only if it does on all.
 */
function oldProtectingObjects(lib: pkcs11js.PKCS11, session: Buffer, key: KeyRecord, inventory: KeyInventory) {
  const missing = () =>
    new CustosError('KEY_OBJECTS_MISSING', `The token no longer holds “${key.label}”; nothing was generated.`);
  const usage = KeyUsage.parse(key.usage);
  const secret = symmetric(key.algorithm);
  const own = privateKeyObject(lib, session, secret ? pkcs11js.CKO_SECRET_KEY : pkcs11js.CKO_PRIVATE_KEY, key.id);
  if (!own) throw missing();
  if (secret || PROTECTS[usage].pairClass === pkcs11js.CKO_PRIVATE_KEY) return [own];
  const recorded = inventory.publicKey(key.id);
  const publicHalves = recorded === null ? [] : publicKeyObjectsHolding(lib, session, key, recorded);
  if (publicHalves.length === 0) throw missing();
  return publicHalves;
}

interface PostOperational {
  turnedOff: string[];
  postOperational: 'token' | 'custos';
  tokenRefusal: string | null;
}

/**
 * Turns the old key's protecting use off on the token (C_SetAttributeValue), read back, on each of its objects. A token
 * that refuses (CKA_MODIFIABLE false is enforced) or ignores it on any of them leaves the limit to Custos alone.
 */
function postOperational(lib: pkcs11js.PKCS11, session: Buffer, handles: Buffer[], usage: KeyUsage): PostOperational {
  const { attribute, name } = PROTECTS[usage];
  const off = [{ type: attribute, value: false }];
  let tokenRefusal: string | null = null;
  for (const handle of handles) {
    try {
      tokenStep('C_SetAttributeValue', { attribute: name }, () => lib.C_SetAttributeValue(session, handle, off));
    } catch (error) {
      const refusal = refusalName(error);
      if (!refusal) throw error;
      tokenRefusal ??= refusal;
      continue;
    }
    if (attributeDifferences(lib, session, handle, off).length > 0) tokenRefusal ??= 'accepted but not applied';
  }
  return { turnedOff: [name], postOperational: tokenRefusal ? 'custos' : 'token', tokenRefusal };
}

/** The outcome and the commit: the old key's entry first (deactivated, rotatedTo), then the successor's row. */
function rotated(
  store: Store,
  inventory: KeyInventory,
  proposalId: string,
  key: KeyRecord,
  next: GenerateParams,
  made: { spki: Buffer | null; kcv: string | null },
  limit: PostOperational,
  created: Date,
  trustedOnly?: boolean,
) {
  const lineage: Lineage = { family: key.family, version: key.version + 1, previous: key.id, state: 'active' };
  const registered = registration(store, inventory, proposalId, next, made.spki, made.kcv, created, lineage);
  const { fingerprint, kcv } = registered.result;
  return {
    result: {
      keyId: key.id,
      successorId: next.ckaId,
      label: next.label,
      algorithm: next.algorithm,
      family: lineage.family,
      version: lineage.version,
      fingerprint,
      kcv,
      ...limit,
      ...(next.backupable && trustedOnly !== undefined ? { exportRestrictedToTrustedKeys: trustedOnly } : {}),
    },
    commit: () => {
      inventory.markRotated(key.id, next.ckaId, limit.postOperational, {
        turnedOff: limit.turnedOff,
        tokenRefusal: limit.tokenRefusal,
      });
      registered.commit();
    },
  };
}

/**
 * After a crash during a rotation: the successor is looked for by its bound CKA_ID, at a quorum
 * login (the old key's private or secret object must be reached too). Found, the old key's limit
 * is set again (idempotent) and both are recorded; a key pair not there means nothing happened.
 */
export function reconcileRotation(store: Store, now: () => Date, inventory: KeyInventory): QuorumReconciler {
  return ({ session, lib, params, proposalId, loggedIn, token }) => {
    if (!loggedIn) return NEEDS_LOGIN;
    const p = RotateParams.parse(params);
    const key = inventory.get(p.keyId);
    const next = successorParams(inventory, key, p);
    const found = examineGenerated(lib, session, next, true, (planted) =>
      inventory.recordPlantedRemoved(proposalId, { keyId: next.ckaId, token, ...planted }),
    );
    if (found === null || found === NEEDS_LOGIN) return null;
    const protecting = oldProtectingObjects(lib, session, key, inventory);
    const limit = postOperational(lib, session, protecting, KeyUsage.parse(key.usage));
    const outcome = rotated(store, inventory, proposalId, key, next, found, limit, now());
    return { ...outcome, result: { ...outcome.result, reconciled: true } };
  };
}
