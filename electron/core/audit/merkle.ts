import { createHash } from 'node:crypto';

/**
 * RFC 6962 / RFC 9162 Merkle tree over the audit entries: leaf = SHA-256(0x00 ‖ entry),
 * node = SHA-256(0x01 ‖ left ‖ right). Only perfect subtrees are stored (at most 2n nodes), so
 * every root and proof needs O(log n) stored hashes, never a pass over the entries.
 */
const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

export function leafHash(entry: Buffer): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(entry).digest();
}

export function nodeHash(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

export const EMPTY_ROOT = createHash('sha256').digest();

/** Where perfect-subtree hashes live: level 0 are the leaf hashes, level L covers 2^L leaves. */
export interface NodeStore {
  node(level: number, index: number): Buffer;
}

export interface StoredNode {
  level: number;
  index: number;
  hash: Buffer;
}

/** The nodes that complete when leaf number `index` (0-based) is appended. */
export function nodesCompletedBy(index: number, leaf: Buffer, store: NodeStore): StoredNode[] {
  const nodes: StoredNode[] = [{ level: 0, index, hash: leaf }];
  let level = 0;
  let i = index;
  let hash = leaf;
  while (i % 2 === 1) {
    hash = nodeHash(store.node(level, i - 1), hash);
    level += 1;
    i = (i - 1) / 2;
    nodes.push({ level, index: i, hash });
  }
  return nodes;
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// Arithmetic, not bitwise: JavaScript's bitwise operators truncate to 32 bits.
function isPowerOfTwo(n: number): boolean {
  return n > 0 && Number.isInteger(Math.log2(n));
}

/** MTH(D[start : start+size]). */
export function subtreeHash(store: NodeStore, start: number, size: number): Buffer {
  if (size === 0) return EMPTY_ROOT;
  if (isPowerOfTwo(size) && start % size === 0) return store.node(Math.log2(size), start / size);
  const k = largestPowerOfTwoBelow(size);
  return nodeHash(subtreeHash(store, start, k), subtreeHash(store, start + k, size - k));
}

export function rootHash(store: NodeStore, size: number): Buffer {
  return subtreeHash(store, 0, size);
}

/** RFC 6962 §2.1.1 PATH(m, D[n]), for the leaf at index m of a tree of size n. */
export function inclusionProof(store: NodeStore, index: number, size: number): Buffer[] {
  if (index < 0 || index >= size) throw new RangeError(`leaf ${index} is not in a tree of size ${size}`);
  const path: Buffer[] = [];
  let start = 0;
  let m = index;
  let n = size;
  const pending: Buffer[] = [];
  while (n > 1) {
    const k = largestPowerOfTwoBelow(n);
    if (m < k) {
      pending.push(subtreeHash(store, start + k, n - k));
      n = k;
    } else {
      pending.push(subtreeHash(store, start, k));
      start += k;
      m -= k;
      n -= k;
    }
  }
  // Collected root-first; the proof lists them leaf-first.
  for (let i = pending.length - 1; i >= 0; i--) path.push(pending[i]!);
  return path;
}

/** RFC 6962 §2.1.2 PROOF(m, D[n]): that the tree of size m is a prefix of the tree of size n. */
export function consistencyProof(store: NodeStore, first: number, second: number): Buffer[] {
  if (first < 0 || first > second) throw new RangeError(`cannot prove ${first} against ${second}`);
  if (first === 0 || first === second) return [];
  const pending: Buffer[] = [];
  let start = 0;
  let m = first;
  let n = second;
  let complete = true;
  while (m !== n) {
    const k = largestPowerOfTwoBelow(n);
    if (m <= k) {
      pending.push(subtreeHash(store, start + k, n - k));
      n = k;
    } else {
      pending.push(subtreeHash(store, start, k));
      start += k;
      m -= k;
      n -= k;
      complete = false;
    }
  }
  if (!complete) pending.push(subtreeHash(store, start, m));
  return pending.reverse();
}

const lsb = (n: number) => n % 2 === 1;

/** Right-shifts fn and sn together until fn's lowest bit is set or fn is 0 (RFC 9162's inner loop). */
function climbToSetBit(fn: number, sn: number): [number, number] {
  while (!lsb(fn) && fn !== 0) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return [fn, sn];
}

/** RFC 9162 §2.1.3.2. Needs only the leaf hash, the proof and the root. */
export function verifyInclusion(
  index: number,
  size: number,
  leaf: Buffer,
  proof: readonly Buffer[],
  root: Buffer,
): boolean {
  if (index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (lsb(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!lsb(fn)) [fn, sn] = climbToSetBit(fn, sn);
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}

/** RFC 9162 §2.1.4.2. Needs only the two roots and the proof. */
export function verifyConsistency(
  first: number,
  second: number,
  firstRoot: Buffer,
  secondRoot: Buffer,
  proof: readonly Buffer[],
): boolean {
  if (first < 0 || first > second) return false;
  if (first === second) return proof.length === 0 && firstRoot.equals(secondRoot);
  if (first === 0) return proof.length === 0 && firstRoot.equals(EMPTY_ROOT);
  const path = isPowerOfTwo(first) ? [firstRoot, ...proof] : [...proof];
  if (path.length === 0) return false;
  let fn = first - 1;
  let sn = second - 1;
  while (lsb(fn)) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (lsb(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!lsb(fn)) [fn, sn] = climbToSetBit(fn, sn);
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return fr.equals(firstRoot) && sr.equals(secondRoot) && sn === 0;
}

/** A tree held in memory: the verifier rebuilds one from an exported bundle. */
export class MemoryTree implements NodeStore {
  private readonly levels: Buffer[][] = [[]];

  get size(): number {
    return this.levels[0]!.length;
  }

  append(leaf: Buffer): void {
    for (const { level, index, hash } of nodesCompletedBy(this.size, leaf, this)) {
      (this.levels[level] ??= [])[index] = hash;
    }
  }

  node(level: number, index: number): Buffer {
    const hash = this.levels[level]?.[index];
    if (!hash) throw new RangeError(`no node at level ${level}, index ${index}`);
    return hash;
  }

  root(size = this.size): Buffer {
    return rootHash(this, size);
  }
}

/** One perfect subtree: `level` L covers 2^L leaves, from leaf index × 2^L. */
export interface EdgeNode {
  level: number;
  index: number;
  hash: Buffer;
}

/** Where the perfect subtrees of a tree of `size` leaves sit (its right edge), largest first. */
export function rightEdgePositions(size: number): { level: number; index: number }[] {
  const positions: { level: number; index: number }[] = [];
  let start = 0;
  for (let level = Math.floor(Math.log2(Math.max(size, 1))); level >= 0; level--) {
    const width = 2 ** level;
    if (start + width <= size) {
      positions.push({ level, index: start / width });
      start += width;
    }
  }
  return positions;
}

/** The root of a tree from its right edge (largest subtree first). */
export function rootOfEdge(edge: readonly EdgeNode[]): Buffer {
  if (edge.length === 0) return EMPTY_ROOT;
  let acc = edge.at(-1)!.hash;
  for (let i = edge.length - 2; i >= 0; i--) acc = nodeHash(edge[i]!.hash, acc);
  return acc;
}

/**
 * Only the right edge of the tree (one perfect-subtree root per set bit of the size): enough to
 * give the root at the current size, in O(log n) memory. The verifier streams a million entries
 * through one of these instead of keeping two million node hashes; the live log keeps one to
 * sign roots computed from its entries, never read back from the unsigned stored tree.
 */
export class FrontierTree {
  private frontier: EdgeNode[];
  size: number;

  constructor(edge: readonly EdgeNode[] = [], size = 0) {
    this.frontier = [...edge];
    this.size = size;
  }

  /** Adds a leaf; `onNode` sees every node it completes (the leaf itself first), in order. */
  append(leaf: Buffer, onNode?: (node: EdgeNode) => void): void {
    let node: EdgeNode = { level: 0, index: this.size, hash: leaf };
    onNode?.(node);
    for (let top = this.frontier.at(-1); top && top.level === node.level; top = this.frontier.at(-1)) {
      this.frontier.pop();
      node = { level: top.level + 1, index: top.index / 2, hash: nodeHash(top.hash, node.hash) };
      onNode?.(node);
    }
    this.frontier.push(node);
    this.size += 1;
  }

  root(): Buffer {
    return rootOfEdge(this.frontier);
  }

  edge(): readonly EdgeNode[] {
    return this.frontier;
  }

  copy(): FrontierTree {
    return new FrontierTree(this.frontier, this.size);
  }
}

/** "level 3, node 5 (entries 40–47)": where an auditor looks. */
export function describeNode({ level, index }: { level: number; index: number }): string {
  const width = 2 ** level;
  const first = index * width;
  return width === 1
    ? `level 0, node ${index} (entry ${first})`
    : `level ${level}, node ${index} (entries ${first}–${first + width - 1})`;
}
