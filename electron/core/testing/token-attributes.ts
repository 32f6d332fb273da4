import pkcs11js from 'pkcs11js';
import { findObjects } from '../hsm/find-objects';
import { CKA_COPYABLE, CKA_MODIFIABLE } from '../keys/key-attributes';
import type { QuorumOperation } from '../quorum/quorum-service';

const ATTRIBUTES: Record<string, number> = {
  sign: pkcs11js.CKA_SIGN,
  'sign-recover': pkcs11js.CKA_SIGN_RECOVER,
  verify: pkcs11js.CKA_VERIFY,
  'verify-recover': pkcs11js.CKA_VERIFY_RECOVER,
  encrypt: pkcs11js.CKA_ENCRYPT,
  decrypt: pkcs11js.CKA_DECRYPT,
  wrap: pkcs11js.CKA_WRAP,
  unwrap: pkcs11js.CKA_UNWRAP,
  derive: pkcs11js.CKA_DERIVE,
  copyable: CKA_COPYABLE,
  modifiable: CKA_MODIFIABLE,
};
const CLASSES: Record<number, string> = {
  [pkcs11js.CKO_PRIVATE_KEY]: 'private',
  [pkcs11js.CKO_PUBLIC_KEY]: 'public',
  [pkcs11js.CKO_SECRET_KEY]: 'secret',
};

/**
 * A test-only quorum operation. Reads, inside the quorum's logged-in session, what the token says each object of a key
 * may do. */
export const readAttributes: QuorumOperation = ({ session, lib, params }) => {
  const id = Buffer.from((params as { keyId: string }).keyId, 'hex');
  const objects: Record<string, string[]> = {};
  for (const handle of findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: id }], 10)) {
    const cls = (
      lib.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_CLASS }])[0]!.value as Buffer
    ).readUInt32LE(0);
    // One at a time: an attribute that does not apply to the object's class (sign on a public key) is skipped.
    const allowed = (type: number) => {
      try {
        return (lib.C_GetAttributeValue(session, handle, [{ type }])[0]!.value as Buffer)[0] === 1;
      } catch {
        return false;
      }
    };
    objects[CLASSES[cls] ?? String(cls)] = Object.keys(ATTRIBUTES).filter((name) => allowed(ATTRIBUTES[name]!));
  }
  return objects;
};
