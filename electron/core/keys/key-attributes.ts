import pkcs11js from 'pkcs11js';
import type { KeyUsage } from '../../../shared/keys';
import { CustosError } from '../errors';
import { attributeTrue } from '../hsm/find-objects';

/** PKCS#11 2.40 attributes pkcs11js has no constants for. */
export const CKA_MODIFIABLE = 0x170;
export const CKA_COPYABLE = 0x171;
export const CKA_DESTROYABLE = 0x172;

export type KeyHalf = 'secret' | 'private' | 'public';

/**
 * Every usage attribute a half of a key can carry. All of them are written explicitly, because a
 * token's defaults are not least privilege (SoftHSM2 leaves decrypt, unwrap and sign-recover on).
 */
const CAPABILITIES: Record<KeyHalf, Record<string, number>> = {
  secret: {
    encrypt: pkcs11js.CKA_ENCRYPT,
    decrypt: pkcs11js.CKA_DECRYPT,
    wrap: pkcs11js.CKA_WRAP,
    unwrap: pkcs11js.CKA_UNWRAP,
    sign: pkcs11js.CKA_SIGN,
    verify: pkcs11js.CKA_VERIFY,
    derive: pkcs11js.CKA_DERIVE,
  },
  private: {
    sign: pkcs11js.CKA_SIGN,
    'sign-recover': pkcs11js.CKA_SIGN_RECOVER,
    decrypt: pkcs11js.CKA_DECRYPT,
    unwrap: pkcs11js.CKA_UNWRAP,
    derive: pkcs11js.CKA_DERIVE,
  },
  public: {
    verify: pkcs11js.CKA_VERIFY,
    'verify-recover': pkcs11js.CKA_VERIFY_RECOVER,
    encrypt: pkcs11js.CKA_ENCRYPT,
    wrap: pkcs11js.CKA_WRAP,
    derive: pkcs11js.CKA_DERIVE,
  },
};

/** What each usage allows, per half; everything else is false. */
const ALLOWED: Record<KeyUsage, Record<KeyHalf, string[]>> = {
  sign: { secret: ['sign', 'verify'], private: ['sign'], public: ['verify'] },
  encrypt: { secret: ['encrypt', 'decrypt'], private: ['decrypt'], public: ['encrypt'] },
  wrap: { secret: ['wrap', 'unwrap'], private: ['unwrap'], public: ['wrap'] },
};

/**
 * An EC key for wrapping cannot unwrap by itself: it unwraps by key agreement (ECDH, SP 800-56A), so
 * its private half may also derive (key transport into the token, docs/key-transport.md).
 */
export function keyAgreement(algorithm: string, usage: string): boolean {
  return algorithm.startsWith('EC-') && usage === 'wrap';
}

/**
 * The least-privilege attributes of one half of a key: each usage attribute set true or false,
 * and the object neither copyable nor modifiable (so no one can later turn a use back on or clone
 * it with other attributes). Destruction stays possible: CKA_DESTROYABLE is left at its default.
 */
export function leastPrivilege(usage: KeyUsage, half: KeyHalf, lockdown = true, agreement = false): pkcs11js.Template {
  const allowed = [...ALLOWED[usage][half], ...(agreement && half === 'private' ? ['derive'] : [])];
  const uses = Object.entries(CAPABILITIES[half]).map(([name, type]) => ({ type, value: allowed.includes(name) }));
  return lockdown ? [...uses, { type: CKA_COPYABLE, value: false }, { type: CKA_MODIFIABLE, value: false }] : uses;
}

/**
 * Runs a token step with CKA_COPYABLE/CKA_MODIFIABLE false, or, on a token of the PKCS#11 2.20 era
 * that does not know those attributes, without them (the usage attributes are never dropped).
 * Says which it was, so the read-back checks exactly what was asked.
 */
export function withLockdown<T>(step: (lockdown: boolean) => T): { value: T; lockdown: boolean } {
  try {
    return { value: step(true), lockdown: true };
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('CKR_ATTRIBUTE_TYPE_INVALID')) throw error;
    return { value: step(false), lockdown: false };
  }
}

const NAMES = new Map<number, string>([
  ...Object.values(CAPABILITIES).flatMap((caps) => Object.entries(caps).map(([name, type]) => [type, name] as const)),
  [CKA_COPYABLE, 'copyable'],
  [CKA_MODIFIABLE, 'modifiable'],
  [pkcs11js.CKA_SENSITIVE, 'sensitive'],
  [pkcs11js.CKA_EXTRACTABLE, 'extractable'],
  [pkcs11js.CKA_LOCAL, 'local'],
  [pkcs11js.CKA_TOKEN, 'token'],
  [pkcs11js.CKA_PRIVATE, 'private'],
  [pkcs11js.CKA_WRAP_WITH_TRUSTED, 'wrap-with-trusted'],
]);

/**
 * Reads the attributes back from the token and names every one that differs from what was asked:
 * a token may ignore a template entry silently, and a key registered with more uses than its
 * record says would be used for them.
 */
export function attributeDifferences(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  handle: Buffer,
  expected: pkcs11js.Template,
): string[] {
  const read = lib.C_GetAttributeValue(
    session,
    handle,
    expected.map(({ type }) => ({ type })),
  );
  return expected.flatMap(({ type, value }, i) => {
    const got = read[i]?.value;
    const actual = attributeTrue(got);
    const name = NAMES.get(type) ?? `0x${type.toString(16)}`;
    return actual === value ? [] : [`${name} is ${actual}, not ${String(value)}`];
  });
}

/**
 * Refuses a key whose halves do not carry exactly their least-privilege and custody attributes. `trustedOnly`: the key
 * was made with CKA_WRAP_WITH_TRUSTED, which is then read back too (a token that does not know it is never asked).
 */
export function checkLeastPrivilege(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  label: string,
  halves: { handle: Buffer; usage: KeyUsage; half: KeyHalf; agreement?: boolean }[],
  lockdown: boolean,
  backupable: boolean,
  trustedOnly: boolean,
): void {
  // Every half is a token object. The secret half is private (only a login shows or uses it) and sensitive always,
  // and extractable (for wrapping under a trusted KEK) only when backup-able; the public half is readable without one.
  const secrecy = (half: KeyHalf): pkcs11js.Template =>
    half === 'public'
      ? [
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_PRIVATE, value: false },
        ]
      : [
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_PRIVATE, value: true },
          { type: pkcs11js.CKA_SENSITIVE, value: true },
          { type: pkcs11js.CKA_EXTRACTABLE, value: backupable },
          ...(trustedOnly ? [{ type: pkcs11js.CKA_WRAP_WITH_TRUSTED, value: true }] : []),
        ];
  const differences = halves.flatMap(({ handle, usage, half, agreement }) =>
    attributeDifferences(lib, session, handle, [
      ...leastPrivilege(usage, half, lockdown, agreement),
      ...secrecy(half),
    ]).map((d) => `${half} half: ${d}`),
  );
  if (differences.length > 0) {
    const message = `The token did not give “${label}” the attributes Custos asked for, so it is not registered.`;
    throw new CustosError('KEY_ATTRIBUTES_MISMATCH', message, [
      ...differences,
      'The key’s objects were removed again. Tell your security officer: this token does not honour key usage attributes.',
    ]);
  }
}
