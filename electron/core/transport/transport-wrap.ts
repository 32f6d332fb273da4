import { createPublicKey } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { RecipientAlgorithm } from '../../../shared/transport';
import { CustosError } from '../errors';
import { attributeTrue, privateKeyObject } from '../hsm/find-objects';
import { refusalName, tokenStep } from '../hsm/pkcs11-errors';
import { CURVES, publicKeySpki } from '../keys/key-generation';

/*
 * The token-side steps of key transport that backup does not already have (backup/key-wrap.ts
 * wraps and unwraps with AES-KWP): ECDH in the token, and the RSA-OAEP (SHA-256) probe.
 */

const t = (type: number, value: pkcs11js.Template[number]['value']) => ({ type, value });

/** The uncompressed point (04 ‖ X ‖ Y) of an EC public key given as SubjectPublicKeyInfo DER. */
export function ecPoint(spki: Buffer): Buffer {
  const jwk = createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || !jwk.x || !jwk.y)
    throw new CustosError('KEY_TYPE_UNSUITED', 'This public key is not an EC key; ECDH needs one.');
  return Buffer.concat([Buffer.from([0x04]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
}

/**
 * ECDH (CKM_ECDH1_DERIVE with CKD_NULL: the raw shared secret Z, as SP 800-56A's KDF input) with
 * the token's private key and the peer's point. Z is made a session object that may be read (the
 * KDF runs in node:crypto, since tokens of the 2.40 era offer no HKDF), read once and destroyed.
 */
export function sharedSecret(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  privateKey: Buffer,
  peerSpki: Buffer,
  size: number,
) {
  const mechanism = {
    mechanism: pkcs11js.CKM_ECDH1_DERIVE,
    parameter: { type: pkcs11js.CK_PARAMS_EC_DH, kdf: pkcs11js.CKD_NULL, publicData: ecPoint(peerSpki) },
  };
  const z = tokenStep('C_DeriveKey', { mechanism: 'CKM_ECDH1_DERIVE' }, () =>
    lib.C_DeriveKey(session, mechanism, privateKey, [
      t(pkcs11js.CKA_CLASS, pkcs11js.CKO_SECRET_KEY),
      t(pkcs11js.CKA_KEY_TYPE, pkcs11js.CKK_GENERIC_SECRET),
      t(pkcs11js.CKA_TOKEN, false),
      t(pkcs11js.CKA_SENSITIVE, false),
      t(pkcs11js.CKA_EXTRACTABLE, true),
      t(pkcs11js.CKA_VALUE_LEN, size),
    ]),
  );
  try {
    return Buffer.from(lib.C_GetAttributeValue(session, z, [{ type: pkcs11js.CKA_VALUE }])[0]!.value as Buffer);
  } finally {
    lib.C_DestroyObject(session, z);
  }
}

/**
 * The sender's half of ECDH: an ephemeral key pair made in the token (session objects, gone with
 * the session) on the recipient's curve, Z with the recipient's public key, and the ephemeral
 * public key the package carries.
 */
export function ephemeralAgreement(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  curve: Exclude<RecipientAlgorithm, 'RSA'>,
  recipientSpki: Buffer,
): { z: Buffer; ephemeralSpki: Buffer } {
  const { params, size } = CURVES[curve]!;
  const mechanism = { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN };
  const pair = tokenStep('C_GenerateKeyPair', mechanism, () =>
    lib.C_GenerateKeyPair(
      session,
      mechanism,
      [t(pkcs11js.CKA_TOKEN, false), t(pkcs11js.CKA_EC_PARAMS, Buffer.from(params, 'hex'))],
      [
        t(pkcs11js.CKA_TOKEN, false),
        t(pkcs11js.CKA_PRIVATE, true),
        t(pkcs11js.CKA_SENSITIVE, true),
        t(pkcs11js.CKA_EXTRACTABLE, false),
        t(pkcs11js.CKA_DERIVE, true),
        t(pkcs11js.CKA_SIGN, false),
      ],
    ),
  );
  try {
    return {
      z: sharedSecret(lib, session, pair.privateKey, recipientSpki, size),
      ephemeralSpki: publicKeySpki(lib, session, pair.publicKey, curve),
    };
  } finally {
    lib.C_DestroyObject(session, pair.privateKey);
    lib.C_DestroyObject(session, pair.publicKey);
  }
}

/** The private half of a Custos key, checked to allow key agreement (CKA_DERIVE), for the receiver's ECDH. */
export function agreementKey(lib: pkcs11js.PKCS11, session: Buffer, keyId: string, label: string): Buffer {
  const handle = privateKeyObject(lib, session, pkcs11js.CKO_PRIVATE_KEY, keyId);
  if (!handle) throw new CustosError('KEY_OBJECTS_MISSING', `The token no longer holds “${label}”.`);
  const [derive] = lib.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_DERIVE }]);
  if (!attributeTrue(derive?.value))
    throw new CustosError(
      'KEY_TYPE_UNSUITED',
      `“${label}” may not do key agreement (CKA_DERIVE is off): it was generated before Custos gave EC wrapping keys that use.`,
      ['Rotate it (key.rotate): its successor may, and senders then wrap for the successor’s public key.'],
    );
  return handle;
}

export const OAEP_SHA256 = 'CKM_RSA_PKCS_OAEP with SHA-256 and MGF1-SHA-256';

/**
 * Whether the token does RSA-OAEP with SHA-256 (SoftHSM2 2.6 takes only SHA-1): tried with the
 * recipient key's public half as a session object that may encrypt, made and destroyed here. No
 * login is needed, so it is asked before a proposal exists.
 */
export function probeOaepSha256(lib: pkcs11js.PKCS11, session: Buffer, spki: Buffer): boolean {
  const jwk = createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ format: 'jwk' });
  const handle = lib.C_CreateObject(session, [
    t(pkcs11js.CKA_CLASS, pkcs11js.CKO_PUBLIC_KEY),
    t(pkcs11js.CKA_KEY_TYPE, pkcs11js.CKK_RSA),
    t(pkcs11js.CKA_TOKEN, false),
    t(pkcs11js.CKA_ENCRYPT, true),
    t(pkcs11js.CKA_MODULUS, Buffer.from(jwk.n ?? '', 'base64url')),
    t(pkcs11js.CKA_PUBLIC_EXPONENT, Buffer.from(jwk.e ?? '', 'base64url')),
  ]);
  try {
    lib.C_EncryptInit(session, oaepSha256(Buffer.alloc(0)), handle);
    lib.C_Encrypt(session, Buffer.alloc(32), Buffer.alloc(1024));
    return true;
  } catch (error) {
    if (refusalName(error)) return false;
    throw error;
  } finally {
    lib.C_DestroyObject(session, handle);
  }
}

const CKZ_DATA_SPECIFIED = 1;

/** RSA-OAEP with SHA-256, MGF1-SHA-256 and the package's info as its label. */
export function oaepSha256(label: Buffer): pkcs11js.Mechanism {
  const parameter: pkcs11js.RsaOAEP = {
    type: pkcs11js.CK_PARAMS_RSA_OAEP,
    hashAlg: pkcs11js.CKM_SHA256,
    mgf: pkcs11js.CKG_MGF1_SHA256,
    source: CKZ_DATA_SPECIFIED,
    ...(label.length > 0 ? { sourceData: label } : {}),
  };
  return { mechanism: pkcs11js.CKM_RSA_PKCS_OAEP, parameter };
}

/** The transported wrapping key, unwrapped by the token's RSA key with OAEP-SHA256 as an unwrap-only session key. */
export function unwrapOaepKek(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  privateKey: Buffer,
  encryptedKek: Buffer,
  info: Buffer,
): Buffer {
  return tokenStep('C_UnwrapKey', { mechanism: OAEP_SHA256 }, () =>
    lib.C_UnwrapKey(session, oaepSha256(info), privateKey, encryptedKek, [
      t(pkcs11js.CKA_CLASS, pkcs11js.CKO_SECRET_KEY),
      t(pkcs11js.CKA_KEY_TYPE, pkcs11js.CKK_AES),
      t(pkcs11js.CKA_TOKEN, false),
      t(pkcs11js.CKA_UNWRAP, true),
      t(pkcs11js.CKA_WRAP, false),
      t(pkcs11js.CKA_ENCRYPT, false),
      t(pkcs11js.CKA_DECRYPT, false),
      t(pkcs11js.CKA_SENSITIVE, true),
      t(pkcs11js.CKA_EXTRACTABLE, false),
    ]),
  );
}
