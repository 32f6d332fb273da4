import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * The per-entry work of verification, spread over worker threads: a million-entry log must
 * verify in under a minute. For each entry a worker checks the Ed25519 signature, computes the
 * RFC 6962 leaf hash (SHA-256(0x00 ‖ entry), as merkle.ts leafHash), reads the entry's seq and,
 * for a bundle line, checks its inclusion proof against the signed root it claims.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash, createPublicKey, verify } = require('node:crypto');
const key = createPublicKey({
  key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(workerData.publicKey)]),
  format: 'der',
  type: 'spki',
});
const LEAF = Buffer.from([0x00]);
const NODE = Buffer.from([0x01]);
const node = (l, r) => createHash('sha256').update(NODE).update(l).update(r).digest();
// RFC 9162 §2.1.3.2, as merkle.ts verifyInclusion (this source cannot import it).
function included(index, size, leaf, proof, root) {
  if (index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0 || !p || p.length !== 32) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = node(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = node(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && Buffer.from(root).equals(r);
}
const SEQ = /"seq":(0|[1-9][0-9]{0,15})[,}]/;
parentPort.on('message', ({ id, messages, signatures: packed, lengths, proofs }) => {
  // One transferred buffer holds every signature back to back (a missing one has length 0).
  const signatures = [];
  for (let i = 0, at = 0; i < lengths.length; at += lengths[i], i++) signatures.push(lengths[i] ? packed.subarray(at, at + lengths[i]) : null);
  const n = messages.length;
  const valid = new Uint8Array(n);
  const proven = new Uint8Array(n);
  const seqs = new Float64Array(n);
  const leaves = new Uint8Array(n * 32);
  for (let i = 0; i < n; i++) {
    // One bad row (not a string, not a signature) must not take the batch down with it.
    try {
      const text = typeof messages[i] === 'string' ? messages[i] : '';
      const bytes = Buffer.from(text, 'utf8');
      const signature = signatures[i];
      valid[i] = signature && signature.length === 64 && verify(null, bytes, key, signature) ? 1 : 0;
      const leaf = createHash('sha256').update(LEAF).update(bytes).digest();
      leaves.set(leaf, i * 32);
      const claim = proofs && proofs[i];
      if (claim) proven[i] = claim.root && included(claim.index, claim.size, leaf, claim.path, claim.root) ? 1 : 0;
      else proven[i] = 2;
      // In canonical JSON every nested object sorts before "seq" and none has a seq key, and a quote
      // inside a string is escaped, so the first match is the entry's own seq. Trusted only when signed.
      const match = SEQ.exec(text);
      seqs[i] = match ? Number(match[1]) : NaN;
    } catch {
      valid[i] = 0;
      seqs[i] = NaN;
    }
  }
  parentPort.postMessage({ id, valid, seqs, leaves, proven }, [valid.buffer, seqs.buffer, leaves.buffer, proven.buffer]);
});
`;

export interface CheckedBatch {
  /** 1 where the signature verifies. */
  valid: Uint8Array;
  /** The entry's own seq field, NaN where the entry is not well-formed JSON with one. */
  seqs: Float64Array;
  /** 32 bytes per entry: its Merkle leaf hash. */
  leaves: Uint8Array;
  /** Per entry: 1 its inclusion proof verifies, 0 it does not, 2 it came with none. */
  proven: Uint8Array;
}

/** An inclusion proof that came with an entry (a bundle line), and the signed root it must reach. */
export interface InclusionClaim {
  index: number;
  size: number;
  path: Uint8Array[];
  /** Null when no signed checkpoint has that tree size: then the proof cannot verify. */
  root: Uint8Array | null;
}

export class SignaturePool {
  private readonly workers: Worker[];
  /** Batches sent to each worker and not yet answered: the next batch goes to the least loaded. */
  private readonly load: number[];
  private readonly owner = new Map<number, number>();
  private readonly pending = new Map<
    number,
    { resolve: (batch: CheckedBatch) => void; reject: (error: Error) => void }
  >();
  private next = 0;
  private failure: Error | null = null;
  private closing = false;

  constructor(publicKey: Buffer, size = Math.max(1, availableParallelism())) {
    this.load = new Array<number>(size).fill(0);
    this.workers = Array.from({ length: size }, () => {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { publicKey: Uint8Array.from(publicKey) } });
      worker.on('message', ({ id, ...batch }: { id: number } & CheckedBatch) => {
        this.load[this.owner.get(id)!]! -= 1;
        this.owner.delete(id);
        this.pending.get(id)?.resolve(batch);
        this.pending.delete(id);
      });
      const fail = (error: Error) => {
        this.failure ??= error;
        for (const { reject } of this.pending.values()) reject(error);
        this.pending.clear();
      };
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (!this.closing) fail(new Error(`a verification worker stopped (exit code ${code})`));
      });
      return worker;
    });
  }

  check(messages: string[], signatures: Uint8Array[], proofs?: (InclusionClaim | null)[]): Promise<CheckedBatch> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.next++;
    const index = this.load.indexOf(Math.min(...this.load));
    this.load[index]! += 1;
    this.owner.set(id, index);
    const lengths = new Uint32Array(signatures.length);
    let total = 0;
    signatures.forEach((s, i) => (total += lengths[i] = s?.length ?? 0));
    const packed = new Uint8Array(total);
    for (let i = 0, at = 0; i < signatures.length; at += lengths[i]!, i++)
      if (lengths[i]) packed.set(signatures[i]!, at);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workers[index]!.postMessage({ id, messages, signatures: packed, lengths, proofs }, [
        packed.buffer,
        lengths.buffer,
      ]);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
