import { createHash, createPublicKey, verify } from 'node:crypto';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { AsnConvert } from '@peculiar/asn1-schema';
import { SubjectPublicKeyInfo, type Name } from '@peculiar/asn1-x509';
import { dnValue, readable, UNREADABLE_MESSAGE } from '../../../shared/pki';
import { CustosError } from '../errors';

/** The signature algorithms a request may be signed with, and the hash node:crypto verifies it with. */
const REQUEST_SIGNATURES: Record<string, { name: string; hash: string | null }> = {
  '1.2.840.113549.1.1.11': { name: 'sha256WithRSAEncryption', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { name: 'sha384WithRSAEncryption', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { name: 'sha512WithRSAEncryption', hash: 'sha512' },
  '1.2.840.10045.4.3.2': { name: 'ecdsa-with-SHA256', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { name: 'ecdsa-with-SHA384', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { name: 'ecdsa-with-SHA512', hash: 'sha512' },
  '1.3.101.112': { name: 'Ed25519', hash: null },
};
const SHA1_SIGNATURES = new Set(['1.2.840.113549.1.1.5', '1.2.840.10045.4.1', '1.2.840.10040.4.3']);

const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.5': 'serialNumber',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

/**
 * A Name as people read it, most specific first: “CN=Example Issuing CA, O=Example, C=NL”; the attributes of one
 * multi-valued RDN joined by “+” (RFC 4514 §2.2), so “CN=a+O=b” never reads as the two RDNs “CN=a, O=b”.
 */
export function nameText(name: Name): string {
  return [...name]
    .reverse()
    .map((rdn) => [...rdn].map((a) => `${SHORT_NAMES[a.type] ?? a.type}=${dnValue(a.value.toString())}`).join('+'))
    .join(', ');
}

/**
 * An EC public key's field size in bits, from its point (SEC 1 §2.3.3): 04 ‖ X ‖ Y uncompressed, 02/03 ‖ X compressed.
 * Read from the key rather than from a list of curve names, so a curve Custos never heard of is sized too.
 */
function ecFieldBits(point: Buffer): number {
  const coordinate = point[0] === 0x04 ? (point.length - 1) / 2 : point.length - 1;
  return Math.floor(coordinate) * 8;
}

/** A certificate signing request whose signature was checked: what the approvers are shown and what is certified. */
export interface CheckedRequest {
  der: Buffer;
  sha256: string;
  subject: string;
  spki: Buffer;
  /** SHA-256 of the SubjectPublicKeyInfo DER, as Custos prints key fingerprints. */
  publicKeyFingerprint: string;
  keyAlgorithm: string;
  /** An RSA key's modulus size, or an EC key's field size (from its point); undefined for other keys. */
  bits?: number;
  signatureAlgorithm: string;
}

const refuse = (message: string, remedy: string[] = []): never => {
  throw new CustosError('CSR_INVALID', message, remedy);
};

/**
 * An EC key names its curve (RFC 5480 §2.1.1: explicit parameters MUST NOT be used; they let any curve pass for a
 * named one, and its size was read from the point alone), and an RSA key's public exponent is odd and at least 65537
 * (FIPS 186-5 §A.1.1, Baseline Requirements §6.1.6).
 */
function refuseUnsoundKey(type: string | undefined, info: SubjectPublicKeyInfo, exponent: bigint | undefined): void {
  if (type === 'ec' && new Uint8Array(info.algorithm.parameters ?? new ArrayBuffer(0))[0] !== 0x06)
    refuse('The request’s EC key gives its curve’s parameters instead of naming a curve (RFC 5480 §2.1.1).', [
      'Ask for a request from a key on a named curve such as P-256 or P-384.',
    ]);
  if (type === 'rsa' && exponent !== undefined && (exponent < 65537n || exponent % 2n === 0n))
    refuse(`The request’s RSA key has public exponent ${exponent}: it must be odd and at least 65537 (FIPS 186-5).`);
}

/** The DER of a request given as PEM or as base64 DER; anything else is refused. */
export function requestDer(text: string): Buffer {
  const pemBody =
    /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]*?)-----END (?:NEW )?CERTIFICATE REQUEST-----/.exec(text);
  const base64 = (pemBody ? pemBody[1]! : text).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) refuse('This is not a certificate request (PKCS#10, PEM or DER).');
  return Buffer.from(base64, 'base64');
}

/**
 * Reads a PKCS#10 request (RFC 2986) and checks its signature with node:crypto (OpenSSL) under the
 * public key it carries, so the requester holds the private key. A SHA-1 signature is refused
 * (SP 800-131A), as is any algorithm Custos does not know.
 */
export function checkRequest(der: Buffer): CheckedRequest {
  let request: CertificationRequest;
  try {
    request = AsnConvert.parse(der, CertificationRequest);
  } catch {
    return refuse('This file is not a well-formed certificate request (PKCS#10).');
  }
  const oid = request.signatureAlgorithm.algorithm;
  if (SHA1_SIGNATURES.has(oid)) refuse('The request is signed with SHA-1, which SP 800-131A disallows for signatures.');
  const scheme =
    REQUEST_SIGNATURES[oid] ?? refuse(`The request's signature algorithm (${oid}) is not one Custos checks.`);
  const spki = Buffer.from(AsnConvert.serialize(request.certificationRequestInfo.subjectPKInfo));
  let key;
  try {
    key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch {
    return refuse('The request carries a public key that cannot be read.');
  }
  // The signature OID is outside what the requester signed: an RSA-PSS or DSA key verified under an RSA or ECDSA OID,
  // and neither its exponent nor its size was read. Only the key types whose signatures Custos checks are certified.
  if (!['rsa', 'ec', 'ed25519'].includes(key.asymmetricKeyType ?? ''))
    refuse(`The request's key type (${key.asymmetricKeyType ?? 'unknown'}) is not one Custos certifies.`, [
      'Ask for a request from an RSA, EC (P-256, P-384) or Ed25519 key.',
    ]);
  const signed = Buffer.from(
    request.certificationRequestInfoRaw ?? AsnConvert.serialize(request.certificationRequestInfo),
  );
  const valid = verify(scheme.hash, signed, key, Buffer.from(request.signature));
  if (!valid)
    refuse('The request’s signature does not verify: it was changed, or not signed by the key it carries.', [
      'Ask the requester for the request again, and compare its SHA-256 with theirs.',
    ]);
  const subject = nameText(request.certificationRequestInfo.subject);
  if (!readable(subject)) refuse(`The request’s subject must hold ${UNREADABLE_MESSAGE}.`);
  const details = key.asymmetricKeyDetails;
  const info = AsnConvert.parse(spki, SubjectPublicKeyInfo);
  refuseUnsoundKey(key.asymmetricKeyType, info, details?.publicExponent);
  const keyAlgorithm =
    key.asymmetricKeyType === 'rsa'
      ? `RSA-${details?.modulusLength}`
      : key.asymmetricKeyType === 'ec'
        ? `EC-${details?.namedCurve === 'prime256v1' ? 'P256' : details?.namedCurve === 'secp384r1' ? 'P384' : details?.namedCurve}`
        : (key.asymmetricKeyType ?? info.algorithm.algorithm);
  return {
    der,
    sha256: createHash('sha256').update(der).digest('hex'),
    subject,
    spki,
    publicKeyFingerprint: createHash('sha256').update(spki).digest('hex'),
    keyAlgorithm,
    ...(key.asymmetricKeyType === 'rsa' ? { bits: details?.modulusLength } : {}),
    ...(key.asymmetricKeyType === 'ec' ? { bits: ecFieldBits(Buffer.from(info.subjectPublicKey)) } : {}),
    signatureAlgorithm: scheme.name,
  };
}
