import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson } from '../canonical-json';
import { DATABASE_FILE } from '../store/database';
import { asDatabaseWriter as asWriter, openAudit } from '../testing/audit-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { treeRows } from './stored-tree';
import { verifyStoredLog } from './verify-store';

/**
 * Someone with the database file alone, Custos closed, adds or changes entries after the latest checkpoint (or outside
 * the log's sequence), and rewrites the stored tree to match, as anyone can: its hashes are public. Without the audit
 * key the rows cannot carry a valid signature, and the log must not open over them: every reader of bare rows would
 * otherwise count them.
 */
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
const asDatabaseWriter = (change: (db: Database.Database) => void) => asWriter(dataDir, change);

/** Records `n` reads, then closes Custos (signing its closing checkpoint) or, with `crash`, lets go without one. */
function useFor(n: number, how: 'close' | 'crash' = 'close'): void {
  const { audit, host, store } = open();
  for (let i = 0; i < n; i++) audit.record({ actor: operator, action: 'token.list' });
  if (how === 'crash') {
    host.closeAll();
    store.close();
    opened = null;
  } else close();
}

const onDisk = () => {
  const db = new Database(join(dataDir, DATABASE_FILE), { readonly: true });
  const counts = {
    entries: db.prepare('SELECT count(*) FROM audit_entries').pluck().get() as number,
    checkpoints: db.prepare('SELECT count(*) FROM audit_checkpoints').pluck().get() as number,
  };
  db.close();
  return counts;
};

/** The stored tree rebuilt from the entries as they now are, so that only the signatures can tell. */
function rewriteTree(db: Database.Database): void {
  const entries = db.prepare('SELECT entry FROM audit_entries WHERE seq >= 0 ORDER BY seq').pluck().all() as string[];
  db.exec('DELETE FROM audit_tree');
  const insert = db.prepare('INSERT INTO audit_tree (seq, hashes) VALUES (?, ?)');
  for (const { seq, hashes } of treeRows(entries)) insert.run(seq, hashes);
}

/** A well-formed entry at `seq` saying the log was verified just now, under a signature the audit key never made. */
function forge(db: Database.Database, seq: number): void {
  const last = db.prepare('SELECT entry, key_id AS keyId FROM audit_entries ORDER BY seq DESC LIMIT 1').get() as {
    entry: string;
    keyId: string;
  };
  const entry = canonicalJson({
    ...(JSON.parse(last.entry) as object),
    seq,
    action: 'audit.verify',
    object: null,
    params: null,
    result: { status: 'ok' },
  });
  db.prepare('INSERT INTO audit_entries (seq, entry, signature, key_id) VALUES (?, ?, ?, ?)').run(
    seq,
    entry,
    randomBytes(64),
    last.keyId,
  );
}

function expectRefused(message: RegExp, before: { entries: number; checkpoints: number }) {
  const { audit } = open();
  expect(audit.status()).toMatchObject({
    state: 'unavailable',
    code: 'AUDIT_VERIFY_FAILED',
    message: expect.stringMatching(message),
    remedy: expect.arrayContaining([expect.stringMatching(/custos audit verify/)]),
  });
  // Every action that must be recorded says why, not just "unavailable".
  expect(() => audit.record({ actor: operator, action: 'token.list' })).toThrow(
    expect.objectContaining({ code: 'AUDIT_VERIFY_FAILED' }),
  );
  close();
  // Nothing was recorded over it and no checkpoint signed it.
  expect(onDisk()).toEqual(before);
}

describe('entries a database writer adds or changes outside what a checkpoint covers', () => {
  it('refuses to open over an entry appended after the latest checkpoint with a signature the key did not make', async () => {
    useFor(3);
    const size = onDisk().entries;
    asDatabaseWriter((db) => {
      forge(db, size);
      rewriteTree(db);
    });
    expectRefused(new RegExp(`entry ${size}\\b.*not signed by the audit key`), onDisk());
    // The live verify names it too.
    const { store, audit } = open();
    const verdict = await verifyStoredLog(store, { key: audit.provenKey()!, keySource: 'token' });
    expect(verdict.first).toMatchObject({ seq: size });
  });

  it('refuses to open over an entry after the latest checkpoint that was edited, its signature kept', () => {
    useFor(4, 'crash'); // Entries after the latest checkpoint, all signed, as a crash leaves them.
    const before = onDisk();
    asDatabaseWriter((db) => {
      const seq = before.entries - 2;
      const row = db.prepare('SELECT entry FROM audit_entries WHERE seq = ?').pluck().get(seq) as string;
      db.prepare('UPDATE audit_entries SET entry = ? WHERE seq = ?').run(
        row.replace('"token.list"', '"audit.verify"'),
        seq,
      );
      rewriteTree(db);
    });
    expectRefused(new RegExp(`entry ${before.entries - 2}\\b`), before);
  });

  it('refuses an entry whose signature was replaced by another entry’s (its seq is not what was signed)', () => {
    useFor(4, 'crash');
    const before = onDisk();
    asDatabaseWriter((db) => {
      const [a, b] = [before.entries - 2, before.entries - 1];
      const read = db.prepare('SELECT entry FROM audit_entries WHERE seq = ?').pluck();
      const signed = read.get(a) as string;
      // The content of entry a, signed, moved to b: the bytes verify, but say another seq.
      db.prepare(
        'UPDATE audit_entries SET entry = ?, signature = (SELECT signature FROM audit_entries WHERE seq = ?) WHERE seq = ?',
      ).run(signed, a, b);
      rewriteTree(db);
    });
    expectRefused(new RegExp(`entry ${before.entries - 1}\\b`), before);
  });

  it('refuses a row with a negative seq, which the tree does not read, and audit verify names it', async () => {
    useFor(3);
    asDatabaseWriter((db) => forge(db, -1));
    expectRefused(/entry -1 is outside the log’s sequence/, onDisk());
    const { store, audit } = open();
    const verdict = await verifyStoredLog(store, { key: audit.provenKey()!, keySource: 'token' });
    // Before: verify read from seq 0 on and passed.
    expect(verdict).toMatchObject({ ok: false, first: { kind: 'inserted' } });
  });

  it('refuses rows stored past a gap after the latest checkpoint', () => {
    useFor(4, 'crash');
    const before = onDisk();
    asDatabaseWriter((db) => db.prepare('DELETE FROM audit_entries WHERE seq = ?').run(before.entries - 2));
    expectRefused(new RegExp(`entry ${before.entries - 2} is missing`), onDisk());
  });

  it('refuses a log with an entry deleted under the latest checkpoint (it hid that entry from every lookup)', () => {
    useFor(6);
    asDatabaseWriter((db) => db.exec('DELETE FROM audit_entries WHERE seq = 2'));
    expectRefused(/entry 2 is missing/, onDisk());
  });

  it('still opens a log whose entries after the latest checkpoint are all signed (a crash)', () => {
    useFor(4, 'crash');
    const { audit } = open();
    expect(audit.status()).toMatchObject({ state: 'ready' });
  });
});
