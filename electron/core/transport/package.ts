import { createHash, createPublicKey, hkdfSync, type KeyObject } from 'node:crypto';
import { TransportPackage, type RecipientAlgorithm } from '../../../shared/transport';
import { sha256Hex } from '../canonical-json';
import { CustosError } from '../errors';
import { algorithmOfPublicKey } from '../keys/public-key-algorithm';

/** The curves a recipient may use, by node:crypto's name. */
const EC_CURVES: Record<string, RecipientAlgorithm> = { prime256v1: 'EC-P256', secp384r1: 'EC-P384' };

/**
 * What binds a package's declarations to its wrapping key: the OAEP label (RSA) or the HKDF info
 * (EC). Changing the declared key, usage or recipient changes these bytes, so the wrapping key no
 * longer opens the wrapped key and the unwrap fails (RFC 5649's integrity check).
 */
export function transportInfo(p: {
  id: string;
  key: { ckaId: string; algorithm: string; usage: string };
  recipient: { fingerprint: string };
}): Buffer {
  return Buffer.from(
    `custos-key-transport/v1 ${p.id} ${p.key.ckaId} ${p.key.algorithm} ${p.key.usage} ${p.recipient.fingerprint}`,
    'utf8',
  );
}

/** The EC scheme's wrapping key: HKDF-SHA256 over the ECDH shared secret, no salt, the package's info. */
export function ecdhKek(sharedSecret: Buffer, info: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', sharedSecret, Buffer.alloc(0), info, 32));
}

export interface RecipientKey {
  spki: Buffer;
  fingerprint: string;
  algorithm: RecipientAlgorithm;
  key: KeyObject;
}

/** A recipient public key from PEM: RSA of at least 2048 bits (SP 800-131A), or EC on P-256 / P-384. */
export function recipientKey(pem: string): RecipientKey {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new CustosError(
      'IPC_INVALID_PAYLOAD',
      'This is not a public key in PEM form.',
      ['Give the recipient’s public key as “-----BEGIN PUBLIC KEY-----” (openssl pkey -pubout).'],
      { cause: error },
    );
  }
  const details = key.asymmetricKeyDetails ?? {};
  const algorithm =
    key.asymmetricKeyType === 'rsa' && (details.modulusLength ?? 0) >= 2048
      ? 'RSA'
      : key.asymmetricKeyType === 'ec'
        ? EC_CURVES[details.namedCurve ?? '']
        : undefined;
  if (!algorithm)
    throw new CustosError(
      'KEY_TYPE_UNSUITED',
      'A recipient key must be RSA (2048 bits or more) or EC on P-256 or P-384.',
      ['Ask the recipient for a key Custos can wrap for (RSA-OAEP or ECDH).'],
    );
  const spki = key.export({ format: 'der', type: 'spki' });
  return { spki, fingerprint: createHash('sha256').update(spki).digest('hex'), algorithm, key };
}

const invalid = (why: string) =>
  new CustosError(
    'TRANSPORT_PACKAGE_INVALID',
    `This key transport package is not valid: ${why}. Nothing was changed.`,
    ['Ask the sender for the package exactly as it was made (docs/key-transport.md describes the format).'],
  );

/**
 * A package file as received: well-formed, its fields consistent with its scheme, its public key
 * with its fingerprint, and its info the one its declarations give. Returns it with the SHA-256 of
 * the file's exact bytes, which an import proposal binds.
 */
export function parsePackage(text: string): { pkg: TransportPackage; sha256: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalid('it is not JSON');
  }
  const parsed = TransportPackage.safeParse(json);
  if (!parsed.success) throw invalid(`${parsed.error.issues[0]?.path.join('.') || 'it'} is not as the format says`);
  const pkg = parsed.data;
  const rsa = pkg.scheme === 'rsa-oaep-sha256+aes-kwp';
  if (rsa !== (pkg.recipient.algorithm === 'RSA')) throw invalid('its scheme does not fit its recipient key');
  if (rsa ? !pkg.encryptedKek || pkg.ephemeralPublicKey : !pkg.ephemeralPublicKey || pkg.encryptedKek)
    throw invalid('it does not carry what its scheme needs');
  if (pkg.info !== transportInfo(pkg).toString('hex')) throw invalid('its info does not match what it declares');
  const secret = pkg.key.algorithm === 'AES-256';
  if (secret !== (pkg.key.publicKey === null)) throw invalid('a key pair needs its public key, a secret key has none');
  if (pkg.key.publicKey !== null) {
    const spki = Buffer.from(pkg.key.publicKey, 'base64');
    if (createHash('sha256').update(spki).digest('hex') !== pkg.key.fingerprint)
      throw invalid('its public key does not match its fingerprint');
    const actual = algorithmOfPublicKey(spki);
    if (actual !== pkg.key.algorithm)
      throw invalid(`its public key is ${actual ?? 'not a public key'}, not the ${pkg.key.algorithm} it declares`);
  }
  return { pkg, sha256: sha256Hex(Buffer.from(text, 'utf8')) };
}
