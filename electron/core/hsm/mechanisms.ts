import pkcs11js from 'pkcs11js';
import type { MechanismInfo } from '../../../shared/tokens';

/** PKCS#11 3.0 mechanisms that pkcs11js 2.1 has no constant for (SoftHSM2 2.6 offers them). */
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;

const preferredAliases = new Set([
  'CKM_EC_KEY_PAIR_GEN',
  'CKM_CAST128_KEY_GEN',
  'CKM_CAST128_ECB',
  'CKM_CAST128_CBC',
  'CKM_CAST128_MAC',
  'CKM_CAST128_MAC_GENERAL',
  'CKM_CAST128_CBC_PAD',
  'CKM_PBE_MD5_CAST128_CBC',
  'CKM_PBE_SHA1_CAST128_CBC',
]);

const mechanismNames: ReadonlyMap<number, string> = (() => {
  const names = new Map<number, string>([
    [CKM_EC_EDWARDS_KEY_PAIR_GEN, 'CKM_EC_EDWARDS_KEY_PAIR_GEN'],
    [CKM_EDDSA, 'CKM_EDDSA'],
  ]);
  for (const [name, value] of Object.entries(pkcs11js)) {
    if (!name.startsWith('CKM_') || typeof value !== 'number') continue;
    if (!names.has(value) || preferredAliases.has(name)) names.set(value, name);
  }
  return names;
})();

export function mechanismName(type: number): string {
  return mechanismNames.get(type) ?? `0x${type.toString(16).toUpperCase().padStart(8, '0')}`;
}

const functionFlags: ReadonlyArray<[number, MechanismInfo['functions'][number]]> = [
  [pkcs11js.CKF_ENCRYPT, 'encrypt'],
  [pkcs11js.CKF_DECRYPT, 'decrypt'],
  [pkcs11js.CKF_DIGEST, 'digest'],
  [pkcs11js.CKF_SIGN, 'sign'],
  [pkcs11js.CKF_SIGN_RECOVER, 'sign-recover'],
  [pkcs11js.CKF_VERIFY, 'verify'],
  [pkcs11js.CKF_VERIFY_RECOVER, 'verify-recover'],
  [pkcs11js.CKF_GENERATE, 'generate'],
  [pkcs11js.CKF_GENERATE_KEY_PAIR, 'generate-key-pair'],
  [pkcs11js.CKF_WRAP, 'wrap'],
  [pkcs11js.CKF_UNWRAP, 'unwrap'],
  [pkcs11js.CKF_DERIVE, 'derive'],
];

export function describeMechanism(
  type: number,
  info: { minKeySize: number; maxKeySize: number; flags: number },
): MechanismInfo {
  return {
    type,
    name: mechanismName(type),
    minKeySize: info.minKeySize,
    maxKeySize: info.maxKeySize,
    hardware: (info.flags & pkcs11js.CKF_HW) !== 0,
    functions: functionFlags.filter(([flag]) => (info.flags & flag) !== 0).map(([, name]) => name),
  };
}
