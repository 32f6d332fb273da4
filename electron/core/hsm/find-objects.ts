import pkcs11js from 'pkcs11js';
import { refusalName } from './pkcs11-errors';

/** C_FindObjectsInit / C_FindObjects / C_FindObjectsFinal: up to `max` handles matching the template. */
export function findObjects(lib: pkcs11js.PKCS11, session: Buffer, template: pkcs11js.Template, max = 16): Buffer[] {
  lib.C_FindObjectsInit(session, template);
  try {
    return lib.C_FindObjects(session, max);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

/** Every handle matching the template, however many were planted: read in one search `batch` handles at a time. */
export function everyObject(lib: pkcs11js.PKCS11, session: Buffer, template: pkcs11js.Template, batch = 64): Buffer[] {
  lib.C_FindObjectsInit(session, template);
  try {
    const found: Buffer[] = [];
    for (let next = lib.C_FindObjects(session, batch); next.length > 0; next = lib.C_FindObjects(session, batch))
      found.push(...next);
    return found;
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

/** Destroys the object; false when the token will not (CKA_DESTROYABLE false: CKR_ACTION_PROHIBITED). */
export function destroyed(lib: pkcs11js.PKCS11, session: Buffer, handle: Buffer): boolean {
  try {
    lib.C_DestroyObject(session, handle);
    return true;
  } catch (error) {
    if (refusalName(error) === 'CKR_ACTION_PROHIBITED') return false;
    throw error;
  }
}

/**
 * A key's own private or secret object of this class under its CKA_ID (hex). Custos makes those CKA_PRIVATE true,
 * which takes the user PIN; any session, with no login, can create a public object under any id, and the token may
 * list it first.
 */
export function privateKeyObject(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  objectClass: number,
  id: string,
): Buffer | undefined {
  const template = [
    { type: pkcs11js.CKA_CLASS, value: objectClass },
    { type: pkcs11js.CKA_ID, value: Buffer.from(id, 'hex') },
    { type: pkcs11js.CKA_PRIVATE, value: true },
  ];
  return findObjects(lib, session, template, 1)[0];
}

/** A CK_BBOOL attribute as pkcs11js returns it (a one-byte Buffer, or a boolean): true when set. */
export function attributeTrue(value: unknown): boolean {
  return Buffer.isBuffer(value) ? value.length > 0 && value[0] !== 0 : Boolean(value);
}
