import type { Store } from '../store/database';
import { sql } from '../store/sql';
import { FrontierTree, leafHash, type EdgeNode } from './merkle';

/**
 * How the Merkle tree is kept in `audit_tree`: one row per append that completes perfect subtrees
 * above the leaves, keyed by that append's seq and holding their hashes lowest level first. Appends
 * write to the end of one table (an odd seq writes one row, an even seq none), and a leaf hash is
 * never stored: it is SHA-256(0x00 ‖ entry) of the signed entry itself.
 *
 * Node (level L ≥ 1, index i) completes with leaf (i + 1) · 2^L − 1 and sits at L − 1 in its row.
 */
const HASH = 32;

/** The append whose leaf completes node (level, index). */
export function completingSeq(level: number, index: number): number {
  return (index + 1) * 2 ** level - 1;
}

/** How many nodes above the leaves append `seq` completes: the trailing one bits of seq. */
function nodesCompletedAt(seq: number): number {
  let count = 0;
  for (let n = seq; n % 2 === 1; n = (n - 1) / 2) count += 1;
  return count;
}

/** What one append stores, from the nodes its leaf completed (FrontierTree.append's onNode); null if none. */
export function treeRow(completed: readonly EdgeNode[]): Buffer | null {
  const above = completed.filter((node) => node.level > 0);
  return above.length === 0 ? null : Buffer.concat(above.map((node) => node.hash));
}

/** Node (level ≥ 1) from the row of `seq`; undefined when the row is missing or not as long as seq says. */
export function nodeInRow(hashes: Buffer | undefined, seq: number, level: number): Buffer | undefined {
  const complete = hashes !== undefined && hashes.length === nodesCompletedAt(seq) * HASH;
  if (!complete || level < 1 || level * HASH > hashes.length) return undefined;
  return hashes.subarray((level - 1) * HASH, level * HASH);
}

/** A stored node: level 0 hashed from the entry, higher levels read from audit_tree. */
export function storedNode(store: Store, level: number, index: number): Buffer | undefined {
  if (level === 0) {
    const row = store.get<{ entry: string }>(sql`SELECT entry FROM audit_entries WHERE seq = ${index}`);
    return row ? leafHash(Buffer.from(row.entry, 'utf8')) : undefined;
  }
  const seq = completingSeq(level, index);
  const row = store.get<{ hashes: Buffer }>(sql`SELECT hashes FROM audit_tree WHERE seq = ${seq}`);
  return nodeInRow(row?.hashes, seq, level);
}

/** The rows a log of these entries stores, in order (for logs written in bulk: the benchmark, tests). */
export function* treeRows(entries: Iterable<string>): Generator<{ seq: number; hashes: Buffer }> {
  const tree = new FrontierTree();
  for (const entry of entries) {
    const completed: EdgeNode[] = [];
    const seq = tree.size;
    tree.append(leafHash(Buffer.from(entry, 'utf8')), (node) => completed.push(node));
    const hashes = treeRow(completed);
    if (hashes) yield { seq, hashes };
  }
}

export function insertTreeRow(store: Store, seq: number, hashes: Buffer): void {
  store.execute(sql`INSERT INTO audit_tree (seq, hashes) VALUES (${seq}, ${hashes})`);
}

const CHUNK = 4096;

/**
 * Compares the stored tree with the one the verifier computes from the entries, which completes
 * nodes in seq order: the rows are read forward in chunks, not node by node. A leaf always
 * matches, since it is hashed from the very entry being verified.
 */
export function storedTreeReader(store: Store): (node: EdgeNode) => boolean {
  let rows: { seq: number; hashes: Buffer }[] = [];
  let pos = 0;
  return ({ level, index, hash }) => {
    if (level === 0) return true;
    const seq = completingSeq(level, index);
    while (pos < rows.length && rows[pos]!.seq < seq) pos += 1;
    if (pos >= rows.length) {
      rows = store.all<{ seq: number; hashes: Buffer }>(
        sql`SELECT seq, hashes FROM audit_tree WHERE seq >= ${seq} ORDER BY seq LIMIT ${CHUNK}`,
      );
      pos = 0;
    }
    const row = rows[pos];
    return row?.seq === seq && nodeInRow(row.hashes, seq, level)?.equals(hash) === true;
  };
}
