import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { MechanismInfo } from '../../../shared/tokens';
import type { AuditService } from '../audit/audit-service';
import type { QuorumReconciler } from '../quorum/quorum-service';
import { firstOffered, type MechanismOption, type Need } from '../hsm/capabilities';
import { CustosError } from '../errors';
import { destroyed, everyObject, findObjects as find, privateKeyObject } from '../hsm/find-objects';
import { CKM_EDDSA } from '../hsm/mechanisms';
import { refusalName, tokenStep } from '../hsm/pkcs11-errors';
import { KeyUsage } from '../../../shared/keys';
import { CKA_COPYABLE, CKA_MODIFIABLE, keyAgreement, leastPrivilege, withLockdown } from '../keys/key-attributes';
import { checkValue } from '../keys/check-value';
import { algorithmOfPublicKey } from '../keys/public-key-algorithm';
import { CURVES, publicKeySpki, signatureOptions } from '../keys/key-generation';

/**
 * Token-side steps of backup and restore. AES key wrap with padding (RFC 5649) is chosen from
 * what the token says it offers: PKCS#11 3.0 names it CKM_AES_KEY_WRAP_KWP (0x210B); tokens of
 * the 2.40 era, SoftHSM2 2.6 among them, offer it as CKM_AES_KEY_WRAP_PAD (0x210A) — that this
 * is RFC 5649 on SoftHSM2 is checked against node:crypto in the tests.
 */
const WRAP_CANDIDATES = [
  { type: 0x210b, name: 'CKM_AES_KEY_WRAP_KWP' },
  { type: 0x210a, name: 'CKM_AES_KEY_WRAP_PAD' },
] as const;
export type WrapMechanism = { type: number; name: string };

const CKK_EC_EDWARDS = 0x40;
const t = (type: number, value: pkcs11js.Template[number]['value']) => ({ type, value });

/** The RFC 5649 mechanisms, best first, each needed to both wrap the keys and unwrap them again (verify, restore). */
const WRAP_OPTIONS = WRAP_CANDIDATES.map((c) => ({ ...c, fn: ['wrap', 'unwrap'] as const }));

/** The RFC 5649 mechanisms for one direction only (key transport wraps or unwraps, never both in one token). */
export const kwpOptions = (fn: 'wrap' | 'unwrap'): MechanismOption[] => WRAP_CANDIDATES.map((c) => ({ ...c, fn }));

/** What a backup needs from the token: what chooseWrapMechanism picks from, checked when proposed. */
export const BACKUP_NEEDS: Need[] = [
  {
    kind: 'mechanism',
    purpose: 'Wrapping keys for a backup and unwrapping them to verify it (AES key wrap with padding, RFC 5649)',
    anyOf: WRAP_OPTIONS,
  },
];

/**
 * What restoring these keys needs from the target token: the set's wrap mechanism to unwrap, what
 * proves each key afterwards (an AES check value, a signature), and
 * CKA_WRAP_WITH_TRUSTED for backup-able keys (their restored copies carry it, as when generated).
 */
export function restoreNeeds(
  mechanism: WrapMechanism,
  keys: readonly { algorithm: string; label: string; backupable: boolean }[],
): Need[] {
  const needs: Need[] = [
    {
      kind: 'mechanism',
      purpose: `Unwrapping the backup’s keys (wrapped with ${mechanism.name})`,
      anyOf: [{ type: mechanism.type, fn: 'unwrap' }],
    },
  ];
  for (const key of keys) {
    // An AES key is proven by its check value, a key pair by a signature (an RSA key by its modulus too).
    const proof: MechanismOption[] = isSecret(key.algorithm)
      ? [{ type: pkcs11js.CKM_AES_ECB, fn: 'encrypt' }]
      : signatureOptions(key.algorithm);
    if (proof.length > 0)
      needs.push({
        kind: 'mechanism',
        purpose: `Proving “${key.label}” (${key.algorithm}) after it is restored`,
        anyOf: proof,
      });
  }
  if (keys.some((k) => k.backupable)) needs.push({ kind: 'wrap-with-trusted', purpose: 'Restoring backup-able keys' });
  return needs;
}

export function chooseWrapMechanism(offered: MechanismInfo[]): WrapMechanism {
  const chosen = firstOffered(offered, WRAP_OPTIONS);
  if (chosen) return { type: chosen.type, name: chosen.name };
  throw new CustosError(
    'MECHANISM_INVALID',
    'This token offers no AES key wrap with padding (RFC 5649), so it cannot make or read Custos backups.',
    ['Use a token that offers CKM_AES_KEY_WRAP_KWP or CKM_AES_KEY_WRAP_PAD.'],
  );
}

/** The key as the inventory knows it: what backup and restore need to find and prove it. */
export interface KeyShape {
  id: string;
  algorithm: string;
  usage: string;
  backupable: boolean;
  label: string;
  publicKey: Buffer | null;
  kcv: string | null;
}

/**
 * In an SO session: a fresh 256-bit KEK from the token's RNG, imported as a trusted, wrap-only,
 * non-extractable session object (only the SO may mark a key trusted, and keys generated
 * backup-able may be wrapped only by a trusted key). Returns the KEK bytes; the caller splits and
 * overwrites them, and wraps in the same session (continueAsUser).
 */
export function createTrustedKek(lib: pkcs11js.PKCS11, session: Buffer, setId: string): Buffer {
  const kek = lib.C_GenerateRandom(session, Buffer.alloc(32));
  importTrustedKek(lib, session, setId, kek, `Custos backup KEK ${setId.slice(0, 8)} (transient)`);
  return kek;
}

/**
 * In an SO session: the given 256-bit value as a trusted, wrap-only, non-extractable object (a backup's KEK, a key
 * transport's wrapping key). The SO can make public objects only, and SoftHSM2 stores a public token object's value
 * unencrypted in its files, so it is a session object (`persist` only makes what an older Custos left, for tests): it
 * never reaches a file, no other process sees it, and it dies with the session, a crash included. Neither copyable nor
 * modifiable, or a session could clone it with CKA_UNWRAP on and keep the clone.
 */
export function importTrustedKek(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  id: string,
  value: Buffer,
  label: string,
  persist = false,
): void {
  withLockdown((lockdown) => createTrustedObject(lib, session, { id, value, label, persist }, lockdown));
}

/** Within the SO's session that made a session KEK: the user logs in there, so the KEK is still there to wrap with. */
export function continueAsUser(lib: pkcs11js.PKCS11, session: Buffer, userPin: string): void {
  lib.C_Logout(session);
  lib.C_Login(session, pkcs11js.CKU_USER, userPin);
}

function createTrustedObject(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  kek: { id: string; value: Buffer; label: string; persist: boolean },
  lockdown: boolean,
): void {
  lib.C_CreateObject(session, [
    t(pkcs11js.CKA_CLASS, pkcs11js.CKO_SECRET_KEY),
    t(pkcs11js.CKA_KEY_TYPE, pkcs11js.CKK_AES),
    t(pkcs11js.CKA_TOKEN, kek.persist),
    t(pkcs11js.CKA_PRIVATE, false),
    t(pkcs11js.CKA_ID, Buffer.from(kek.id, 'hex')),
    t(pkcs11js.CKA_LABEL, kek.label),
    t(pkcs11js.CKA_VALUE, kek.value),
    t(pkcs11js.CKA_TRUSTED, true),
    t(pkcs11js.CKA_WRAP, true),
    t(pkcs11js.CKA_UNWRAP, false),
    t(pkcs11js.CKA_ENCRYPT, false),
    t(pkcs11js.CKA_DECRYPT, false),
    // SoftHSM2 leaves these on unless told: the KEK would then also compute MACs (CKM_AES_CMAC).
    t(pkcs11js.CKA_SIGN, false),
    t(pkcs11js.CKA_VERIFY, false),
    t(pkcs11js.CKA_DERIVE, false),
    t(pkcs11js.CKA_SENSITIVE, true),
    t(pkcs11js.CKA_EXTRACTABLE, false),
    ...(lockdown ? [t(CKA_COPYABLE, false), t(CKA_MODIFIABLE, false)] : []),
  ]);
}

/** The labels of the transient trusted keys Custos makes; what removeLeftoverKeks looks for. */
const LEFTOVER_LABELS = ['Custos backup KEK', 'Custos transport KEK'];

export function findKek(lib: pkcs11js.PKCS11, session: Buffer, setId: string): Buffer {
  const [kek] = find(lib, session, [
    t(pkcs11js.CKA_CLASS, pkcs11js.CKO_SECRET_KEY),
    t(pkcs11js.CKA_ID, Buffer.from(setId, 'hex')),
    t(pkcs11js.CKA_TRUSTED, true),
  ]);
  if (!kek) throw new CustosError('KEY_OBJECTS_MISSING', 'The backup’s wrapping key is not in the token.');
  return kek;
}

/** For restore: the rebuilt KEK as a session object that can only unwrap; gone when the session closes. */
export function importUnwrapKek(lib: pkcs11js.PKCS11, session: Buffer, kek: Uint8Array): Buffer {
  const value = Buffer.from(kek);
  try {
    return createUnwrapKek(lib, session, value);
  } finally {
    value.fill(0);
  }
}

function createUnwrapKek(lib: pkcs11js.PKCS11, session: Buffer, value: Buffer): Buffer {
  return lib.C_CreateObject(session, [
    t(pkcs11js.CKA_CLASS, pkcs11js.CKO_SECRET_KEY),
    t(pkcs11js.CKA_KEY_TYPE, pkcs11js.CKK_AES),
    t(pkcs11js.CKA_TOKEN, false),
    t(pkcs11js.CKA_VALUE, value),
    t(pkcs11js.CKA_UNWRAP, true),
    t(pkcs11js.CKA_WRAP, false),
    t(pkcs11js.CKA_SENSITIVE, true),
    t(pkcs11js.CKA_EXTRACTABLE, false),
  ]);
}

const isSecret = (algorithm: string) => algorithm === 'AES-256';
/** How many handles one C_FindObjects call asks for where every object under an id is wanted (everyObject). */
const SEARCH_BATCH = 1000;
const AES_256_WRAPPED_BYTES = 40;

export function wrapKey(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  mechanism: WrapMechanism,
  kek: Buffer,
  key: KeyShape,
): Buffer {
  // A wrapping AES key has no check value to tell a planted public one apart, so the set would hold it.
  const objectClass = isSecret(key.algorithm) ? pkcs11js.CKO_SECRET_KEY : pkcs11js.CKO_PRIVATE_KEY;
  const handle = privateKeyObject(lib, session, objectClass, key.id);
  if (!handle) throw new CustosError('KEY_OBJECTS_MISSING', `The token no longer holds “${key.label}”.`);
  try {
    const wrap = () => lib.C_WrapKey(session, { mechanism: mechanism.type }, kek, handle, Buffer.alloc(8192));
    return tokenStep('C_WrapKey', { mechanism: mechanism.name }, wrap);
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('CKR_KEY_NOT_WRAPPABLE')) {
      throw new CustosError(
        'TOKEN_KEY_REFUSED',
        `The token refuses to wrap “${key.label}” (${key.algorithm}); it cannot be backed up on this token.`,
        ['Leave it out of the backup set. SoftHSM2 2.6 cannot wrap Ed25519 private keys.'],
        { cause: error },
      );
    }
    throw error;
  }
}

/** Template for the unwrapped private or secret half: custody and least-privilege attributes as at generation. */
function unwrapTemplate(key: KeyShape, persist: boolean, lockdown: boolean): pkcs11js.Template {
  const secret = isSecret(key.algorithm);
  const keyType = secret
    ? pkcs11js.CKK_AES
    : key.algorithm.startsWith('RSA')
      ? pkcs11js.CKK_RSA
      : key.algorithm === 'Ed25519'
        ? CKK_EC_EDWARDS
        : pkcs11js.CKK_EC;
  const usage = key.usage;
  const persisted = persist
    ? [
        t(pkcs11js.CKA_ID, Buffer.from(key.id, 'hex')),
        t(pkcs11js.CKA_LABEL, key.label),
        t(pkcs11js.CKA_PRIVATE, true),
        t(pkcs11js.CKA_EXTRACTABLE, key.backupable),
        ...(key.backupable ? [t(pkcs11js.CKA_WRAP_WITH_TRUSTED, true)] : []),
      ]
    : [t(pkcs11js.CKA_EXTRACTABLE, false)];
  // A verification copy may encrypt (AES, for the check value) or sign (to prove the pair); nothing more.
  const uses = persist
    ? leastPrivilege(KeyUsage.parse(usage), secret ? 'secret' : 'private', lockdown, keyAgreement(key.algorithm, usage))
    : secret
      ? [
          t(pkcs11js.CKA_ENCRYPT, true),
          ...[pkcs11js.CKA_DECRYPT, pkcs11js.CKA_WRAP, pkcs11js.CKA_UNWRAP].map((type) => t(type, false)),
        ]
      : [t(pkcs11js.CKA_SIGN, true)];
  return [
    t(pkcs11js.CKA_CLASS, secret ? pkcs11js.CKO_SECRET_KEY : pkcs11js.CKO_PRIVATE_KEY),
    t(pkcs11js.CKA_KEY_TYPE, keyType),
    t(pkcs11js.CKA_TOKEN, persist),
    t(pkcs11js.CKA_SENSITIVE, true),
    ...persisted,
    ...uses,
  ];
}

export function unwrapKey(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  mechanism: WrapMechanism,
  kek: Buffer,
  key: KeyShape,
  blob: Buffer,
  persist: boolean,
  lockdown = true,
): Buffer {
  // RFC 5649 wraps 32 bytes into 40. A shorter AES key would open, prove its own check value and be taken for AES-256;
  // the token cannot be asked (SoftHSM2 sets no CKA_VALUE_LEN on an unwrapped key, and the value is sensitive).
  if (isSecret(key.algorithm) && blob.length !== AES_256_WRAPPED_BYTES)
    throw new CustosError(
      'RESTORE_MISMATCH',
      `The wrapped copy of “${key.label}” is ${blob.length} bytes, not the ${AES_256_WRAPPED_BYTES} of an AES-256 key: it holds another key.`,
    );
  const template = unwrapTemplate(key, persist, lockdown);
  const unwrap = () => lib.C_UnwrapKey(session, { mechanism: mechanism.type }, kek, blob, template);
  return tokenStep('C_UnwrapKey', { mechanism: mechanism.name }, unwrap);
}

/**
 * The token's refusal when wrapped bytes did not open under the key given (changed, or wrapped under another key), or
 * undefined for any other failure. SoftHSM2 2.6 answers a failed RFC 5649 integrity check with CKR_GENERAL_ERROR.
 */
export function openingRefusal(error: unknown): string | undefined {
  const refusal = refusalName(error);
  return refusal !== undefined &&
    [
      'CKR_ENCRYPTED_DATA_INVALID',
      'CKR_WRAPPED_KEY_INVALID',
      'CKR_WRAPPED_KEY_LEN_RANGE',
      'CKR_GENERAL_ERROR',
    ].includes(refusal)
    ? refusal
    : undefined;
}

/**
 * Proves that an unwrapped key is the one in the manifest: an AES key by its check value (which
 * needs an encrypting copy: the verification copy), a key pair by a signature over a fresh
 * challenge that the recorded public key verifies (an RSA key's modulus is compared first).
 * Returns the AES check value it measured (null for key pairs).
 */
export function proveKey(lib: pkcs11js.PKCS11, session: Buffer, handle: Buffer, key: KeyShape): string | null {
  if (isSecret(key.algorithm)) {
    const kcv = aesCheckValue(lib, session, handle, key.label);
    if (key.kcv !== null && kcv !== key.kcv)
      throw new CustosError('RESTORE_MISMATCH', `“${key.label}” came back with check value ${kcv}, not ${key.kcv}.`);
    return kcv;
  }
  if (!key.publicKey)
    throw new CustosError('RESTORE_MISMATCH', `The inventory holds no public key for “${key.label}”.`);
  const recorded = algorithmOfPublicKey(key.publicKey);
  if (recorded !== key.algorithm)
    throw new CustosError(
      'RESTORE_MISMATCH',
      `The recorded public key of “${key.label}” is ${recorded ?? 'not a public key'}, not ${key.algorithm}.`,
    );
  if (key.algorithm.startsWith('RSA')) {
    const spki = publicKeySpki(lib, session, handle, key.algorithm);
    if (!spki.equals(key.publicKey))
      throw new CustosError('RESTORE_MISMATCH', `“${key.label}” came back with a different RSA modulus.`);
    // The modulus is public: a private key built around it with other primes carries it too, and signs nothing valid.
    const challenge = randomBytes(32);
    const signature = rsaSignature(lib, session, handle, challenge);
    const publicKey = createPublicKey({ key: key.publicKey, format: 'der', type: 'spki' });
    if (!verify('sha256', challenge, publicKey, signature))
      throw new CustosError(
        'RESTORE_MISMATCH',
        `“${key.label}” came back with the recorded modulus but is not that key: its signature does not verify.`,
      );
    return null;
  }
  const challenge = randomBytes(32);
  const ec = key.algorithm.startsWith('EC-');
  const mechanism = ec ? pkcs11js.CKM_ECDSA : CKM_EDDSA;
  tokenStep('C_SignInit', { mechanism }, () => lib.C_SignInit(session, { mechanism }, handle));
  const input = ec ? createHash('sha256').update(challenge).digest() : challenge;
  const signature = tokenStep('C_Sign', { mechanism }, () => lib.C_Sign(session, input, Buffer.alloc(256)));
  const publicKey = createPublicKey({ key: key.publicKey, format: 'der', type: 'spki' });
  const good = ec
    ? verify('sha256', challenge, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)
    : verify(null, challenge, publicKey, signature);
  if (!good)
    throw new CustosError(
      'RESTORE_MISMATCH',
      `“${key.label}” came back as a different key: its signature does not match the recorded public key.`,
    );
  return null;
}

/** The check value of an unwrapped AES key; a value the token will not use as an AES key is no AES-256 key. */
function aesCheckValue(lib: pkcs11js.PKCS11, session: Buffer, handle: Buffer, label: string): string {
  try {
    return checkValue(lib, session, handle);
  } catch (error) {
    const refusal = refusalName(error);
    if (!refusal || !['CKR_MECHANISM_INVALID', 'CKR_KEY_SIZE_RANGE', 'CKR_KEY_TYPE_INCONSISTENT'].includes(refusal))
      throw error;
    throw new CustosError(
      'RESTORE_MISMATCH',
      `“${label}” came back as no AES-256 key: the token will not encrypt with it as AES (${refusal}), so its value is ` +
        'not 32 bytes long. Nothing was imported.',
      ['Keep the backup file and its cards apart and tell your security officer: this set was not made by Custos.'],
      { cause: error },
    );
  }
}

/** A PKCS#1 v1.5 signature over SHA-256 of the challenge: hashed in the token if it offers that, else by us. */
function rsaSignature(lib: pkcs11js.PKCS11, session: Buffer, handle: Buffer, challenge: Buffer): Buffer {
  const sign = (mechanism: number, input: Buffer) => {
    tokenStep('C_SignInit', { mechanism }, () => lib.C_SignInit(session, { mechanism }, handle));
    return tokenStep('C_Sign', { mechanism }, () => lib.C_Sign(session, input, Buffer.alloc(1024)));
  };
  try {
    return sign(pkcs11js.CKM_SHA256_RSA_PKCS, challenge);
  } catch (error) {
    if (refusalName(error) !== 'CKR_MECHANISM_INVALID') throw error;
    const digest = createHash('sha256').update(challenge).digest();
    return sign(pkcs11js.CKM_RSA_PKCS, Buffer.concat([SHA256_DIGEST_INFO, digest]));
  }
}
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/** On restore, the public half is recreated from the manifest's SubjectPublicKeyInfo. */
export function createPublicObject(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  key: KeyShape,
  lockdown = true,
): Buffer | null {
  if (isSecret(key.algorithm) || !key.publicKey) return null;
  const jwk = createPublicKey({ key: key.publicKey, format: 'der', type: 'spki' }).export({ format: 'jwk' });
  const common = [
    t(pkcs11js.CKA_CLASS, pkcs11js.CKO_PUBLIC_KEY),
    t(pkcs11js.CKA_TOKEN, true),
    t(pkcs11js.CKA_PRIVATE, false),
    t(pkcs11js.CKA_ID, Buffer.from(key.id, 'hex')),
    t(pkcs11js.CKA_LABEL, key.label),
    ...leastPrivilege(KeyUsage.parse(key.usage), 'public', lockdown),
  ];
  const b = (v: string | undefined) => Buffer.from(v ?? '', 'base64url');
  if (key.algorithm.startsWith('RSA')) {
    return lib.C_CreateObject(session, [
      ...common,
      t(pkcs11js.CKA_KEY_TYPE, pkcs11js.CKK_RSA),
      t(pkcs11js.CKA_MODULUS, b(jwk.n)),
      t(pkcs11js.CKA_PUBLIC_EXPONENT, b(jwk.e)),
    ]);
  }
  const octetString = (point: Buffer) =>
    Buffer.concat([Buffer.from(point.length < 128 ? [0x04, point.length] : [0x04, 0x81, point.length]), point]);
  if (key.algorithm === 'Ed25519') {
    return lib.C_CreateObject(session, [
      ...common,
      t(pkcs11js.CKA_KEY_TYPE, CKK_EC_EDWARDS),
      t(pkcs11js.CKA_EC_PARAMS, Buffer.from('06032b6570', 'hex')),
      t(pkcs11js.CKA_EC_POINT, octetString(b(jwk.x))),
    ]);
  }
  const curve = CURVES[key.algorithm]!;
  const point = Buffer.concat([Buffer.from([0x04]), b(jwk.x), b(jwk.y)]);
  return lib.C_CreateObject(session, [
    ...common,
    t(pkcs11js.CKA_KEY_TYPE, pkcs11js.CKK_EC),
    t(pkcs11js.CKA_EC_PARAMS, Buffer.from(curve.params, 'hex')),
    t(pkcs11js.CKA_EC_POINT, octetString(point)),
  ]);
}

/**
 * After a crash mid-backup or mid-transport: trusted KEKs Custos made and never destroyed. They are public token
 * objects (the SO cannot make private ones), so a read-write session finds and removes them
 * without a login; their values were never readable.
 */
export function removeLeftoverKeks(lib: pkcs11js.PKCS11, session: Buffer): number {
  const found = find(lib, session, [
    t(pkcs11js.CKA_CLASS, pkcs11js.CKO_SECRET_KEY),
    t(pkcs11js.CKA_TRUSTED, true),
    t(pkcs11js.CKA_PRIVATE, false),
  ]).filter((handle) => {
    const [label] = lib.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_LABEL }]);
    const text = String(label?.value ?? '');
    return LEFTOVER_LABELS.some((prefix) => text.startsWith(prefix));
  });
  for (const handle of found) lib.C_DestroyObject(session, handle);
  return found.length;
}

/**
 * The reconciler of a ceremony that puts a trusted KEK in the token (a backup, a key transport): after a
 * crash it removes what was left, recorded under `action`; the ceremony itself is settled as interrupted.
 */
export function leftoverKekReconciler(audit: Pick<AuditService, 'record'>, action: string): QuorumReconciler {
  return ({ session, lib, proposalId }) => {
    const removed = removeLeftoverKeks(lib, session);
    if (removed > 0)
      audit.record({
        actor: { type: 'system', id: 'system' },
        action,
        object: { type: 'proposal', id: proposalId },
        params: { removed },
      });
    return null;
  };
}

/**
 * Every object under the id, however many (what a crashed restore or import left, beside whatever anyone planted since:
 * one search of 16, listing planted objects first, left the unwrapped key in the token).
 */
export function objectsWithId(lib: pkcs11js.PKCS11, session: Buffer, id: string): Buffer[] {
  return everyObject(lib, session, [t(pkcs11js.CKA_ID, Buffer.from(id, 'hex'))], SEARCH_BATCH);
}

/** Objects under the id that only a login could have made (CKA_PRIVATE true): never one planted without the PIN. */
export function privateObjectsWithId(lib: pkcs11js.PKCS11, session: Buffer, id: string): Buffer[] {
  return find(lib, session, [t(pkcs11js.CKA_ID, Buffer.from(id, 'hex')), t(pkcs11js.CKA_PRIVATE, true)]);
}

/**
 * Before a restore: the public key objects under the key's id, which anyone can create without a PIN. They are not the
 * key, so they do not block it; they are destroyed, so none is left beside the restored key looking like its public
 * half. Those the token will not destroy (CKA_DESTROYABLE false) are counted as left. Every one is found and counted:
 * one C_FindObjects call stops at the count it asks for, and anyone can plant more objects than that.
 */
export function removePlantedKeyObjects(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  id: string,
): { removed: number; left: number } {
  const classes = [pkcs11js.CKO_PUBLIC_KEY, pkcs11js.CKO_PRIVATE_KEY, pkcs11js.CKO_SECRET_KEY];
  const planted = classes.flatMap((objectClass) =>
    everyObject(
      lib,
      session,
      [t(pkcs11js.CKA_CLASS, objectClass), t(pkcs11js.CKA_ID, Buffer.from(id, 'hex')), t(pkcs11js.CKA_PRIVATE, false)],
      SEARCH_BATCH,
    ),
  );
  const removed = planted.filter((handle) => destroyed(lib, session, handle)).length;
  return { removed, left: planted.length - removed };
}
