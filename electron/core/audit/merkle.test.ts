import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  consistencyProof,
  EMPTY_ROOT,
  FrontierTree,
  inclusionProof,
  leafHash,
  MemoryTree,
  nodeHash,
  verifyConsistency,
  verifyInclusion,
} from './merkle';

// The definitions of RFC 6962 §2.1, written as directly as possible, to check the stored-node version against.
const k = (n: number) => 2 ** Math.ceil(Math.log2(n) - 1);
function mth(d: Buffer[]): Buffer {
  if (d.length === 0) return createHash('sha256').digest();
  if (d.length === 1) return leafHash(d[0]!);
  return nodeHash(mth(d.slice(0, k(d.length))), mth(d.slice(k(d.length))));
}
function path(m: number, d: Buffer[]): Buffer[] {
  if (d.length <= 1) return [];
  const split = k(d.length);
  return m < split
    ? [...path(m, d.slice(0, split)), mth(d.slice(split))]
    : [...path(m - split, d.slice(split)), mth(d.slice(0, split))];
}
function subproof(m: number, d: Buffer[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const split = k(d.length);
  return m <= split
    ? [...subproof(m, d.slice(0, split), b), mth(d.slice(split))]
    : [...subproof(m - split, d.slice(split), false), mth(d.slice(0, split))];
}

const entries = Array.from({ length: 40 }, (_, i) => Buffer.from(`entry ${i}`));
const tree = new MemoryTree();
entries.forEach((e) => tree.append(leafHash(e)));

describe('Merkle tree (RFC 6962)', () => {
  it('has the empty root of SHA-256 of nothing', () => {
    expect(EMPTY_ROOT.toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('computes the same root as the RFC definition for every size', () => {
    for (let n = 1; n <= entries.length; n++)
      expect(tree.root(n).equals(mth(entries.slice(0, n))), `size ${n}`).toBe(true);
  });

  it('keeps only the right edge and still gives the RFC root at every size', () => {
    const frontier = new FrontierTree();
    expect(frontier.root().equals(EMPTY_ROOT)).toBe(true);
    entries.forEach((e, i) => {
      frontier.append(leafHash(e));
      expect(frontier.root().equals(mth(entries.slice(0, i + 1))), `size ${i + 1}`).toBe(true);
    });
  });

  it('produces the RFC inclusion proofs, and they verify against the root', () => {
    for (let n = 1; n <= entries.length; n++) {
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(tree, m, n);
        expect(proof.map((h) => h.toString('hex'))).toEqual(path(m, entries.slice(0, n)).map((h) => h.toString('hex')));
        expect(verifyInclusion(m, n, leafHash(entries[m]!), proof, tree.root(n))).toBe(true);
      }
    }
  });

  it('produces the RFC consistency proofs, and they verify between the two roots', () => {
    for (let n = 1; n <= entries.length; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = consistencyProof(tree, m, n);
        expect(proof.map((h) => h.toString('hex'))).toEqual(
          m === n ? [] : subproof(m, entries.slice(0, n), true).map((h) => h.toString('hex')),
        );
        expect(verifyConsistency(m, n, tree.root(m), tree.root(n), proof), `${m} → ${n}`).toBe(true);
      }
    }
  });

  it('rejects an inclusion proof for another leaf, index or root', () => {
    const proof = inclusionProof(tree, 5, 33);
    expect(verifyInclusion(5, 33, leafHash(Buffer.from('forged')), proof, tree.root(33))).toBe(false);
    expect(verifyInclusion(6, 33, leafHash(entries[5]!), proof, tree.root(33))).toBe(false);
    expect(verifyInclusion(5, 33, leafHash(entries[5]!), proof, tree.root(34))).toBe(false);
    expect(verifyInclusion(5, 33, leafHash(entries[5]!), proof.slice(1), tree.root(33))).toBe(false);
  });

  it('rejects a consistency proof when history was rewritten', () => {
    const rewritten = new MemoryTree();
    entries.forEach((e, i) => rewritten.append(leafHash(i === 3 ? Buffer.from('rewritten') : e)));
    const proof = consistencyProof(rewritten, 10, 40);
    expect(verifyConsistency(10, 40, tree.root(10), rewritten.root(40), proof)).toBe(false);
    expect(verifyConsistency(10, 40, tree.root(10), tree.root(40), consistencyProof(tree, 10, 40).slice(1))).toBe(
      false,
    );
  });
});
