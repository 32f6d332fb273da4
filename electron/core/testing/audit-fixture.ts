import { join } from 'node:path';
import { AuditAnchor, verifiedCheckpoint } from '../audit/audit-anchor';
import { AuditKey } from '../audit/audit-key';
import { AuditLog } from '../audit/audit-log';
import { AuditService } from '../audit/audit-service';
import { prepareEmbeddedSoftHsm } from '../hsm/softhsm';
import { ModuleHost } from '../hsm/module-host';
import { silentLog } from '../log';
import { FileSecretVault } from '../secret-vault';
import { Settings } from '../settings/settings';
import { Store } from '../store/database';
import { sql } from '../store/sql';

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

/**
 * What the machine's owner can do with the audit PIN (the whole data directory): sign a checkpoint
 * of the log as it now is and make it the token's anchor. Used to show what only outside
 * checkpoints can catch.
 */
export function reanchorAsOwner(dataDir: string): void {
  const store = Store.open(dataDir);
  const host = new ModuleHost();
  try {
    const module = host.acquire(prepareEmbeddedSoftHsm(dataDir).modulePath, 'embedded-softhsm');
    const row = store.get<{ key_id: string; name: string; public_key: Buffer; token_serial: string; token_label: string; cka_id: Buffer; created_at: string }>(
      sql`SELECT key_id, name, public_key, token_serial, token_label, cka_id, created_at FROM audit_keys ORDER BY rowid LIMIT 1`,
    )!;
    const vault = new FileSecretVault(join(dataDir, 'audit-token.pin'));
    const key = AuditKey.open(module, vault, { keyId: row.key_id, name: row.name, publicKey: row.public_key, token: { serial: row.token_serial, label: row.token_label }, ckaId: row.cka_id, createdAt: row.created_at });
    try {
      const log = new AuditLog(store, key, row.name);
      const { note } = log.checkpoint('signed by the owner');
      const checkpoint = verifiedCheckpoint(note, key.noteKey)!;
      new AuditAnchor(key, () => null).advance(checkpoint);
    } finally {
      key.close();
    }
  } finally {
    host.closeAll();
    store.close();
  }
}
