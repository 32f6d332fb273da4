import { createECDH } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { attributeTrue, findObjects } from '../hsm/find-objects';
import type { quorumFixture } from './quorum-fixture';

const P256 = Buffer.from('06082a8648ce3d030107', 'hex');

/**
 * What anyone can do to a token with no PIN: create public objects (CKA_PRIVATE false) under a key's CKA_ID, here a
 * key of the given class whose value the planter knows, with every use on. Call it in a session with no login.
 */
export function plantPublicKey(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  keyId: string,
  objectClass: number,
  extra: pkcs11js.Template = [],
): Buffer {
  const common = [
    { type: pkcs11js.CKA_CLASS, value: objectClass },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: false },
    { type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') },
    { type: pkcs11js.CKA_LABEL, value: 'planted' },
    ...extra,
  ];
  if (objectClass === pkcs11js.CKO_SECRET_KEY)
    return lib.C_CreateObject(session, [
      ...common,
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_VALUE, value: Buffer.alloc(32, 0x41) },
      ...[pkcs11js.CKA_ENCRYPT, pkcs11js.CKA_DECRYPT, pkcs11js.CKA_SIGN, pkcs11js.CKA_WRAP, pkcs11js.CKA_UNWRAP].map(
        (type) => ({ type, value: true }),
      ),
    ]);
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const ec = [
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
    { type: pkcs11js.CKA_EC_PARAMS, value: P256 },
  ];
  if (objectClass === pkcs11js.CKO_PRIVATE_KEY)
    return lib.C_CreateObject(session, [
      ...common,
      ...ec,
      { type: pkcs11js.CKA_VALUE, value: ecdh.getPrivateKey() },
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_DERIVE, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
      { type: pkcs11js.CKA_UNWRAP, value: true },
    ]);
  // CKA_EC_POINT is the point as a DER OCTET STRING (65 bytes uncompressed).
  const point = Buffer.concat([Buffer.from([0x04, 0x41]), ecdh.getPublicKey()]);
  return lib.C_CreateObject(session, [
    ...common,
    ...ec,
    { type: pkcs11js.CKA_EC_POINT, value: point },
    { type: pkcs11js.CKA_VERIFY, value: true },
  ]);
}

/**
 * Plants public objects of the class under a key's id, a few at a time, until a logged-in session lists one ahead of
 * the key's own object: SoftHSM2 lists objects in an order of its own (not creation), so a test that planted a fixed
 * number could pass by luck on code that takes the first object found.
 */
export async function plantAheadOfKey(
  f: Awaited<ReturnType<typeof quorumFixture>>,
  custodyId: string,
  keyId: string,
  objectClass: number,
): Promise<void> {
  const template = [
    { type: pkcs11js.CKA_CLASS, value: objectClass },
    { type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') },
  ];
  for (let round = 0; round < 16; round++) {
    f.module.withSession(f.custody.record(custodyId).token, { write: true }, (session, lib) => {
      for (let i = 0; i < 4; i++) plantPublicKey(lib, session, keyId, objectClass);
    });
    const firstIsPrivate = await f.loggedIn(custodyId, [0, 1], (session, lib) => {
      const [first] = findObjects(lib, session, template, 1);
      return attributeTrue(lib.C_GetAttributeValue(session, first!, [{ type: pkcs11js.CKA_PRIVATE }])[0]?.value);
    });
    if (!firstIsPrivate) return;
  }
  throw new Error('The token never listed a planted object ahead of the key’s own.');
}
