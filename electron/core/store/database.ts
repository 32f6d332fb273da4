import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DATABASE_FILE } from '../data-dir';
import { CustosError, shown } from '../errors';
import { fingerprint, type CheckedFile } from './background-check';
import { createPrivateFile, tightenDataDir, type FileModeRepair } from './file-modes';
import { migrate, type Migration } from './migrate';
import { migrations as defaultMigrations } from './migrations';
import type { Sql, SqlValue } from './sql';

declare const writable: unique symbol;
/** A connection that may be written to (Signal's branded handles): handed out only inside a transaction. */
export type WritableDB = Database.Database & { readonly [writable]: true };

export { DATABASE_FILE };

interface TransactionFrame {
  undo: (() => void)[];
  committed: (() => void)[];
}

export interface StoreOptions {
  /** Overrides the migration list; tests of the runner use it. */
  migrations?: readonly Migration[];
  /** Path of an Electron-ABI build of better-sqlite3, set by the desktop shell when needed. */
  nativeBinding?: string;
  /**
   * What `checkInBackground` found intact just before: its integrity check is not run again when the file this open
   * locks is still exactly that one (any change since, and the open checks for itself).
   */
  checked?: CheckedFile | null;
}

/**
 * The single SQLite database of a data directory. Held with an exclusive lock for as long as it
 * is open, so a second Custos (app or CLI) on the same data directory gets STORE_LOCKED instead
 * of interleaving writes with ours.
 */
export class Store {
  private readonly statements = new Map<string, Database.Statement>();
  /** The open transactions, outermost first: what to undo in memory on rollback, what to do after commit. */
  private readonly frames: TransactionFrame[] = [];
  /**
   * One transaction wrapper for every call: better-sqlite3 builds four closures per `transaction()`,
   * which an audit append (one transaction each) paid every time. It nests as before (savepoints).
   */
  private readonly atomically: Database.Transaction<(fn: (db: WritableDB) => unknown) => unknown>;

  private constructor(
    readonly path: string,
    private readonly db: WritableDB,
    /** Modes tightened at this start (data directory 0700, files 0600); the core records them. */
    readonly modeRepairs: readonly FileModeRepair[] = [],
    /** Where this open's integrity check ran: on a worker thread just before, or on this thread as it opened. */
    readonly integrityChecked: 'in background' | 'at open' = 'at open',
  ) {
    this.atomically = db.transaction((fn: (db: WritableDB) => unknown) => fn(db));
  }

  static open(dataDir: string, options: StoreOptions = {}): Store {
    const path = join(dataDir, DATABASE_FILE);
    try {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new CustosError(
        'STORE_UNREADABLE',
        `Custos cannot create its data directory ${shown(dataDir)}.`,
        ['Check that the path is correct and that this user may write there.'],
        { cause: error },
      );
    }
    let db: WritableDB | undefined;
    try {
      createPrivateFile(path);
      // Before SQLite opens it: a -wal file it creates takes the database's mode.
      const repairs = tightenDataDir(dataDir, DATABASE_FILE);
      db = new Database(path, {
        timeout: 0,
        ...(options.nativeBinding ? { nativeBinding: options.nativeBinding } : {}),
      }) as WritableDB;
      db.pragma('locking_mode = EXCLUSIVE');
      // Take the lock, then check, and only then write anything (the WAL switch writes the header).
      db.exec('BEGIN EXCLUSIVE; COMMIT;');
      db.pragma('trusted_schema = OFF');
      const checked = options.checked?.path === path && options.checked.fingerprint === fingerprint(path);
      if (!checked) refuseDamaged(db, path);
      claimApplicationId(db, path);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      // What is deleted or overwritten (a retired person's sealed secret) is zeroed, not left in free space.
      db.pragma('secure_delete = ON');
      const migrations = options.migrations ?? defaultMigrations;
      migrate(db, migrations);
      refuseAlteredSchema(db, path, migrations, options.nativeBinding);
      const modeRepairs = [...repairs, ...tightenDataDir(dataDir, DATABASE_FILE)];
      return new Store(path, db, modeRepairs, checked ? 'in background' : 'at open');
    } catch (error) {
      db?.close();
      throw storeError(error, path);
    }
  }

  get<T>(query: Sql): T | undefined {
    return this.run(() => this.prepare(query.text).get(...query.params) as T | undefined);
  }

  all<T>(query: Sql): T[] {
    return this.run(() => this.prepare(query.text).all(...query.params) as T[]);
  }

  /** Streams rows without holding them all in memory (the verifier reads a million entries). */
  *iterate<T>(query: Sql): IterableIterator<T> {
    try {
      // A fresh statement: a cached one would be busy if the same query ran while iterating.
      yield* this.db.prepare(query.text).iterate(...query.params) as IterableIterator<T>;
    } catch (error) {
      throw storeError(error, this.path);
    }
  }

  execute(query: Sql): Database.RunResult {
    return this.run(() => this.prepare(query.text).run(...query.params));
  }

  /**
   * Runs fn in one transaction: everything it writes commits together or not at all. Nested, it is a savepoint, and
   * what a rolled-back one wrote in memory (onRollback) is put back too, also when an enclosing one rolls back later.
   */
  transaction<T>(fn: (db: WritableDB) => T): T {
    const frame: TransactionFrame = { undo: [], committed: [] };
    this.frames.push(frame);
    let done = false;
    try {
      const value = this.run(() => this.atomically.immediate(fn) as T);
      done = true;
      return value;
    } finally {
      this.frames.pop();
      const enclosing = this.frames.at(-1);
      if (!done) for (const undo of frame.undo.reverse()) undo();
      else if (enclosing) {
        enclosing.undo.push(...frame.undo);
        enclosing.committed.push(...frame.committed);
      } else for (const then of frame.committed) then();
    }
  }

  /** Puts in-memory state back if the transaction now open is rolled back, or one around it (latest first). */
  onRollback(undo: () => void): void {
    this.frames.at(-1)?.undo.push(undo);
  }

  /** Runs once the outermost open transaction has committed (at once when none is open); never if it rolls back. */
  afterCommit(then: () => void): void {
    const frame = this.frames.at(-1);
    if (frame) frame.committed.push(then);
    else then();
  }

  /** Whether a transaction is open: work that must follow a commit (the audit anchor) waits for it. */
  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  /**
   * Copies the WAL into the database file and empties it: earlier frames still hold page versions from before an
   * overwrite, which secure_delete cannot reach. Outside a transaction only.
   */
  checkpointAndTruncateWal(): void {
    this.run(() => this.db.pragma('wal_checkpoint(TRUNCATE)'));
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  close(): void {
    this.statements.clear();
    if (this.db.open) this.db.close();
  }

  /** Statements are compiled once per SQL text: every value is a parameter, so the set is small. */
  private prepare(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  private run<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      throw storeError(error, this.path);
    }
  }
}

/** "Cust" in ASCII: marks the file as a Custos database (SQLite's application_id header field). */
export const APPLICATION_ID = 0x43757374;

function claimApplicationId(db: Database.Database, path: string): void {
  const id = db.pragma('application_id', { simple: true }) as number;
  if (id === APPLICATION_ID) return;
  const empty = (db.prepare('SELECT count(*) AS n FROM sqlite_schema').get() as { n: number }).n === 0;
  if (id !== 0 || !empty) {
    throw new CustosError('STORE_CORRUPT', `The file at ${path} is an SQLite database, but not a Custos one.`, [
      'Nothing was written to it. Point Custos at its own data directory.',
    ]);
  }
  db.pragma(`application_id = ${APPLICATION_ID}`);
}

export function storeError(error: unknown, path: string): unknown {
  if (error instanceof CustosError) return error;
  const code = (error as { code?: unknown }).code;
  const sqliteCode = typeof code === 'string' ? code : '';
  // Errors thrown by our own code inside a transaction pass through untouched.
  if (
    !sqliteCode.startsWith('SQLITE_') &&
    !(error instanceof TypeError && /statement|database|connection/i.test(error.message))
  )
    return error;
  if (sqliteCode.startsWith('SQLITE_BUSY') || sqliteCode.startsWith('SQLITE_LOCKED')) {
    return new CustosError(
      'STORE_LOCKED',
      `Another Custos is already using the database at ${path}.`,
      [
        'Close the other Custos window or command that uses this data directory, then try again.',
        'If none is running, check for a stuck process holding the file.',
      ],
      { cause: error },
    );
  }
  if (sqliteCode.startsWith('SQLITE_NOTADB') || sqliteCode.startsWith('SQLITE_CORRUPT')) {
    return new CustosError(
      'STORE_CORRUPT',
      `The file at ${path} is not a readable Custos database: it is damaged or not a database.`,
      ['Nothing was written to it. Restore the data directory from your last backup.'],
      { cause: error },
    );
  }
  if (sqliteCode.startsWith('SQLITE_FULL')) {
    return new CustosError(
      'STORE_DISK_FULL',
      `The disk holding ${path} is full; nothing was written.`,
      ['Free some space on that disk, then repeat the last step.'],
      { cause: error },
    );
  }
  if (sqliteCode.startsWith('SQLITE_READONLY')) {
    return new CustosError(
      'STORE_READ_ONLY',
      `The Custos database at ${path} is read-only.`,
      ['Check the file and directory permissions, or the mount options of the disk.'],
      { cause: error },
    );
  }
  if (
    sqliteCode.startsWith('SQLITE_CANTOPEN') ||
    sqliteCode.startsWith('SQLITE_IOERR') ||
    sqliteCode.startsWith('SQLITE_PERM') ||
    sqliteCode.startsWith('SQLITE_AUTH')
  ) {
    return new CustosError(
      'STORE_UNREADABLE',
      `Custos cannot open or read the database at ${path}.`,
      ['Check that the path is a file this user may read and write, and that the disk is attached.'],
      { cause: error },
    );
  }
  return new CustosError('INTERNAL', 'An unexpected database error occurred; nothing was changed.', [], {
    cause: error,
  });
}

export type { SqlValue };

/** What the migrations make, by kind and name: each table's, index's, trigger's and view's SQL as SQLite keeps it. */
type Schema = Map<string, string | null>;
const expectedSchemas = new WeakMap<readonly Migration[], Schema>();

function schemaOf(db: Database.Database): Schema {
  const rows = db
    .prepare(`SELECT type, name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name`)
    .all() as { type: string; name: string; sql: string | null }[];
  return new Map(rows.map((r) => [`${r.type} ${r.name}`, r.sql]));
}

/**
 * Every page, and every index entry against its table's rows. A quick check counts an index's entries but does not
 * compare them: a writer who swaps an index's b-tree for one that files the entry recording a key's latest state
 * under another value (counts unchanged) hides that entry from every lookup by object, action or result, so an older
 * signed row put back reads as the latest. Costs ~4 s at 1,000,000 entries (~2.5 s above a quick check).
 */
function refuseDamaged(db: Database.Database, path: string): void {
  const found = (db.pragma('integrity_check(4)') as { integrity_check: string }[]).map((r) => r.integrity_check);
  if (found.length === 1 && found[0] === 'ok') return;
  throw new CustosError('STORE_CORRUPT', `The Custos database at ${path} is damaged (${found.join('; ')}).`, [
    'Nothing was written to it. A damaged index can also be someone hiding entries from Custos: keep the file ' +
      'for your security officer, and restore the data directory from your last backup.',
  ]);
}

/**
 * The schema is in the file, so whoever can write the file can rewrite it (PRAGMA writable_schema): redefine a
 * generated column that finds signed entries, add a trigger that edits rows as Custos writes them, drop a CHECK.
 * At every open the file's schema must be exactly what the migrations make in an empty database; anything else is
 * refused before Custos reads or writes a row.
 */
function refuseAlteredSchema(
  db: Database.Database,
  path: string,
  migrations: readonly Migration[],
  nativeBinding: string | undefined,
): void {
  let expected = expectedSchemas.get(migrations);
  if (!expected) {
    const fresh = new Database(':memory:', nativeBinding ? { nativeBinding } : {});
    try {
      migrate(fresh, migrations);
      expected = schemaOf(fresh);
    } finally {
      fresh.close();
    }
    expectedSchemas.set(migrations, expected);
  }
  const actual = schemaOf(db);
  const differing = [...new Set([...expected.keys(), ...actual.keys()])].filter(
    (name) => expected.get(name) !== actual.get(name),
  );
  if (differing.length > 0)
    throw new CustosError(
      'STORE_SCHEMA_ALTERED',
      `The Custos database at ${path} was changed outside Custos: its schema is not the one Custos makes ` +
        `(${differing.slice(0, 3).join(', ')}${differing.length > 3 ? ', …' : ''}).`,
      [
        'Nothing was read or written. Keep the file for your security officer, and restore the data directory ' +
          'from your last backup.',
      ],
    );
}
