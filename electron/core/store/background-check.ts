import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { DATABASE_FILE } from './database';

/**
 * What a background check found intact: the database file as it was when the check let go of it. The open that
 * follows skips its own integrity check only when the file it has just locked is still exactly this one.
 */
export interface CheckedFile {
  readonly path: string;
  readonly fingerprint: string;
}

// Plain JavaScript run on a worker thread: the same steps as Store.open before its own check (the exclusive lock,
// then no trusted schema), then SQLite's full integrity check, and nothing written. Any answer but "ok", and any
// error, is left for the open itself to find again and explain (STORE_LOCKED, STORE_CORRUPT, …).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
let db;
try {
  db = new Database(workerData.path, {
    fileMustExist: true,
    timeout: 0,
    ...(workerData.nativeBinding ? { nativeBinding: workerData.nativeBinding } : {}),
  });
  db.pragma('locking_mode = EXCLUSIVE');
  db.exec('BEGIN EXCLUSIVE; COMMIT;');
  db.pragma('trusted_schema = OFF');
  const found = db.pragma('integrity_check(1)').map((r) => r.integrity_check);
  db.close();
  db = undefined;
  parentPort.postMessage({ ok: found.length === 1 && found[0] === 'ok' });
} catch {
  try { db?.close(); } catch {}
  parentPort.postMessage({ ok: false });
}
`;

/**
 * The file's identity and contents as the file system sees them: inode, size, and modification and change times to
 * the nanosecond (a write changes the change time, which no user can set back); the same for its -wal and -journal
 * files, where an empty or missing one is no content (Store.open creates an empty -wal when it takes the lock).
 */
export function fingerprint(path: string): string | null {
  const part = (file: string) => {
    try {
      const s = statSync(file, { bigint: true });
      return s.size === 0n ? 'empty' : `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'empty';
      throw error;
    }
  };
  const file = part(path);
  return file === 'empty' ? null : `${file}|${part(`${path}-wal`)}|${part(`${path}-journal`)}`;
}

/**
 * Runs SQLite's full integrity check of a data directory's database on a worker thread, so the desktop app opens
 * its window and stays responsive meanwhile (about 4 s at 1,000,000 audit entries). Resolves to what was found
 * intact, or null when the open must check for itself: no database yet, damage, a lock held elsewhere, or a worker
 * that could not run. Never rejects.
 */
export function checkInBackground(dataDir: string, nativeBinding?: string): Promise<CheckedFile | null> {
  const path = join(dataDir, DATABASE_FILE);
  let before: string | null;
  let module: string;
  try {
    before = fingerprint(path);
    module = createRequire(__filename).resolve('better-sqlite3');
  } catch {
    return Promise.resolve(null);
  }
  if (before === null) return Promise.resolve(null);
  return new Promise((resolve) => {
    let worker: Worker;
    try {
      worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, path, nativeBinding } });
    } catch {
      resolve(null);
      return;
    }
    let answered = false;
    const answer = (ok: boolean) => {
      if (answered) return;
      answered = true;
      let after: string | null = null;
      try {
        after = ok ? fingerprint(path) : null;
      } catch {
        after = null;
      }
      resolve(after === null ? null : { path, fingerprint: after });
    };
    worker.once('message', (message: { ok: boolean }) => answer(message.ok === true));
    worker.once('error', () => answer(false));
    worker.once('exit', () => answer(false));
  });
}
