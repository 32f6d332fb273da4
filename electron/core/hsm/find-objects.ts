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
