import pkcs11js from 'pkcs11js';
import { tokenStep } from '../hsm/pkcs11-errors';

/**
 * AES key check value: the first three bytes of AES-ECB over a zero block, computed in the token.
 * Only a key that may encrypt (CKA_ENCRYPT) can give one: a wrap- or sign-only key has none.
 */
export function checkValue(lib: pkcs11js.PKCS11, session: Buffer, handle: Buffer): string {
  const ecb = { mechanism: pkcs11js.CKM_AES_ECB };
  tokenStep('C_EncryptInit', ecb, () => lib.C_EncryptInit(session, ecb, handle));
  const block = tokenStep('C_Encrypt', ecb, () => lib.C_Encrypt(session, Buffer.alloc(16), Buffer.alloc(16)));
  return block.subarray(0, 3).toString('hex').toUpperCase();
}
