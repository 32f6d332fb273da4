import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditEntry } from '../../shared/audit';
import { leafHash, MemoryTree, rightEdgePositions, verifyInclusion } from '../core/audit/merkle';
import { completingSeq } from '../core/audit/stored-tree';
import { DATABASE_FILE } from '../core/store/database';
import { tempDataDir } from '../core/testing/softhsm-fixture';
import { EXIT } from './cli';
import { runCustos } from './testing/run-cli';

let dataDir: string;
let cleanup: () => void;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => cleanup());

const custos = (...args: string[]) => runCustos(dataDir, args);

/**
 * Opens the database file as an attacker with write access would: the append-only triggers dropped first, and put
 * back as they were afterwards (a schema left changed is refused at open).
 */
function withDatabase<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(join(dataDir, DATABASE_FILE));
  const triggers = db.prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'trigger'").all() as {
    name: string;
    sql: string;
  }[];
  try {
    db.exec('DROP TRIGGER IF EXISTS audit_tree_no_update; DROP TRIGGER IF EXISTS audit_tree_no_delete;');
    return fn(db);
  } finally {
    for (const t of triggers) if (!db.prepare('SELECT 1 FROM sqlite_schema WHERE name = ?').get(t.name)) db.exec(t.sql);
    db.close();
  }
}

/** The tree as the entries themselves give it, computed apart from the stored one. */
function entriesTree(): { tree: MemoryTree; entries: string[] } {
  const entries = withDatabase((db) =>
    (db.prepare('SELECT entry FROM audit_entries ORDER BY seq').all() as { entry: string }[]).map((r) => r.entry),
  );
  const tree = new MemoryTree();
  for (const entry of entries) tree.append(leafHash(Buffer.from(entry)));
  return { tree, entries };
}

const checkpointCount = () =>
  withDatabase((db) => (db.prepare('SELECT count(*) AS n FROM audit_checkpoints').get() as { n: number }).n);

type Proof = { seq: number; treeSize: number; root: string; entry: string; proof: string[] };
const proofVerifies = (p: Proof, root: Buffer) =>
  verifyInclusion(
    p.seq,
    p.treeSize,
    leafHash(Buffer.from(p.entry)),
    p.proof.map((h) => Buffer.from(h, 'base64')),
    root,
  ) && Buffer.from(p.root, 'base64').equals(root);

describe('an audit tree edited in the database file', () => {
  it('fails verification naming the node, is never signed nor used for a wrong proof, and a recorded repair rebuilds it', async () => {
    for (let i = 0; i < 6; i++) await custos('status');
    const signed = await custos('audit', 'checkpoint');
    expect(signed.code).toBe(EXIT.ok);
    const size = Number(signed.stdout.split('\n')[1]);
    await custos('status');
    // The largest perfect subtree of the signed tree: every later proof and root goes through it.
    const [target] = rightEdgePositions(size);
    expect(target!.level).toBeGreaterThan(0);
    withDatabase((db) => {
      // Nodes above the leaves are kept in the row of the append that completed them.
      const seq = completingSeq(target!.level, target!.index);
      const { hashes } = db.prepare('SELECT hashes FROM audit_tree WHERE seq = ?').get(seq) as { hashes: Buffer };
      randomBytes(32).copy(hashes, (target!.level - 1) * 32);
      db.prepare('UPDATE audit_tree SET hashes = ? WHERE seq = ?').run(hashes, seq);
    });

    const verify = await custos('audit', 'verify', '--json');
    expect(verify.code).toBe(EXIT.verification);
    expect(verify.stdout).toContain(`level ${target!.level}, node ${target!.index}`);
    expect(verify.stdout).toContain('tree-corrupt');

    const before = checkpointCount();
    const checkpoint = await custos('audit', 'checkpoint', '--json');
    expect(checkpoint.json().error.code).toBe('AUDIT_TREE_CORRUPT');
    const bundle = join(dataDir, 'bundle');
    const exported = await custos('audit', 'export', '--out', bundle, '--json');
    expect(exported.json().error.code).toBe('AUDIT_TREE_CORRUPT');
    expect(existsSync(bundle)).toBe(false);
    expect(checkpointCount()).toBe(before);

    // Every proof printed verifies against the entries' own root; the others are refused.
    let refused = 0;
    const count = entriesTree().entries.length;
    for (let seq = 0; seq < count; seq++) {
      const run = await custos('audit', 'proof', '--seq', String(seq), '--json');
      if (run.code !== EXIT.ok) {
        expect(run.json().error.code).toBe('AUDIT_TREE_CORRUPT');
        refused += 1;
        continue;
      }
      const proof = run.json<Proof>().value;
      const { tree } = entriesTree();
      expect(proofVerifies(proof, tree.root(proof.treeSize)), `proof of entry ${seq}`).toBe(true);
    }
    expect(refused).toBeGreaterThan(0);

    const repaired = await custos('audit', 'repair-tree', '--json');
    expect(repaired.code).toBe(EXIT.ok);
    expect(repaired.json<{ rewritten: number }>().value.rewritten).toBeGreaterThan(0);
    const { entries } = entriesTree();
    expect(
      entries
        .map((e) => AuditEntry.parse(JSON.parse(e)))
        .some((e) => e.action === 'audit.tree.repair' && e.result.status === 'ok'),
    ).toBe(true);
    expect((await custos('audit', 'verify')).code).toBe(EXIT.ok);
    const after = await custos('audit', 'checkpoint');
    expect(after.code).toBe(EXIT.ok);
    const { tree } = entriesTree();
    const afterSize = Number(after.stdout.split('\n')[1]);
    expect(after.stdout.split('\n')[2]).toBe(tree.root(afterSize).toString('base64'));
    const proof = (await custos('audit', 'proof', '--seq', '0', '--json')).json<Proof>().value;
    expect(proofVerifies(proof, entriesTree().tree.root(proof.treeSize))).toBe(true);
  });

  it('a deleted tree row is named by verify and restored by the repair', async () => {
    for (let i = 0; i < 3; i++) await custos('status');
    withDatabase((db) => db.prepare('DELETE FROM audit_tree WHERE seq = 1').run());
    const verify = await custos('audit', 'verify', '--json');
    expect(verify.code).toBe(EXIT.verification);
    expect(verify.stdout).toContain('level 1, node 0 (entries 0–1)');
    expect((await custos('audit', 'repair-tree')).code).toBe(EXIT.ok);
    expect((await custos('audit', 'verify')).code).toBe(EXIT.ok);
  });

  it('repair refuses when the entries themselves no longer match the signed checkpoint, and says so', async () => {
    for (let i = 0; i < 3; i++) await custos('status');
    await custos('audit', 'checkpoint');
    withDatabase((db) => {
      db.exec('DROP TRIGGER IF EXISTS audit_entries_no_update');
      db.prepare(
        `UPDATE audit_entries SET entry = replace(entry, '"status":"ok"', '"status":"ko"') WHERE seq = 1`,
      ).run();
    });
    const run = await custos('audit', 'repair-tree', '--json');
    expect(run.json().error).toMatchObject({
      code: 'AUDIT_VERIFY_FAILED',
      message: expect.stringMatching(/entries themselves no longer match/),
    });
  });
});
