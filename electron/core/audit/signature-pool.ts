import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** Ed25519 verification spread over worker threads: a million-entry log must verify in under a minute. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const key = createPublicKey({
  key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(workerData.publicKey)]),
  format: 'der',
  type: 'spki',
});
parentPort.on('message', ({ id, messages, signatures }) => {
  const valid = new Uint8Array(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const signature = signatures[i];
    valid[i] = signature.length === 64 && verify(null, Buffer.from(messages[i], 'utf8'), key, signature) ? 1 : 0;
  }
  parentPort.postMessage({ id, valid }, [valid.buffer]);
});
`;

export class SignaturePool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, (valid: Uint8Array) => void>();
  private next = 0;
  private failure: Error | null = null;

  constructor(publicKey: Buffer, size = Math.max(1, availableParallelism())) {
    this.workers = Array.from({ length: size }, () => {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { publicKey: Uint8Array.from(publicKey) } });
      worker.on('message', ({ id, valid }: { id: number; valid: Uint8Array }) => {
        this.pending.get(id)?.(valid);
        this.pending.delete(id);
      });
      worker.on('error', (error) => {
        this.failure = error;
      });
      return worker;
    });
  }

  /** Resolves to one flag per message: 1 when its signature verifies. */
  verify(messages: string[], signatures: Uint8Array[]): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.next++;
    const worker = this.workers[id % this.workers.length]!;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      worker.postMessage({ id, messages, signatures });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
