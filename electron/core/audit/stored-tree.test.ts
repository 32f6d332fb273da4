import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DATABASE_FILE } from '../store/database';
import { appendOnly } from '../store/migrations/0002-audit-log';
import { migrations } from '../store/migrations';
import { openAudit } from '../testing/audit-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { leafHash, MemoryTree, nodesCompletedBy, verifyConsistency, verifyInclusion } from './merkle';
import { verifyStoredLog } from './verify-store';

let dataDir: string;
let cleanup: () => void;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => cleanup());
const operator = { type: 'operator', id: 'test' } as const;

function withDatabase<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(join(dataDir, DATABASE_FILE));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** The tree the entries give, computed apart from anything stored. */
function treeOf(entries: Iterable<{ entry: string }>): MemoryTree {
  const tree = new MemoryTree();
  for (const { entry } of entries) tree.append(leafHash(Buffer.from(entry)));
  return tree;
}

/**
 * A log of `appends` more entries, closed with its checkpoint signed; `upTo` stops the schema at that version, so
 * a later upgrade runs the migrations after it as on a real installation of that age.
 */
function writeLog(appends: number, upTo?: number): void {
  const opened = openAudit(
    dataDir,
    undefined,
    upTo === undefined ? {} : { migrations: migrations.filter((m) => m.version <= upTo) },
  );
  for (let i = 0; i < appends; i++) {
    opened.audit.record({ actor: operator, action: 'token.list', object: { type: 'token', id: `t${i}` } });
  }
  opened.close();
}

/** Puts the database back to schema 14, whose audit_tree held every node (leaves too) by level and index. */
function asSchema14(change?: (db: Database.Database) => void): void {
  withDatabase((db) => {
    const tree = treeOf(db.prepare('SELECT entry FROM audit_entries ORDER BY seq').all() as { entry: string }[]);
    db.exec(`
      DROP TABLE audit_tree;
      CREATE TABLE audit_tree (
        level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)
      ) STRICT, WITHOUT ROWID;`);
    const insert = db.prepare('INSERT INTO audit_tree (level, idx, hash) VALUES (?, ?, ?)');
    const rebuilt = new MemoryTree();
    for (let seq = 0; seq < tree.size; seq++) {
      const leaf = tree.node(0, seq);
      for (const node of nodesCompletedBy(seq, leaf, rebuilt)) insert.run(node.level, node.index, node.hash);
      rebuilt.append(leaf);
    }
    change?.(db);
    db.exec(appendOnly('audit_tree'));
    db.pragma('user_version = 14');
  });
}

describe('the stored tree, one row per append', () => {
  it('writes at most one row per append, none for a leaf, and gives roots and proofs that verify', () => {
    writeLog(40);
    type Row = { seq: number; bytes: number };
    const query = 'SELECT seq, length(hashes) AS bytes FROM audit_tree ORDER BY seq';
    const rows = withDatabase((db) => db.prepare(query).all() as Row[]);
    const opened = openAudit(dataDir);
    try {
      const log = opened.audit.log();
      const size = log.size();
      // Only odd appends complete a node above the leaves: append 2^k − 1 completes k of them.
      const odd = Array.from({ length: Math.floor(size / 2) }, (_, i) => 2 * i + 1);
      expect(rows.map((r) => r.seq)).toEqual(odd);
      expect(rows.find((r) => r.seq === 31)?.bytes).toBe(5 * 32);
      const tree = treeOf(log.entries());
      for (const n of [1, 2, 7, 16, 31, size]) {
        expect(log.root(n).equals(tree.root(n)), `root at ${n}`).toBe(true);
        for (let seq = 0; seq < n; seq++) {
          const leaf = leafHash(Buffer.from(log.entry(seq).entry));
          const proof = log.inclusionProof(seq, n);
          expect(verifyInclusion(seq, n, leaf, proof, tree.root(n)), `entry ${seq} in ${n}`).toBe(true);
        }
        const proof = log.consistencyProof(n, size);
        expect(verifyConsistency(n, size, tree.root(n), tree.root(size), proof), `${n} → ${size}`).toBe(true);
      }
    } finally {
      opened.close();
    }
  });

  it('carries a tree stored by level over the upgrade: the log opens on it, verifies and proves', async () => {
    writeLog(21, 15);
    asSchema14();
    const opened = openAudit(dataDir);
    try {
      expect(opened.audit.status()).toMatchObject({ state: 'ready' });
      expect(opened.audit.log().treeProblem()).toBeNull();
      expect(await verifyStoredLog(opened.store)).toMatchObject({ ok: true });
      const log = opened.audit.log();
      const tree = treeOf(log.entries());
      const leaf = leafHash(Buffer.from(log.entry(5).entry));
      expect(verifyInclusion(5, log.size(), leaf, log.inclusionProof(5), tree.root())).toBe(true);
    } finally {
      opened.close();
    }
  });

  it('keeps a node changed before the upgrade as evidence: verify names it, and the repair rebuilds it', async () => {
    writeLog(21, 15);
    asSchema14((db) => db.prepare('UPDATE audit_tree SET hash = zeroblob(32) WHERE level = 2 AND idx = 1').run());
    const opened = openAudit(dataDir);
    try {
      const verdict = await verifyStoredLog(opened.store);
      expect(verdict.ok).toBe(false);
      const named = expect.stringContaining('level 2, node 1 (entries 4–7)');
      expect(verdict.first).toMatchObject({ kind: 'tree-corrupt', message: named });
      expect(opened.audit.log().repairTree(operator).rewritten).toBe(1);
      expect(await verifyStoredLog(opened.store)).toMatchObject({ ok: true });
    } finally {
      opened.close();
    }
  });
});
