import { createHash } from 'node:crypto';
import { z } from 'zod';
import { CustosError } from '../errors';
import { algorithmOfPublicKey } from '../keys/public-key-algorithm';
import { NO_FINGERPRINT } from '../keys/key-inventory';
import { readable } from '../../../shared/pki';
import type { Manifest, ManifestKey } from './manifest';

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/** Key generation's bounds (shared/actions.ts GenerateParams): a restore registers nothing it could not have made. */
const CRYPTOPERIOD_DAYS = { min: 1, max: 3650 } as const;
const LABEL_CHARACTERS = 64;
const DAYS = `is not a whole number of days from ${CRYPTOPERIOD_DAYS.min} to ${CRYPTOPERIOD_DAYS.max}`;

const utcTime = z.iso.datetime({
  error: 'is not a UTC time in ISO 8601 form (such as 2026-01-31T09:00:00.000Z)',
});
const base64 = (what: string) => z.base64({ error: `is not ${what} in base64` }).min(1, `is not ${what} in base64`);

/**
 * What a manifest says of each key, held to what Custos itself records when it makes a key: a restore writes these
 * values into the inventory for a key new to it, and the signature and MAC prove only who wrote them, not that they
 * make sense (dates, a cryptoperiod, a fingerprint that is not its public key's).
 */
export const RestorableKey = z
  .looseObject({
    label: z.string().min(1, 'is empty').max(LABEL_CHARACTERS, `is longer than ${LABEL_CHARACTERS} characters`),
    createdAt: utcTime,
    expiresAt: utcTime,
    cryptoperiodDays: z.number().int(DAYS).min(CRYPTOPERIOD_DAYS.min, DAYS).max(CRYPTOPERIOD_DAYS.max, DAYS),
    kcv: z
      .string()
      .regex(/^[0-9A-F]{6}$/, 'is not a check value (6 hexadecimal digits, upper case)')
      .nullable(),
    publicKey: base64('a public key').nullable(),
    fingerprint: z.string(),
    wrapped: base64('a wrapped key'),
  })
  .superRefine((key, ctx) => {
    const { algorithm, id } = key as unknown as ManifestKey;
    const dated = utcTime.safeParse(key.createdAt).success && utcTime.safeParse(key.expiresAt).success;
    if (dated && Date.parse(key.expiresAt) < Date.parse(key.createdAt))
      ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: `is before its createdAt (${key.createdAt})` });
    if (algorithm === 'AES-256') {
      if (key.publicKey !== null)
        ctx.addIssue({ code: 'custom', path: ['publicKey'], message: 'is given for an AES key, which has none' });
      // Sets made before a secret key's fingerprint was "none" carry the SHA-256 of its check value or CKA_ID text: of
      // its CKA_ID also beside a check value, for a key that had none when made and a verified backup measured since.
      const older = [key.kcv, id].filter((text) => text !== null).map((text) => sha256(text));
      if (![NO_FINGERPRINT, ...older].includes(key.fingerprint))
        ctx.addIssue({
          code: 'custom',
          path: ['fingerprint'],
          message: `is not “${NO_FINGERPRINT}” for an AES key`,
        });
      return;
    }
    if (key.kcv !== null)
      ctx.addIssue({ code: 'custom', path: ['kcv'], message: `is given for an ${algorithm} key pair, which has none` });
    if (key.publicKey === null) {
      ctx.addIssue({ code: 'custom', path: ['publicKey'], message: `is missing for an ${algorithm} key pair` });
      return;
    }
    const spki = Buffer.from(key.publicKey, 'base64');
    const actual = algorithmOfPublicKey(spki);
    if (actual !== algorithm)
      ctx.addIssue({
        code: 'custom',
        path: ['publicKey'],
        message: actual === null ? 'is not a public key (SubjectPublicKeyInfo)' : `is ${actual}, not ${algorithm}`,
      });
    else if (key.fingerprint !== sha256(spki))
      ctx.addIssue({ code: 'custom', path: ['fingerprint'], message: 'is not the SHA-256 of its public key' });
  });

/**
 * Refuses (BACKUP_INVALID, naming the key and the field) a manifest any of whose keys says what Custos never records:
 * when a set is made, imported, and again before a restore is proposed and run, since the restore writes these
 * fields into the inventory. `outcome` says what did not happen.
 */
export function refuseInvalidKeys(manifest: Manifest, outcome: string): void {
  const problems = manifest.keys.flatMap((key) => {
    const parsed = RestorableKey.safeParse(key);
    if (parsed.success) return [];
    const shown = readable(key.label) && key.label.length <= LABEL_CHARACTERS;
    const name = shown ? `“${key.label}” (${key.id})` : key.id;
    return parsed.error.issues.map((issue) => `key ${name}: ${issue.path.join('.')} ${issue.message}`);
  });
  if (problems.length === 0) return;
  throw new CustosError(
    'BACKUP_INVALID',
    `Backup set ${manifest.setId.slice(0, 8)} describes a key as Custos never records one: ${problems[0]}; ${outcome}.`,
    [
      ...problems.slice(1).map((problem) => `Also: ${problem}.`),
      'Keep the file and its cards apart and tell your security officer: this set was not made by Custos as it is.',
    ],
  );
}
