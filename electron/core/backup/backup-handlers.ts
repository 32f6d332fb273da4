import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import QRCode from 'qrcode';
import type { Handlers } from '../ipc/router';
import { FACTOR_FAILURES, SHARE_FAILURES, type AuditPlans } from '../ipc/request-record';
import { writeFileAtomic } from '../secret-vault';
import { destination, type ChooseDestination } from '../destinations';
import { IMPORT_FAILURES, importPickedBackup } from './backup-import';
import type { BackupService } from './backup-service';

type BackupChannel =
  | 'backups.list'
  | 'backups.card'
  | 'backups.forgetCards'
  | 'backups.exportFile'
  | 'backups.importFile'
  | 'backups.enterShare'
  | 'backups.checkShare'
  | 'backups.cardDestroyed';

export const backupPlan: AuditPlans<BackupChannel> = {
  'backups.list': { action: 'backup.list', self: false, params: false },
  // A card is released to its holder (both factors) and recorded before it leaves; the card itself never is.
  'backups.card': { action: 'backup.card.release', self: true, params: false, selfFailures: FACTOR_FAILURES },
  'backups.forgetCards': { action: 'backup.cards.forget', self: false, params: true },
  'backups.exportFile': { action: 'backup.export', self: true, params: true },
  // The import records itself, refusals included (the same entries as `custos backup import`); a cancelled dialog
  // changes nothing.
  'backups.importFile': { action: 'backup.import', self: true, params: false, selfFailures: IMPORT_FAILURES },
  'backups.enterShare': { action: 'backup.share-enter', self: true, params: false, selfFailures: SHARE_FAILURES },
  'backups.checkShare': {
    action: 'backup.share-check',
    self: true,
    params: false,
    selfFailures: [...SHARE_FAILURES, 'BACKUP_NOT_FOUND'],
  },
  // Recorded by the service with the holder as actor once both factors are proven; a refusal by the router.
  'backups.cardDestroyed': {
    action: 'backup.card.destroyed',
    self: true,
    params: false,
    selfFailures: FACTOR_FAILURES,
  },
};

export function backupHandlers({
  backups,
  dataDir,
  pickBackupFile,
  chooseDestination,
}: {
  backups: BackupService;
  dataDir: string;
  /** Asks the person at the console, in main, for a backup file; absent where nobody can be asked. */
  pickBackupFile: (() => Promise<string | null>) | undefined;
  /** Where the backup file goes when the console named a place (the CLI: --out); else the data directory. */
  chooseDestination: ChooseDestination | undefined;
}): Pick<Handlers, BackupChannel> {
  return {
    'backups.list': () => backups.list(),
    'backups.card': async ({ setId, holder }) => {
      const card = await backups.releaseCard(setId, holder);
      return { ...card, qrSvg: await QRCode.toString(card.qr, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 }) };
    },
    'backups.forgetCards': ({ setId }) => {
      backups.forgetCards(setId);
      return { forgotten: true as const };
    },
    'backups.exportFile': ({ setId }) => {
      const fallback = join(dataDir, 'backups', `custos-backup-${setId}.json`);
      const { path } = destination(chooseDestination, 'backup-file', fallback);
      const file = backups.exportFile(setId);
      // Wrapped keys and their manifest: readable by the owner only, like everything in the data directory.
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      writeFileAtomic(path, file, 0o600);
      const made = backups.list().find((b) => b.setId === setId);
      return { path, auditKey: made?.madeBy.auditKey ?? null };
    },
    'backups.importFile': ({ expectAuditKey }) => importPickedBackup(backups, pickBackupFile, expectAuditKey),
    'backups.enterShare': ({ proposalId, text }) => backups.enterShare(proposalId, text),
    'backups.checkShare': ({ text }) => backups.checkShare(text),
    'backups.cardDestroyed': async ({ setId, holder }) => {
      await backups.retirements.cardDestroyed(setId, holder);
      return backups.list().find((b) => b.setId === setId)!;
    },
  };
}
