import Database from 'better-sqlite3';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findObjects } from '../hsm/find-objects';
import { ModuleHost } from '../hsm/module-host';
import { prepareEmbeddedSoftHsm } from '../hsm/softhsm';
import { DATABASE_FILE } from '../store/database';
import { asDatabaseWriter as asWriter, installationFromOlderRelease, openAudit } from '../testing/audit-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { ANCHOR_APPLICATION } from './audit-anchor';
import { CHECKPOINT_EVERY } from './audit-service';
import { parseCheckpoint, parseNote } from './checkpoint';
import { verifyStoredLog } from './verify-store';

let dataDir: string;
let cleanup: () => void;
let opened: ReturnType<typeof openAudit> | null = null;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => {
  opened?.close();
  opened = null;
  cleanup();
});
const operator = { type: 'operator', id: 'test' } as const;
const open = () => (opened = openAudit(dataDir));
const close = () => {
  opened?.close();
  opened = null;
};

/** Records `n` reads and closes Custos (which signs its closing checkpoint). Returns the log size. */
function useFor(n: number): number {
  const { audit } = open();
  for (let i = 0; i < n; i++) audit.record({ actor: operator, action: 'token.list' });
  const size = audit.log().size();
  close();
  return size;
}

const asDatabaseWriter = (change: (db: Database.Database) => void) => asWriter(dataDir, change);

const entriesOnDisk = () => {
  const db = new Database(join(dataDir, DATABASE_FILE), { readonly: true });
  const n = db.prepare('SELECT count(*) FROM audit_entries').pluck().get() as number;
  db.close();
  return n;
};

/** The anchor objects in the audit token, read with its PIN (as pkcs11-tool would). */
function anchorsInToken(options: { login: boolean } = { login: true }): string[] {
  const host = new ModuleHost();
  try {
    const module = host.acquire(prepareEmbeddedSoftHsm(dataDir).modulePath, 'embedded-softhsm');
    const token = module.run('Finding the audit token', (lib) => {
      const slot = lib
        .C_GetSlotList(true)
        .find((s) => (lib.C_GetTokenInfo(s).flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0)!;
      const info = lib.C_GetTokenInfo(slot);
      return { serial: info.serialNumber.trim(), label: info.label.trim() };
    });
    const pin = readFileSync(join(dataDir, 'audit-token.pin'), 'utf8');
    return module.withSession(
      token,
      options.login ? { write: false, login: { user: 'user', pin } } : { write: false },
      (session, lib) =>
        findObjects(lib, session, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
          { type: pkcs11js.CKA_APPLICATION, value: ANCHOR_APPLICATION },
        ]).map((handle) =>
          lib.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_VALUE }])[0]!.value!.toString('utf8'),
        ),
    );
  } finally {
    host.closeAll();
  }
}

/**
 * Removes the anchor with the audit PIN (a data directory from before the anchor), optionally putting `note` in its
 * place.
 */
function removeAnchorWithPin(note?: string): void {
  const host = new ModuleHost();
  try {
    const module = host.acquire(prepareEmbeddedSoftHsm(dataDir).modulePath, 'embedded-softhsm');
    const slot = module.run('slot', (lib) =>
      lib.C_GetSlotList(true).find((s) => (lib.C_GetTokenInfo(s).flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0)!,
    );
    const info = module.run('info', (lib) => lib.C_GetTokenInfo(slot));
    const pin = readFileSync(join(dataDir, 'audit-token.pin'), 'utf8');
    module.withSession(
      { serial: info.serialNumber.trim(), label: info.label.trim() },
      { write: true, login: { user: 'user', pin } },
      (session, lib) => {
        for (const handle of findObjects(lib, session, [{ type: pkcs11js.CKA_APPLICATION, value: ANCHOR_APPLICATION }]))
          lib.C_DestroyObject(session, handle);
        if (note === undefined) return;
        lib.C_CreateObject(session, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_PRIVATE, value: true },
          { type: pkcs11js.CKA_APPLICATION, value: ANCHOR_APPLICATION },
          { type: pkcs11js.CKA_VALUE, value: Buffer.from(note) },
        ]);
      },
    );
  } finally {
    host.closeAll();
  }
}

const anchoredSize = () => parseCheckpoint(parseNote(anchorsInToken()[0]!).text).size;

function expectRolledBack(entriesBefore: number) {
  const { audit } = open();
  const status = audit.status();
  expect(status).toMatchObject({ state: 'unavailable', code: 'AUDIT_ROLLBACK' });
  expect(() => audit.record({ actor: operator, action: 'token.list' })).toThrow(/rolled back|rewritten|removed/);
  close();
  expect(entriesOnDisk()).toBe(entriesBefore); // Nothing was recorded, no checkpoint signed over the rollback.
}

describe('the checkpoint kept in the audit token', () => {
  it('is a private token object holding the latest checkpoint, updated as the log grows', () => {
    const first = useFor(3);
    expect(anchorsInToken()).toHaveLength(1);
    expect(anchoredSize()).toBe(first); // The closing checkpoint covers every entry.
    expect(anchorsInToken({ login: false })).toEqual([]); // CKA_PRIVATE: invisible without the audit PIN.
    useFor(5);
    expect(anchorsInToken()).toHaveLength(1);
    expect(anchoredSize()).toBe(entriesOnDisk());
  });

  it('lets a clean restart open the log as before', () => {
    const size = useFor(4);
    const { audit } = open();
    expect(audit.status()).toMatchObject({ state: 'ready', size: size });
  });

  it('refuses a log whose entries after N and every checkpoint were deleted from the file (no key needed)', async () => {
    useFor(10);
    asDatabaseWriter((db) => {
      db.exec(
        'DELETE FROM audit_entries WHERE seq >= 4; DELETE FROM audit_tree WHERE seq >= 4; DELETE FROM audit_checkpoints;',
      );
    });
    expectRolledBack(4);
    const { audit, store } = open();
    expect(audit.status()).toMatchObject({
      code: 'AUDIT_ROLLBACK',
      message: expect.stringMatching(/covers \d+ entries, but the log has only 4/),
    });
    // The live verify trusts the token's checkpoint, so it shows the truncation too.
    const verdict = await verifyStoredLog(store, {
      key: audit.provenKey()!,
      keySource: 'token',
      trustedCheckpoints: audit.anchors(),
    });
    expect(verdict.ok).toBe(false);
    expect(verdict.problems).toContainEqual(expect.objectContaining({ kind: 'truncated' }));
  });

  it('refuses a log whose tail alone was deleted', () => {
    useFor(10);
    asDatabaseWriter((db) => db.exec('DELETE FROM audit_entries WHERE seq >= 9'));
    expectRolledBack(9);
  });

  it('refuses a database replaced by an older copy of itself', () => {
    useFor(3);
    copyFileSync(join(dataDir, DATABASE_FILE), join(dataDir, 'older.db'));
    const older = entriesOnDisk();
    useFor(6);
    copyFileSync(join(dataDir, 'older.db'), join(dataDir, DATABASE_FILE));
    for (const suffix of ['-wal', '-shm']) rmSync(join(dataDir, DATABASE_FILE + suffix), { force: true });
    expectRolledBack(older);
  });

  it('refuses a database put back to an older copy whose anchor was removed: the log says the token kept one', () => {
    useFor(3);
    copyFileSync(join(dataDir, DATABASE_FILE), join(dataDir, 'older.db'));
    const older = entriesOnDisk();
    useFor(6);
    copyFileSync(join(dataDir, 'older.db'), join(dataDir, DATABASE_FILE));
    for (const suffix of ['-wal', '-shm']) rmSync(join(dataDir, DATABASE_FILE + suffix), { force: true });
    // What a data-directory writer can do without the PIN too: delete the anchor's object file in the token folder.
    removeAnchorWithPin();
    expectRolledBack(older);
    expect(anchorsInToken()).toEqual([]);
  });

  it('refuses a removed anchor of a log that recorded creating it (a data directory from before the anchor)', () => {
    installationFromOlderRelease(dataDir);
    removeAnchorWithPin();
    open();
    close();
    useFor(3);
    removeAnchorWithPin();
    expectRolledBack(entriesOnDisk());
  });

  it('opens a data directory from before the anchor after a crash in its first open by this release', () => {
    installationFromOlderRelease(dataDir);
    removeAnchorWithPin();
    // Killed as the first open timestamps its second entry: the report format's entry is committed, the anchor not.
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(__dirname, '../testing/open-until-killed.ts'), dataDir, '2'],
      { encoding: 'utf8' },
    );
    expect(child.signal).toBe('SIGKILL');
    const { audit } = open();
    expect(audit.status()).toMatchObject({ state: 'ready' });
    close();
    expect(anchorsInToken()).toHaveLength(1);
  }, 60_000);

  it('refuses a log that still has its key but none of its checkpoints: never a fresh start over an old log', () => {
    useFor(3);
    removeAnchorWithPin();
    asDatabaseWriter((db) => db.exec('DELETE FROM audit_checkpoints'));
    const before = entriesOnDisk();
    const { audit } = open();
    expect(audit.status()).toMatchObject({
      state: 'unavailable',
      code: 'AUDIT_ROLLBACK',
      message: expect.stringMatching(/no signed checkpoint/),
    });
    close();
    expect(entriesOnDisk()).toBe(before);
    expect(anchorsInToken()).toEqual([]);
  });

  it('refuses a log whose key record was removed instead of provisioning a new key over it', () => {
    useFor(3);
    const before = entriesOnDisk();
    asDatabaseWriter((db) => db.exec('DELETE FROM audit_keys'));
    rmSync(join(dataDir, 'audit-token.pin'));
    const { audit } = open();
    expect(audit.status()).toMatchObject({ state: 'unavailable', code: 'AUDIT_ROLLBACK' });
    close();
    expect(entriesOnDisk()).toBe(before);
  });

  it('anchors a data directory from before the anchor at its first open, records that, and then guards it', () => {
    // A log an older release began (its first entry says nothing of what it keeps), whose token holds no anchor.
    installationFromOlderRelease(dataDir);
    removeAnchorWithPin();
    const { audit } = open();
    expect(audit.status()).toMatchObject({ state: 'ready' });
    const last = audit.log().size() - 1;
    expect(JSON.parse(audit.log().entry(last).entry)).toMatchObject({ action: 'audit.anchor.create' });
    close();
    expect(anchoredSize()).toBe(entriesOnDisk());
    useFor(5);
    asDatabaseWriter((db) => db.exec('DELETE FROM audit_entries WHERE seq >= 3; DELETE FROM audit_checkpoints;'));
    expectRolledBack(3);
  });

  it('also keeps the checkpoint in a configured copy, which catches a whole data directory put back', () => {
    const copy = join(dataDir, '..', `${dataDir.split('/').at(-1)}-anchor.txt`);
    try {
      open().audit.setAnchorCopy(copy, operator);
      close();
      useFor(2);
      expect(readFileSync(copy, 'utf8')).toBe(anchorsInToken()[0]);
      const saved = `${dataDir}-saved`;
      cpSync(dataDir, saved, { recursive: true });
      useFor(4);
      const before = entriesOnDisk();
      rmSync(dataDir, { recursive: true });
      cpSync(saved, dataDir, { recursive: true });
      rmSync(saved, { recursive: true });
      expect(entriesOnDisk()).toBeLessThan(before);
      const { audit } = open();
      expect(audit.status()).toMatchObject({
        state: 'unavailable',
        code: 'AUDIT_ROLLBACK',
        message: expect.stringMatching(/configured copy/),
      });
    } finally {
      rmSync(copy, { force: true });
    }
  });

  it('refuses a checkpoint copy set, turned off or put back outside Custos, and never writes where nobody chose', () => {
    const [copy, other, planted] = ['anchor', 'other', 'planted'].map((name) =>
      join(dataDir, '..', `${dataDir.split('/').at(-1)}-${name}.txt`),
    ) as [string, string, string];
    const setting = (path: string | null) =>
      asDatabaseWriter((db) =>
        db
          .prepare(`INSERT OR REPLACE INTO settings (key, value, updated_at) VALUES ('audit.anchorCopy', ?, 'x')`)
          .run(JSON.stringify(path)),
      );
    const expectRefused = () => {
      expect(open().audit.status()).toMatchObject({ state: 'unavailable', code: 'SETTING_TAMPERED' });
      close();
    };
    try {
      useFor(1);
      setting(planted);
      expectRefused();
      expect(existsSync(planted)).toBe(false);
      setting(null);
      open().audit.setAnchorCopy(copy, operator);
      close();
      setting(null);
      expectRefused();
      setting(copy);
      open().audit.setAnchorCopy(other, operator);
      close();
      setting(copy);
      expectRefused();
      expect(existsSync(planted)).toBe(false);
    } finally {
      for (const path of [copy, other, planted]) rmSync(path, { force: true });
    }
  });

  it('refuses a pipe or a huge file in place of the copy at open instead of waiting on it forever', () => {
    const copy = join(dataDir, '..', `${dataDir.split('/').at(-1)}-anchor.txt`);
    try {
      open().audit.setAnchorCopy(copy, operator);
      close();
      const plants = [
        () => execFileSync('mkfifo', [copy]),
        // Sparse: costs no disk, yet was read whole.
        () => {
          writeFileSync(copy, '');
          truncateSync(copy, 2 ** 26);
        },
      ];
      for (const plant of plants) {
        rmSync(copy, { force: true });
        plant();
        expect(open().audit.status()).toMatchObject({
          state: 'unavailable',
          code: 'AUDIT_ROLLBACK',
          message: expect.stringMatching(/checkpoint copy .* cannot be read as one/),
        });
        close();
      }
    } finally {
      rmSync(copy, { force: true });
    }
  });

  it('says so in the log when the configured copy is not there to check against', async () => {
    const copy = join(dataDir, '..', `${dataDir.split('/').at(-1)}-anchor.txt`);
    try {
      open().audit.setAnchorCopy(copy, operator);
      close();
      rmSync(copy);
      const { audit } = open();
      expect(audit.status()).toMatchObject({ state: 'ready' });
      await new Promise((resolve) => setImmediate(resolve));
      const missing = [...audit.log().entries()]
        .map((e) => JSON.parse(e.entry) as { action: string; object: unknown; result: unknown })
        .filter((e) => e.action === 'audit.anchor.copy.missing');
      expect(missing).toEqual([
        expect.objectContaining({
          object: { type: 'file', id: copy },
          result: { status: 'failed', code: 'FILE_NOT_FOUND' },
        }),
      ]);
    } finally {
      rmSync(copy, { force: true });
    }
  });

  it('signs a checkpoint every 1,000 entries, each one anchored', async () => {
    const { audit } = open();
    const start = audit.log().size();
    await Promise.all(
      Array.from({ length: CHECKPOINT_EVERY }, () => audit.tryRecord({ actor: operator, action: 'token.list' })),
    );
    const periodic = audit
      .log()
      .checkpoints()
      .filter((c) => c.reason === `every ${CHECKPOINT_EVERY} entries`);
    expect(periodic).toHaveLength(1);
    expect(periodic[0]!.treeSize).toBeGreaterThanOrEqual(start + CHECKPOINT_EVERY);
    expect(audit.log().checkpoints().at(-1)).toEqual(periodic[0]);
    close(); // Nothing came after it, so closing signs no other.
    expect(anchorsInToken()).toEqual([periodic[0]!.note]);
  });
});

describe('a crash between the database and the token', () => {
  it('leaves the anchor one checkpoint behind the database, never ahead; the next open catches it up', () => {
    useFor(2);
    const behind = anchorsInToken()[0]!;
    useFor(3);
    // As if Custos died after the last checkpoint committed but before the token was updated.
    removeAnchorWithPin(behind);
    expect(anchoredSize()).toBeLessThan(entriesOnDisk());
    const { audit } = open();
    expect(audit.status()).toMatchObject({ state: 'ready' });
    close();
    expect(anchorsInToken()).toHaveLength(1);
    expect(anchoredSize()).toBe(entriesOnDisk());
  });
});
