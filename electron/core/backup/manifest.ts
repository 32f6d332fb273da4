import { z } from 'zod';
import type { AuditService } from '../audit/audit-service';
import { canonicalJson } from '../canonical-json';
import { CustosError } from '../errors';

const Hex = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`));

export const ManifestKey = z.strictObject({
  id: Hex(16),
  label: z.string(),
  algorithm: z.string(),
  usage: z.string(),
  backupable: z.boolean(),
  state: z.string(),
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

/** What a backup file says, signed as a whole: any changed byte, blob included, fails the signature. */
export const Manifest = z.strictObject({
  kind: z.literal('custos-backup-manifest'),
  v: z.literal(1),
  setId: Hex(16),
  createdAt: z.string(),
  /** The audit log origin of the installation that made it. */
  installation: z.string(),
  source: z.strictObject({ serial: z.string(), label: z.string() }),
  proposal: z.string(),
  mechanism: z.strictObject({ type: z.number().int(), name: z.string() }),
  threshold: z.number().int().min(2),
  shares: z.array(z.strictObject({ index: z.number().int().min(1), holder: z.strictObject({ id: z.string(), name: z.string() }), commitment: Hex(32) })).min(2),
  kekCheck: Hex(32),
  verified: z.boolean(),
  keys: z.array(ManifestKey).min(1),
});
export type Manifest = z.infer<typeof Manifest>;

export const BackupFile = z.strictObject({ format: z.literal('custos-backup/1'), manifest: z.unknown(), signature: z.string() });
export type BackupFile = z.infer<typeof BackupFile>;

export function signManifest(audit: AuditService, manifest: Manifest): { text: string; signature: Buffer } {
  const text = canonicalJson(manifest);
  return { text, signature: audit.signDocument(Buffer.from(text, 'utf8')) };
}

/**
 * Reads a backup file and checks it before anything is imported: its shape, and a signature by
 * this installation's audit key over the canonical manifest. A manifest from another
 * installation, or with any byte changed, is refused.
 */
export function readBackupFile(audit: AuditService, json: string): { manifest: Manifest; text: string; signature: Buffer } {
  let file: BackupFile;
  let manifest: Manifest;
  try {
    file = BackupFile.parse(JSON.parse(json));
    manifest = Manifest.parse(file.manifest);
  } catch (error) {
    throw new CustosError('BACKUP_INVALID', 'This is not a Custos backup file, or it is damaged.', ['Use the file exactly as Custos exported it.'], { cause: error });
  }
  const text = canonicalJson(manifest);
  const signature = Buffer.from(file.signature, 'base64');
  if (!audit.verifyDocument(Buffer.from(text, 'utf8'), signature)) {
    throw new CustosError('BACKUP_INVALID', 'The backup’s signature does not match: it was changed after it was made, or another Custos installation made it. Nothing was imported.', [
      'Use the backup file from its original source; restore on the installation that made it.',
    ]);
  }
  return { manifest, text, signature };
}

export function backupFileText(text: string, signature: Buffer): string {
  return `${JSON.stringify({ format: 'custos-backup/1', manifest: JSON.parse(text) as unknown, signature: signature.toString('base64') }, null, 2)}\n`;
}
