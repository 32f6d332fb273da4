import { createPublicKey } from 'node:crypto';

const CURVE_ALGORITHMS: Record<string, string> = { prime256v1: 'EC-P256', secp384r1: 'EC-P384' };

/**
 * The algorithm a SubjectPublicKeyInfo is, in the inventory's words (RSA-3072, EC-P256, Ed25519…), or null when it is
 * not a key at all. What a key declares is held to it: a 2048-bit key pair proves itself against its own public key
 * just as well, and would be registered as whatever was declared.
 */
export function algorithmOfPublicKey(spki: Buffer): string | null {
  let key;
  try {
    key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch {
    return null;
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return `RSA-${details.modulusLength}`;
  if (key.asymmetricKeyType === 'ec') return CURVE_ALGORITHMS[details.namedCurve ?? ''] ?? `EC ${details.namedCurve}`;
  if (key.asymmetricKeyType === 'ed25519') return 'Ed25519';
  return key.asymmetricKeyType ?? null;
}
