import Database from 'better-sqlite3';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDataDir } from '../testing/softhsm-fixture';
import { hideFromIndexes, quickCheck } from '../testing/stale-index';
import { checkInBackground } from './background-check';
import { DATABASE_FILE, Store } from './database';
import type { Migration } from './migrate';
import { migrations } from './migrations';
import { sql } from './sql';

let dataDir: string;
let cleanup: () => void;
const open: Store[] = [];
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => {
  open.splice(0).forEach((s) => s.close());
  cleanup();
});
const openStore = (options?: Parameters<typeof Store.open>[1]) => {
  const store = Store.open(dataDir, options);
  open.push(store);
  return store;
};

describe('Store', () => {
  it('creates the database at the newest schema with WAL, foreign keys and STRICT tables', () => {
    const store = openStore();
    expect(store.schemaVersion).toBe(migrations.length);
    // Per connection: what is deleted or overwritten is zeroed, not left readable in free pages.
    expect(store.transaction((db) => db.pragma('secure_delete', { simple: true }))).toBe(1);
    store.close();
    const db = new Database(join(dataDir, DATABASE_FILE));
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    const tables = db
      .prepare("SELECT name, strict FROM pragma_table_list WHERE schema = 'main' AND name NOT LIKE 'sqlite_%'")
      .all() as { name: string; strict: number }[];
    expect(tables.length).toBeGreaterThan(0);
    expect(tables.every((t) => t.strict === 1)).toBe(true);
    db.close();
  });

  it('keeps values through the sql tag without interpolating them', () => {
    const store = openStore();
    const tricky = "x'); DROP TABLE settings; --";
    store.execute(sql`INSERT INTO settings (key, value, updated_at) VALUES (${tricky}, ${'1'}, ${'now'})`);
    expect(store.get<{ key: string }>(sql`SELECT key FROM settings WHERE key = ${tricky}`)?.key).toBe(tricky);
  });

  it('refuses a second opener of the same data directory with STORE_LOCKED', () => {
    openStore();
    expect(() => openStore()).toThrow(expect.objectContaining({ code: 'STORE_LOCKED' }));
  });

  it('refuses a file that is not a database with STORE_CORRUPT and leaves it untouched', () => {
    const path = join(dataDir, DATABASE_FILE);
    const garbage = Buffer.alloc(8192, 0x5a);
    writeFileSync(path, garbage);
    expect(() => openStore()).toThrow(expect.objectContaining({ code: 'STORE_CORRUPT' }));
    expect(readFileSync(path).equals(garbage)).toBe(true);
  });

  it('refuses a damaged database without writing a single byte to it', () => {
    const path = join(dataDir, DATABASE_FILE);
    const db = new Database(path);
    db.pragma('journal_mode = DELETE');
    db.exec('CREATE TABLE t (x TEXT); CREATE INDEX t_x ON t (x);');
    const insert = db.prepare('INSERT INTO t VALUES (?)');
    // One transaction: the test needs a database of several pages, not 2,000 fsyncs.
    db.transaction(() => {
      for (let i = 0; i < 2000; i++) insert.run(`row ${i} ${'x'.repeat(50)}`);
    })();
    db.close();
    const bytes = readFileSync(path);
    // Scribble over the middle of the index pages: the header stays valid, the content does not.
    bytes.fill(0x41, 4096 * 3 + 100, 4096 * 3 + 600);
    writeFileSync(path, bytes);
    expect(() => openStore()).toThrow(
      expect.objectContaining({ code: 'STORE_CORRUPT', message: expect.stringMatching(/is damaged/) }),
    );
    expect(readFileSync(path).equals(bytes)).toBe(true);
  });

  it('refuses a file whose index no longer agrees with its table, though every count matches, untouched', () => {
    const store = openStore();
    const entry = (seq: number, id: string) =>
      JSON.stringify({ action: 'key.compromise', object: { type: 'key', id }, result: { status: 'ok' }, seq });
    store.transaction((db) => {
      const insert = db.prepare(`INSERT INTO audit_entries (seq, entry, signature, key_id) VALUES (?, ?, x'00', 'k')`);
      for (let seq = 0; seq < 50; seq++) insert.run(seq, entry(seq, seq === 40 ? 'target' : `other-${seq % 7}`));
    });
    store.close();
    const path = join(dataDir, DATABASE_FILE);
    hideFromIndexes(path, 'audit_entries', { key: 'seq', values: [40] }, [
      { name: 'audit_entries_object', columns: ['object', 'seq'] },
    ]);
    const raw = new Database(path, { readonly: true });
    const lookup = `SELECT max(seq) AS seq FROM audit_entries WHERE object = 'key:target'`;
    // The entry is still in the table, but a lookup by object no longer finds it; SQLite's quick check sees nothing.
    expect(raw.prepare(lookup).get()).toEqual({ seq: null });
    raw.close();
    expect(quickCheck(path)).toBe('ok');
    const bytes = readFileSync(path);
    expect(() => openStore()).toThrow(
      expect.objectContaining({
        code: 'STORE_CORRUPT',
        message: expect.stringMatching(/row 41 missing from index audit_entries_object/),
      }),
    );
    expect(readFileSync(path).equals(bytes)).toBe(true);
  });

  it('refuses an SQLite database that is not a Custos one, untouched', () => {
    const path = join(dataDir, DATABASE_FILE);
    const db = new Database(path);
    db.exec('CREATE TABLE someone_elses (x TEXT)');
    db.close();
    const bytes = readFileSync(path);
    expect(() => openStore()).toThrow(
      expect.objectContaining({ code: 'STORE_CORRUPT', message: expect.stringMatching(/not a Custos one/) }),
    );
    expect(readFileSync(path).equals(bytes)).toBe(true);
  });

  it('reports STORE_UNREADABLE when the database path cannot be opened as a file', () => {
    mkdirSync(join(dataDir, DATABASE_FILE));
    expect(() => openStore()).toThrow(expect.objectContaining({ code: 'STORE_UNREADABLE' }));
  });

  it('refuses a database from a newer Custos and changes nothing', () => {
    openStore().close();
    const db = new Database(join(dataDir, DATABASE_FILE));
    db.pragma(`user_version = ${migrations.length + 1}`);
    db.close();
    expect(() => openStore()).toThrow(expect.objectContaining({ code: 'STORE_TOO_NEW' }));
    const check = new Database(join(dataDir, DATABASE_FILE));
    expect(check.pragma('user_version', { simple: true })).toBe(migrations.length + 1);
    check.close();
  });

  it('refuses a migration list with a gap or out of order', () => {
    const gap: Migration[] = [{ ...migrations[0]!, version: 2 }];
    expect(() => openStore({ migrations: gap })).toThrow(expect.objectContaining({ code: 'STORE_MIGRATION_FAILED' }));
  });

  it('rolls a failing migration back whole and keeps the earlier schema', () => {
    openStore().close();
    const broken: Migration = {
      version: migrations.length + 1,
      name: 'broken',
      up(db) {
        db.exec('CREATE TABLE half_done (id INTEGER PRIMARY KEY) STRICT');
        db.exec('THIS IS NOT SQL');
      },
    };
    expect(() => openStore({ migrations: [...migrations, broken] })).toThrow(
      expect.objectContaining({ code: 'STORE_MIGRATION_FAILED' }),
    );
    const store = openStore();
    expect(store.schemaVersion).toBe(migrations.length);
    expect(store.get(sql`SELECT name FROM sqlite_master WHERE name = ${'half_done'}`)).toBeUndefined();
  });

  it('refuses a schema rewritten outside Custos — a generated column, a trigger, a dropped CHECK — and reads nothing', () => {
    openStore().close();
    const edits: [string, (db: Database.Database) => void][] = [
      // The generated column that finds signed entries by their object, pointed elsewhere for one entry.
      [
        'table audit_entries',
        (db) => {
          db.unsafeMode(true);
          db.pragma('writable_schema = ON');
          db.prepare(
            `UPDATE sqlite_schema SET sql = replace(sql, 'VIRTUAL', 'STORED') WHERE name = 'audit_entries'`,
          ).run();
          db.pragma('writable_schema = OFF');
        },
      ],
      // The log's append-only guard, dropped and left so.
      ['trigger audit_entries_no_update', (db) => db.exec('DROP TRIGGER audit_entries_no_update')],
      // A trigger that would quietly undo what Custos writes.
      [
        'trigger keep_unlocked',
        (db) =>
          db.exec(`CREATE TRIGGER keep_unlocked AFTER UPDATE OF locked ON custodians
                   BEGIN UPDATE custodians SET locked = 0 WHERE id = NEW.id; END`),
      ],
      // A key state the schema forbids, made possible.
      [
        'table keys',
        (db) => {
          db.unsafeMode(true);
          db.pragma('writable_schema = ON');
          db.prepare(`UPDATE sqlite_schema SET sql = replace(sql, ', ''destroyed''', '') WHERE name = 'keys'`).run();
          db.pragma('writable_schema = OFF');
        },
      ],
    ];
    for (const [what, edit] of edits) {
      const pristine = readFileSync(join(dataDir, DATABASE_FILE));
      const db = new Database(join(dataDir, DATABASE_FILE));
      edit(db);
      db.close();
      expect(() => openStore()).toThrow(
        expect.objectContaining({ code: 'STORE_SCHEMA_ALTERED', message: expect.stringContaining(what) }),
      );
      writeFileSync(join(dataDir, DATABASE_FILE), pristine);
    }
    // As Custos made it, it opens.
    expect(openStore().schemaVersion).toBe(migrations.length);
  });

  it('commits a transaction whole or not at all', () => {
    const store = openStore();
    expect(() =>
      store.transaction((db) => {
        db.prepare("INSERT INTO settings (key, value, updated_at) VALUES ('a', '1', 'now')").run();
        throw new Error('crash between two writes');
      }),
    ).toThrow();
    expect(store.get(sql`SELECT key FROM settings WHERE key = ${'a'}`)).toBeUndefined();
  });
});

describe('file permissions in the data directory', () => {
  const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

  it('creates a new data directory 0700 and the database with its -wal file 0600, whatever the umask', () => {
    const fresh = join(dataDir, 'fresh');
    const umask = process.umask(0o022);
    try {
      const store = Store.open(fresh);
      open.push(store);
      store.execute(sql`INSERT INTO settings (key, value, updated_at) VALUES ('probe', '1', 'now')`);
      expect(mode(fresh)).toBe('700');
      expect(mode(join(fresh, DATABASE_FILE))).toBe('600');
      expect(mode(join(fresh, `${DATABASE_FILE}-wal`))).toBe('600');
      expect(store.modeRepairs).toEqual([]);
    } finally {
      process.umask(umask);
    }
  });

  it('tightens a data directory and database others could read, and says what it changed', () => {
    chmodSync(dataDir, 0o755);
    openStore().close();
    open.splice(0);
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, DATABASE_FILE), 0o644);
    mkdirSync(join(dataDir, 'softhsm', 'tokens'), { recursive: true, mode: 0o755 });
    chmodSync(join(dataDir, 'softhsm'), 0o755);
    writeFileSync(join(dataDir, 'softhsm', 'tokens', 'token.object'), 'x', { mode: 0o644 });
    const store = openStore();
    expect(mode(dataDir)).toBe('700');
    expect(mode(join(dataDir, DATABASE_FILE))).toBe('600');
    expect(mode(join(dataDir, 'softhsm', 'tokens', 'token.object'))).toBe('600');
    expect(store.modeRepairs).toEqual(
      expect.arrayContaining([
        { path: '.', from: '755', to: '700' },
        { path: DATABASE_FILE, from: '644', to: '600' },
        { path: join('softhsm', 'tokens', 'token.object'), from: '644', to: '600' },
      ]),
    );
  });
});

/** A database whose entries table (five indexes) holds `rows` rows, closed again. */
function filled(rows: number): string {
  const store = Store.open(dataDir);
  store.transaction((db) => {
    const insert = db.prepare(`INSERT INTO audit_entries (seq, entry, signature, key_id) VALUES (?, ?, x'00', 'k')`);
    for (let seq = 0; seq < rows; seq++) {
      const object = { type: 'key', id: seq === 40 ? 'target' : `other-${seq % 97}` };
      insert.run(seq, JSON.stringify({ action: 'key.test-signature', object, result: { status: 'ok' }, seq }));
    }
  });
  store.close();
  return join(dataDir, DATABASE_FILE);
}

describe('checkInBackground', () => {
  it('checks on a worker thread while this one keeps running, and the open after it does not check again', async () => {
    filled(80_000);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const started = Date.now();
    const checked = await checkInBackground(dataDir);
    const took = Date.now() - started;
    clearInterval(timer);
    expect(checked).not.toBeNull();
    // Run here, the check would have held this thread for all of `took`, and no timer would have fired.
    expect(took).toBeGreaterThan(20);
    expect(ticks).toBeGreaterThan(2);
    expect(openStore({ checked }).integrityChecked).toBe('in background');
  });

  it('leaves a file changed since its check to the open, which checks it and refuses it when damaged', async () => {
    const path = filled(200);
    const checked = await checkInBackground(dataDir);
    expect(checked).not.toBeNull();
    // After the check and before the open: the object index no longer finds entry 40 (every count unchanged).
    hideFromIndexes(path, 'audit_entries', { key: 'seq', values: [40] }, [
      { name: 'audit_entries_object', columns: ['object', 'seq'] },
    ]);
    expect(() => openStore({ checked })).toThrow(
      expect.objectContaining({ code: 'STORE_CORRUPT', message: expect.stringMatching(/missing from index/) }),
    );
  });

  it('finds nothing intact in a damaged file, writes nothing to it, and the open refuses it', async () => {
    const path = filled(200);
    hideFromIndexes(path, 'audit_entries', { key: 'seq', values: [40] }, [
      { name: 'audit_entries_object', columns: ['object', 'seq'] },
    ]);
    const bytes = readFileSync(path);
    expect(await checkInBackground(dataDir)).toBeNull();
    expect(readFileSync(path).equals(bytes)).toBe(true);
    expect(() => openStore()).toThrow(expect.objectContaining({ code: 'STORE_CORRUPT' }));
  });

  it('leaves a new data directory and a database another opener holds to the open', async () => {
    expect(await checkInBackground(join(dataDir, 'not-yet'))).toBeNull();
    filled(10);
    openStore();
    expect(await checkInBackground(dataDir)).toBeNull();
    expect(() => Store.open(dataDir)).toThrow(expect.objectContaining({ code: 'STORE_LOCKED' }));
  });

  it('is not taken for another database, nor for the same one written since', async () => {
    filled(10);
    const checked = await checkInBackground(dataDir);
    expect(
      openStore({ checked: { path: join(dataDir, 'elsewhere.db'), fingerprint: checked!.fingerprint } }),
    ).toHaveProperty('integrityChecked', 'at open');
    open.splice(0).forEach((s) => s.close());
    // Written since (here by Custos itself): what was checked is no longer what is there.
    const store = Store.open(dataDir);
    store.execute(sql`INSERT INTO settings (key, value, updated_at) VALUES ('x', '1', 'now')`);
    store.close();
    expect(openStore({ checked }).integrityChecked).toBe('at open');
  });
});
