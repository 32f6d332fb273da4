import { createCipheriv, createDecipheriv, randomBytes, scrypt, type ScryptOptions } from 'node:crypto';
import { z } from 'zod';
import { CustosError } from '../errors';

/**
 * Passphrase-derived keys (scrypt from node:crypto, parameters recorded with every record) and
 * AES-256-GCM sealing bound to what the secret is for (the AAD), so a sealed TOTP secret cannot
 * be passed off as a sealed share or as another custodian's.
 */
export const KdfParams = z.strictObject({
  algorithm: z.literal('scrypt'),
  N: z.number().int().min(1024),
  r: z.number().int().min(1),
  p: z.number().int().min(1),
  salt: z.string(),
});
export type KdfParams = z.infer<typeof KdfParams>;

/** OWASP's scrypt floor is N=2^17, r=8, p=1 (~128 MiB, a few hundred ms here). */
export const DEFAULT_KDF = { N: 2 ** 17, r: 8, p: 1 } as const;

export function newKdfParams(cost: { N: number; r: number; p: number } = DEFAULT_KDF): KdfParams {
  return { algorithm: 'scrypt', ...cost, salt: randomBytes(16).toString('base64') };
}

/**
 * The caller owns the returned key and overwrites it (fill(0)) when done. Asynchronous: scrypt
 * runs on libuv's thread pool, so a factor check (~0.5 s) never stalls the other requests.
 */
export function deriveKey(passphrase: Buffer, params: KdfParams): Promise<Buffer> {
  const options: ScryptOptions = {
    N: params.N,
    r: params.r,
    p: params.p,
    maxmem: 256 * params.N * params.r + 64 * 1024 * 1024,
  };
  return new Promise((resolve, reject) => {
    scrypt(passphrase, Buffer.from(params.salt, 'base64'), 32, options, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

const VERSION = 1;

export function seal(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), ciphertext]);
}

/** Throws PASSPHRASE_INCORRECT when the key (that is, the passphrase) or the AAD is wrong. */
export function open(key: Buffer, sealed: Buffer, aad: string): Buffer {
  if (sealed.length < 29 || sealed[0] !== VERSION)
    throw new CustosError('STORE_CORRUPT', 'A sealed record is damaged.');
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 13));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(sealed.subarray(13, 29));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(29)), decipher.final()]);
  } catch {
    throw new CustosError('PASSPHRASE_INCORRECT', 'The passphrase is not correct.');
  }
}
