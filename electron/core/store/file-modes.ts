import { chmodSync, closeSync, existsSync, openSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** A permission Custos tightened at start: what it was, what it is now (octal, e.g. "755" → "700"). */
export interface FileModeRepair {
  path: string;
  from: string;
  to: string;
}

const PRIVATE_DIR = 0o700;
const PRIVATE_FILE = 0o600;

/**
 * Creates the database file owner-only before SQLite does (SQLite gives its -wal and -shm files the
 * database's own mode), so no moment exists in which another local user could open it.
 */
export function createPrivateFile(path: string): void {
  if (process.platform === 'win32' || existsSync(path)) return;
  closeSync(openSync(path, 'a', PRIVATE_FILE));
  chmodSync(path, PRIVATE_FILE);
}

/**
 * The data directory is the owner's alone: the directory and every directory under it 0700, the
 * database, its -wal/-shm files and the software token store 0600. Anything looser (a directory
 * made by hand, a copy restored with other modes) is tightened and returned, for the caller to
 * record as a warning: refusing to start would only keep a custodian from an urgent ceremony,
 * and tightening loses nothing. Exported reports and backup files are inside the same 0700
 * directory, so nobody else can reach them there either. (POSIX only: Windows has no modes.)
 */
export function tightenDataDir(dataDir: string, databaseFile: string): FileModeRepair[] {
  if (process.platform === 'win32') return [];
  const repairs: FileModeRepair[] = [];
  const tighten = (path: string, wanted: number) => {
    const mode = statSync(path).mode & 0o777;
    if ((mode & ~wanted) === 0) return;
    chmodSync(path, mode & wanted);
    repairs.push({ path: relative(dataDir, path) || '.', from: mode.toString(8), to: (mode & wanted).toString(8) });
  };
  tighten(dataDir, PRIVATE_DIR);
  for (const name of [databaseFile, `${databaseFile}-wal`, `${databaseFile}-shm`, `${databaseFile}-journal`]) {
    if (existsSync(join(dataDir, name))) tighten(join(dataDir, name), PRIVATE_FILE);
  }
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        tighten(path, PRIVATE_DIR);
        walk(path);
      } else if (entry.isFile()) tighten(path, PRIVATE_FILE);
    }
  };
  if (existsSync(join(dataDir, 'softhsm'))) {
    tighten(join(dataDir, 'softhsm'), PRIVATE_DIR);
    walk(join(dataDir, 'softhsm'));
  }
  return repairs;
}
