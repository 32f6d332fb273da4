import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import QRCode from 'qrcode';
import type { Handlers } from '../ipc/router';
import { FACTOR_FAILURES, SHARE_FAILURES, type AuditPlans } from '../ipc/request-record';
import { writeFileAtomic } from '../secret-vault';
import { IMPORT_FAILURES, importPickedBackup } from './backup-import';
import type { BackupService } from './backup-service';

type BackupChannel =
  | 'backups.list'
  | 'backups.card'
  | 'backups.forgetCards'
  | 'backups.exportFile'
  | 'backups.importFile'
  | 'backups.enterShare'
  | 'backups.checkShare';

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
};

export function backupHandlers({
  backups,
  dataDir,
  pickBackupFile,
}: {
  backups: BackupService;
  dataDir: string;
  /** Asks the person at the console, in main, for a backup file; absent where nobody can be asked. */
  pickBackupFile: (() => Promise<string | null>) | undefined;
}): Pick<Handlers, BackupChannel> {
  return {
    'backups.list': () => backups.list(),
    'backups.card': async ({ setId, holder }) => {
      const { qr, ...card } = await backups.releaseCard(setId, holder);
      return { ...card, qrSvg: await QRCode.toString(qr, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 }) };
    },
    'backups.forgetCards': ({ setId }) => {
      backups.forgetCards(setId);
      return { forgotten: true as const };
    },
    'backups.exportFile': ({ setId }) => {
      const path = join(dataDir, 'backups', `custos-backup-${setId}.json`);
      // Wrapped keys and their manifest: readable by the owner only, like everything in the data directory.
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      writeFileAtomic(path, backups.exportFile(setId), 0o600);
      return { path };
    },
    'backups.importFile': ({ expectAuditKey }) => importPickedBackup(backups, pickBackupFile, expectAuditKey),
    'backups.enterShare': ({ proposalId, text }) => backups.enterShare(proposalId, text),
    'backups.checkShare': ({ text }) => backups.checkShare(text),
  };
}
