import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { AuditService } from '../audit/audit-service';
import { canonicalJson } from '../canonical-json';
import { CustosError } from '../errors';
import { Algorithm, KeyState, KeyUsage } from '../../../shared/keys';
import { readable, UNREADABLE_MESSAGE } from '../../../shared/pki';
import { refuseInvalidKeys } from './manifest-keys';

const Hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`));
/** A value of the enum, typed as a string as the inventory's rows are. */
const oneOf = (values: z.ZodEnum) => z.string().refine((value) => values.safeParse(value).success);

export const ManifestKey = z.strictObject({
  id: Hex(16),
  label: z.string(),
  // What a restore registers for a key new to the inventory: only what Custos itself could have recorded.
  algorithm: oneOf(Algorithm),
  usage: oneOf(KeyUsage),
  backupable: z.boolean(),
  state: oneOf(KeyState),
  createdAt: z.string(),
  cryptoperiodDays: z.number().int(),
  expiresAt: z.string(),
  kcv: z.string().nullable(),
  /** SubjectPublicKeyInfo DER, base64; null for AES. */
  publicKey: z.string().nullable(),
  fingerprint: z.string(),
  /** The key wrapped under the KEK with `mechanism`, base64. */
  wrapped: z.string(),
});
export type ManifestKey = z.infer<typeof ManifestKey>;

const manifestFields = {
  kind: z.literal('custos-backup-manifest'),
  setId: Hex(16),
  createdAt: z.string(),
  /** The audit log origin of the installation that made it. */
  installation: z.string(),
  source: z.strictObject({ serial: z.string(), label: z.string() }),
  proposal: z.string(),
  mechanism: z.strictObject({ type: z.number().int(), name: z.string() }),
  threshold: z.number().int().min(2),
  shares: z
    .array(
      z.strictObject({
        index: z.number().int().min(1),
        holder: z.strictObject({ id: z.string(), name: z.string() }),
        commitment: Hex(32),
      }),
    )
    .min(2),
  kekCheck: Hex(32),
  verified: z.boolean(),
  keys: z.array(ManifestKey).min(1),
};

/** Format 1: vouched for only by the signature of the audit key that made it; only that installation restores it. */
export const ManifestV1 = z.strictObject({ ...manifestFields, v: z.literal(1) });

/**
 * Format 2 also names its maker's audit key and carries a MAC under a key derived from the KEK:
 * whoever holds t cards can check it, on any installation, before anything is unwrapped.
 */
export const ManifestV2 = z.strictObject({
  ...manifestFields,
  v: z.literal(2),
  /** The maker's Ed25519 audit public key (32 bytes, base64). */
  auditKey: z.string().regex(/^[A-Za-z0-9+/]{43}=$/),
  /** HMAC-SHA256, under HKDF-SHA256 of the KEK, over the canonical manifest without this field. */
  mac: Hex(32),
});

/** What a backup file says, signed as a whole: any changed byte, blob included, fails the signature (and the MAC). */
export const Manifest = z.discriminatedUnion('v', [ManifestV1, ManifestV2]);
export type Manifest = z.infer<typeof Manifest>;
export type ManifestV2 = z.infer<typeof ManifestV2>;

export const BackupFile = z.strictObject({
  format: z.literal('custos-backup/1'),
  manifest: z.unknown(),
  signature: z.string(),
});
export type BackupFile = z.infer<typeof BackupFile>;

/** A set's fingerprint: SHA-256 of the exact manifest bytes its signature covers. */
export const manifestFingerprint = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

export function signManifest(audit: AuditService, manifest: Manifest): { text: string; signature: Buffer } {
  refuseUnreadableLabels(manifest, 'no backup set was made');
  refuseInvalidKeys(manifest, 'no backup set was made');
  const text = canonicalJson(manifest);
  return { text, signature: audit.signDocument(Buffer.from(text, 'utf8')) };
}

/** Reads a backup file's shape (zod); whether it is authentic is decided by authenticateManifest. */
export function parseBackupFile(json: string): { manifest: Manifest; text: string; signature: Buffer } {
  let manifest: Manifest;
  let signature: Buffer;
  try {
    const file = BackupFile.parse(JSON.parse(json));
    manifest = Manifest.parse(file.manifest);
    signature = Buffer.from(file.signature, 'base64');
  } catch (error) {
    // The field, never its value: the file is untrusted text.
    const at = error instanceof z.ZodError ? error.issues[0]?.path.join('.') : undefined;
    throw new CustosError(
      'BACKUP_INVALID',
      `This is not a Custos backup file, or it is damaged${at ? ` (at ${at})` : ''}. Nothing was imported.`,
      ['Use the file exactly as Custos exported it.'],
      { cause: error },
    );
  }
  refuseUnreadableLabels(manifest, 'nothing was imported');
  refuseInvalidKeys(manifest, 'nothing was imported');
  return { manifest, text: canonicalJson(manifest), signature };
}

/** Whether every name the manifest shows people follows the rule for labels (a stored manifest is read again so). */
export function readableManifest(manifest: Manifest): boolean {
  return shownNames(manifest).every(([, text]) => readable(text));
}

function shownNames(manifest: Manifest): [string, string][] {
  return [
    ...manifest.keys.map((key): [string, string] => ['key label', key.label]),
    ['token label', manifest.source.label],
    ...manifest.shares.map((share): [string, string] => ['card holder', share.holder.name]),
  ];
}

/**
 * The names a manifest shows people (its keys' labels, the source token's label, the card holders) follow the rule
 * key labels do (shared/pki.ts `readable`): a set that breaks it is neither made nor read (BACKUP_INVALID).
 */
function refuseUnreadableLabels(manifest: Manifest, outcome: string): void {
  const unreadable = shownNames(manifest).filter(([, text]) => !readable(text));
  if (unreadable.length === 0) return;
  throw new CustosError(
    'BACKUP_INVALID',
    `The backup manifest holds a name that breaks the rule for labels (${UNREADABLE_MESSAGE}); ${outcome}.`,
    [
      `As written, each such character shown as its code: ${unreadable.map(([what, text]) => `${what} “${escaped(text)}”`).join(', ')}.`,
      'Tell your security officer: a name that reads differently from what is signed was put in this backup set.',
    ],
  );
}

/** The text with every character the readable rule refuses shown as its code point (U+202E), so nothing reorders it. */
function escaped(text: string): string {
  return [...text]
    .map((ch) => (readable(ch) ? ch : `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`))
    .join('');
}

export function backupFileText(text: string, signature: Buffer): string {
  return `${JSON.stringify({ format: 'custos-backup/1', manifest: JSON.parse(text) as unknown, signature: signature.toString('base64') }, null, 2)}\n`;
}
