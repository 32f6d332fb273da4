import { createHash } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { CustosError } from '../errors';
import { privateKeyObject } from '../hsm/find-objects';
import { firstOffered, sessionMechanisms, type MechanismOption } from '../hsm/capabilities';
import { CKM_EDDSA } from '../hsm/mechanisms';
import { tokenStep } from '../hsm/pkcs11-errors';
import { ecdsaDer } from '../keys/key-generation';

/** DigestInfo prefixes (RFC 8017 §9.2 note 1) for tokens that sign only with raw CKM_RSA_PKCS. */
const DIGEST_INFO = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
} as const;

interface SignatureScheme {
  /** The X.509 signatureAlgorithm (RFC 5758 / RFC 4055 / RFC 8410). */
  oid: string;
  /** RSA's AlgorithmIdentifier carries an explicit NULL; ECDSA's and EdDSA's carry none. */
  nullParameters: boolean;
  hash: 'sha256' | 'sha384' | null;
  options: (MechanismOption & { input: 'message' | 'digest' | 'digest-info' })[];
}

/** How a key of each algorithm signs a certificate or CRL: the strongest hash its size calls for. */
export function signatureScheme(algorithm: string): SignatureScheme {
  if (algorithm.startsWith('RSA-'))
    return {
      oid: '1.2.840.113549.1.1.11',
      nullParameters: true,
      hash: 'sha256',
      options: [
        { type: pkcs11js.CKM_SHA256_RSA_PKCS, fn: 'sign', input: 'message' },
        { type: pkcs11js.CKM_RSA_PKCS, fn: 'sign', input: 'digest-info' },
      ],
    };
  if (algorithm === 'EC-P256' || algorithm === 'EC-P384') {
    const hash = algorithm === 'EC-P256' ? 'sha256' : 'sha384';
    return {
      oid: hash === 'sha256' ? '1.2.840.10045.4.3.2' : '1.2.840.10045.4.3.3',
      nullParameters: false,
      hash,
      options: [{ type: pkcs11js.CKM_ECDSA, fn: 'sign', input: 'digest' }],
    };
  }
  if (algorithm === 'Ed25519')
    return {
      oid: '1.3.101.112',
      nullParameters: false,
      hash: null,
      options: [{ type: CKM_EDDSA, fn: 'sign', input: 'message' }],
    };
  throw new CustosError('KEY_TYPE_UNSUITED', `An ${algorithm} key signs no certificate.`, [
    'Use an RSA, EC or Ed25519 key for a certificate authority.',
  ]);
}

export function algorithmIdentifier(scheme: SignatureScheme): AlgorithmIdentifier {
  return new AlgorithmIdentifier(
    scheme.nullParameters ? { algorithm: scheme.oid, parameters: null } : { algorithm: scheme.oid },
  );
}

/**
 * Signs bytes with the private key of this CKA_ID inside the token (its private object, which takes the PIN; not a
 * public one anyone planted under the id); the key never leaves it. The signature comes back as X.509 carries it
 * (ECDSA as a DER SEQUENCE of r and s).
 */
export function signInToken(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  key: { id: string; algorithm: string },
  data: Buffer,
): Buffer {
  const scheme = signatureScheme(key.algorithm);
  const handle = privateKeyObject(lib, session, pkcs11js.CKO_PRIVATE_KEY, key.id);
  if (!handle) throw new CustosError('KEY_OBJECTS_MISSING', 'The token no longer holds this key’s private half.');
  const option = firstOffered(sessionMechanisms(lib, session), scheme.options);
  if (!option)
    throw new CustosError(
      'TOKEN_CAPABILITY_MISSING',
      `The token offers no mechanism that signs with ${key.algorithm}.`,
    );
  const digest = scheme.hash ? createHash(scheme.hash).update(data).digest() : data;
  const input =
    option.input === 'message'
      ? data
      : option.input === 'digest'
        ? digest
        : Buffer.concat([DIGEST_INFO[scheme.hash ?? 'sha256'], digest]);
  const mechanism = option.type;
  tokenStep('C_SignInit', { mechanism }, () => lib.C_SignInit(session, { mechanism }, handle));
  const raw = tokenStep('C_Sign', { mechanism }, () => lib.C_Sign(session, input, Buffer.alloc(1024)));
  return key.algorithm.startsWith('EC-') ? ecdsaDer(raw) : raw;
}

/** What signing with this algorithm needs from the token; checked when proposed. */
export const signingNeed = (algorithm: string, purpose: string) => ({
  kind: 'mechanism' as const,
  purpose,
  anyOf: signatureScheme(algorithm).options,
});
