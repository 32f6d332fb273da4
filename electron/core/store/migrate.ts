import type Database from 'better-sqlite3';
import { CustosError } from '../errors';

export interface Migration {
  /** Positive and contiguous: 1, 2, 3… The number is also the file name's prefix. */
  readonly version: number;
  readonly name: string;
  up(db: Database.Database): void;
}

/**
 * Brings the schema to the newest version, one migration per transaction, recording progress in
 * PRAGMA user_version. Refuses a database written by a newer Custos rather than guessing.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new CustosError(
        'STORE_MIGRATION_FAILED',
        `Migration list is not monotonic: expected version ${index + 1}, found ${migration.version} (${migration.name}).`,
      );
    }
  });
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = migrations.length;
  if (current > latest) {
    throw new CustosError(
      'STORE_TOO_NEW',
      `This database was written by a newer Custos (schema ${current}; this version knows up to ${latest}).`,
      ['Use the newer Custos, or restore a backup made with this version. Nothing was changed.'],
    );
  }
  for (const migration of migrations.slice(current)) {
    try {
      db.transaction(() => {
        migration.up(db);
        db.pragma(`user_version = ${migration.version}`);
      }).immediate();
    } catch (error) {
      if (error instanceof CustosError) throw error;
      throw new CustosError(
        'STORE_MIGRATION_FAILED',
        `Upgrading the database to schema ${migration.version} (${migration.name}) failed; it was left at schema ${migration.version - 1}.`,
        ['Nothing was lost. Report this with the main-process log.'],
        { cause: error },
      );
    }
  }
}
