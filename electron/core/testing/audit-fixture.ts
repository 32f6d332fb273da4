import { join } from 'node:path';
import { AuditService } from '../audit/audit-service';
import { ModuleHost } from '../hsm/module-host';
import { silentLog } from '../log';
import { FileSecretVault } from '../secret-vault';
import { Settings } from '../settings/settings';
import { Store } from '../store/database';

/** A real audit service on a data directory: SQLite file, SoftHSM2 audit token, 0600 PIN file. */
export function openAudit(dataDir: string, clock?: () => Date) {
  const store = Store.open(dataDir);
  const host = new ModuleHost();
  const audit = new AuditService({
    dataDir,
    store,
    settings: new Settings(store),
    host,
    vaults: { file: new FileSecretVault(join(dataDir, 'audit-token.pin')) },
    preferredVault: 'file',
    log: silentLog,
    ...(clock ? { clock } : {}),
  });
  return {
    store,
    audit,
    host,
    close() {
      audit.close();
      host.closeAll();
      store.close();
    },
  };
}
