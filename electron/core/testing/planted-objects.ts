import { createECDH } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { findObjects } from '../hsm/find-objects';
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
 * Plants four public objects of the class under a key's id (by default with plantPublicKey, labelled 'planted') in a
 * session with no login that stays open until `close`, and checks that a logged-in session lists one ahead of the key's
 * own. SoftHSM2 lists what it finds by handle, and gives a token object its handle when a session first meets it,
 * forgetting them all when the token's last session closes: so the planted objects, met at their creation in a session
 * held open, come before the key, met only later. Planted in a session closed at once, they would come in an order of
 * the token's own, and a test could pass by luck on code that takes the first object found.
 */
export async function plantAheadOfKey(
  f: Awaited<ReturnType<typeof quorumFixture>>,
  custodyId: string,
  keyId: string,
  objectClass: number,
  plant: (lib: pkcs11js.PKCS11, session: Buffer) => unknown = (lib, session) =>
    plantPublicKey(lib, session, keyId, objectClass),
): Promise<{ close: () => void }> {
  const slot = f.module.findSlot(f.custody.record(custodyId).token);
  const session = f.module.run('plant', (lib) =>
    lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION),
  );
  const close = () => f.module.run('plant', (lib) => lib.C_CloseSession(session));
  f.module.run('plant', (lib) => {
    for (let i = 0; i < 4; i++) plant(lib, session);
  });
  const template = [
    { type: pkcs11js.CKA_CLASS, value: objectClass },
    { type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') },
  ];
  const firstLabel = await f.loggedIn(custodyId, [0, 1], (s, lib) => {
    const [first] = findObjects(lib, s, template, 1);
    return String(lib.C_GetAttributeValue(s, first!, [{ type: pkcs11js.CKA_LABEL }])[0]?.value);
  });
  if (firstLabel !== 'planted') {
    close();
    throw new Error('The token did not list a planted object ahead of the key’s own.');
  }
  return { close };
}
