import { SignedHeads } from '../audit/record-heads';
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { AuditAnchor, verifiedCheckpoint } from '../audit/audit-anchor';
import { AuditKey } from '../audit/audit-key';
import { AuditLog } from '../audit/audit-log';
import { AuditService } from '../audit/audit-service';
import { findObjects } from '../hsm/find-objects';
import { CKM_EC_EDWARDS_KEY_PAIR_GEN } from '../hsm/mechanisms';
import { prepareEmbeddedSoftHsm } from '../hsm/softhsm';
import { ModuleHost } from '../hsm/module-host';
import { silentLog } from '../log';
import { FileSecretVault } from '../secret-vault';
import { Settings } from '../settings/settings';
import { DATABASE_FILE, Store, type StoreOptions } from '../store/database';
import { sql } from '../store/sql';

/** A real audit service on a data directory: SQLite file, SoftHSM2 audit token, 0600 PIN file. */
export function openAudit(dataDir: string, clock?: () => Date, storeOptions: StoreOptions = {}) {
  const store = Store.open(dataDir, storeOptions);
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
    /** As if the process died: no closing checkpoint, the token and the database just let go. */
    crash() {
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
    const row = store.get<{
      key_id: string;
      name: string;
      public_key: Buffer;
      token_serial: string;
      token_label: string;
      cka_id: Buffer;
      created_at: string;
    }>(
      sql`SELECT key_id, name, public_key, token_serial, token_label, cka_id, created_at FROM audit_keys ORDER BY rowid LIMIT 1`,
    )!;
    const vault = new FileSecretVault(join(dataDir, 'audit-token.pin'));
    const key = AuditKey.open(module, vault, {
      keyId: row.key_id,
      name: row.name,
      publicKey: row.public_key,
      token: { serial: row.token_serial, label: row.token_label },
      ckaId: row.cka_id,
      createdAt: row.created_at,
    });
    try {
      const log = new AuditLog(store, key, row.name);
      // The owner holds the audit PIN: the record heads signed with the checkpoint are theirs to choose too.
      const heads = new SignedHeads(store, row.name);
      const { note } = log.checkpoint('signed by the owner', (size) => heads.sign(size, (bytes) => key.sign(bytes)));
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

/**
 * An attacker with the database file alone, editing it while Custos is closed: drops the append-only triggers, changes,
 * puts them back.
 */
export function asDatabaseWriter(dataDir: string, change: (db: Database.Database) => void): void {
  const db = new Database(join(dataDir, DATABASE_FILE));
  try {
    const triggers = db.prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'trigger'").all() as {
      name: string;
      sql: string;
    }[];
    for (const { name } of triggers) db.exec(`DROP TRIGGER "${name}"`);
    change(db);
    for (const { sql: text } of triggers) db.exec(text);
  } finally {
    db.close();
  }
}

/**
 * Swaps the audit token's key for a new one under the same CKA_ID, as someone holding the audit PIN
 * (or a replaced token) could: the token no longer holds the key on record.
 */
export function replaceAuditKeyInToken(dataDir: string): void {
  const host = new ModuleHost();
  const store = Store.open(dataDir);
  try {
    const row = store.get<{ token_serial: string; token_label: string; cka_id: Buffer }>(
      sql`SELECT token_serial, token_label, cka_id FROM audit_keys ORDER BY rowid LIMIT 1`,
    )!;
    const module = host.acquire(prepareEmbeddedSoftHsm(dataDir).modulePath, 'embedded-softhsm');
    const pin = readFileSync(join(dataDir, 'audit-token.pin'), 'utf8');
    module.withSession(
      { serial: row.token_serial, label: row.token_label },
      { write: true, login: { user: 'user', pin } },
      (session, lib) => {
        for (const handle of findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: row.cka_id }]))
          lib.C_DestroyObject(session, handle);
        const id = { type: pkcs11js.CKA_ID, value: row.cka_id };
        lib.C_GenerateKeyPair(
          session,
          { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN },
          [
            { type: pkcs11js.CKA_TOKEN, value: true },
            { type: pkcs11js.CKA_VERIFY, value: true },
            { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from('06032b6570', 'hex') },
            id,
          ],
          [
            { type: pkcs11js.CKA_TOKEN, value: true },
            { type: pkcs11js.CKA_PRIVATE, value: true },
            { type: pkcs11js.CKA_SIGN, value: true },
            id,
          ],
        );
      },
    );
  } finally {
    host.closeAll();
    store.close();
  }
}

/**
 * A new installation whose log began as releases before report format 2 began it: its `audit.key.create` entry says
 * nothing of the report format. Made as the holder of the audit PIN could: the fresh log emptied and begun again with
 * the older entry, signed, checkpointed and anchored in the token with that key. `older.reportFormat`: a release that
 * wrote that format began it instead (its key's creation says so); `older.reports`: that release made reports of
 * these ids (their `report.create` entries) before this code first opens the log.
 */
export function installationFromOlderRelease(
  dataDir: string,
  older: { reportFormat?: number; reports?: string[] } = {},
): void {
  openAudit(dataDir).close();
  asDatabaseWriter(dataDir, (db) =>
    db.exec(
      'DELETE FROM record_heads; DELETE FROM audit_checkpoints; DELETE FROM audit_tree; DELETE FROM audit_entries',
    ),
  );
  const store = Store.open(dataDir);
  const host = new ModuleHost();
  try {
    const module = host.acquire(prepareEmbeddedSoftHsm(dataDir).modulePath, 'embedded-softhsm');
    const row = store.get<
      { key_id: string; name: string; public_key: Buffer; token_serial: string } & {
        token_label: string;
        cka_id: Buffer;
        created_at: string;
      }
    >(sql`SELECT key_id, name, public_key, token_serial, token_label, cka_id, created_at FROM audit_keys`)!;
    const token = { serial: row.token_serial, label: row.token_label };
    const key = AuditKey.open(module, new FileSecretVault(join(dataDir, 'audit-token.pin')), {
      keyId: row.key_id,
      name: row.name,
      publicKey: row.public_key,
      token,
      ckaId: row.cka_id,
      createdAt: row.created_at,
    });
    try {
      const origin = `custos.local/audit/${new Settings(store).get('installation.id')!}`;
      const log = new AuditLog(store, key, origin);
      log.record({
        actor: { type: 'system', id: 'system' },
        action: 'audit.key.create',
        object: { type: 'token', id: `${token.serial}/${token.label}` },
        params: {
          keyId: row.key_id,
          vault: 'file',
          ...(older.reportFormat === undefined ? {} : { reportFormat: older.reportFormat }),
        },
      });
      for (const id of older.reports ?? [])
        log.record({
          actor: { type: 'system', id: 'system' },
          action: 'report.create',
          object: { type: 'report', id },
          params: { type: 'inventory', ceremony: null },
        });
      const heads = new SignedHeads(store, origin);
      const { note } = log.checkpoint('audit key created', (size) => heads.sign(size, (bytes) => key.sign(bytes)));
      new AuditAnchor(key, () => null).advance(verifiedCheckpoint(note, key.noteKey)!);
    } finally {
      key.close();
    }
  } finally {
    host.closeAll();
    store.close();
  }
}
