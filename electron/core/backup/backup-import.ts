import type { BackupImportResult } from '../../../shared/backups';
import type { ErrorCode } from '../../../shared/errors';
import { readBoundedText } from '../bounded-file';
import { CustosError } from '../errors';
import type { BackupService } from './backup-service';

/** Far above any real backup (a few kB per wrapped key): a large file chosen by mistake is not read into memory. */
const MAX_BACKUP_FILE_BYTES = 16 * 1024 * 1024;

/** Every refusal of an import that BackupService.importFile records itself (the router must not record it again). */
export const IMPORT_FAILURES: readonly ErrorCode[] = [
  'BACKUP_INVALID',
  'BACKUP_AUDIT_KEY_MISMATCH',
  'BACKUP_NOT_PORTABLE',
  'FILE_NOT_FOUND',
  'FILE_ACCESS_DENIED',
];

/**
 * Imports the backup file main asked a person for (the app: a file dialog; tests: a stub), so the
 * path read is one they chose there, never a string from the renderer. Cancelled: nothing is read,
 * nothing changes. Every refusal is recorded as `backup.import`, as for `custos backup import`.
 */
export async function importPickedBackup(
  backups: BackupService,
  pick: (() => Promise<string | null>) | undefined,
  expectAuditKey: string | undefined,
): Promise<BackupImportResult> {
  const path = pick ? await pick() : undefined;
  if (path === null) return { outcome: 'cancelled' };
  const { authentication, ...backup } = backups.importFile(() => {
    if (path === undefined) {
      throw new CustosError(
        'FILE_NOT_FOUND',
        'This Custos cannot ask for a backup file here, so nothing was imported.',
        ['Use `custos backup import --file FILE` instead.'],
      );
    }
    return readBackupFile(path);
  }, expectAuditKey);
  return { outcome: 'imported', backup, authentication };
}

function readBackupFile(path: string): string {
  const limit = {
    bytes: MAX_BACKUP_FILE_BYTES,
    code: 'BACKUP_INVALID',
    what: 'the .json file Custos exported',
  } as const;
  return readBoundedText(path, limit);
}
