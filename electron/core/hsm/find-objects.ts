import type pkcs11js from 'pkcs11js';

/** C_FindObjectsInit / C_FindObjects / C_FindObjectsFinal: up to `max` handles matching the template. */
export function findObjects(lib: pkcs11js.PKCS11, session: Buffer, template: pkcs11js.Template, max = 16): Buffer[] {
  lib.C_FindObjectsInit(session, template);
  try {
    return lib.C_FindObjects(session, max);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

/** A CK_BBOOL attribute as pkcs11js returns it (a one-byte Buffer, or a boolean): true when set. */
export function attributeTrue(value: unknown): boolean {
  return Buffer.isBuffer(value) ? value.length > 0 && value[0] !== 0 : Boolean(value);
}
