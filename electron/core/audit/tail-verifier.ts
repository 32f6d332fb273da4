import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';

/**
 * Checks, on a worker thread and while appends go on, the signatures the audit token returns, so
 * that a checkpoint does not have to verify a thousand entries itself before it signs (that was
 * about an eighth of a one-at-a-time append). Verdicts are taken synchronously when the checkpoint
 * asks (`collect`); one that has not arrived is simply not there, and the checkpoint verifies that
 * entry itself. A verdict vouches only for the exact bytes and signature sent: the checkpoint uses
 * it only for a stored row that is byte for byte what was sent.
 */
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const key = createPublicKey({
  key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(workerData.publicKey)]),
  format: 'der',
  type: 'spki',
});
const out = workerData.port;
parentPort.on('message', ({ ids, packed, lengths }) => {
  const valid = new Uint8Array(ids.length);
  for (let i = 0, at = 0; i < ids.length; i++) {
    const message = Buffer.from(packed.buffer, packed.byteOffset + at, lengths[i]);
    const signature = Buffer.from(packed.buffer, packed.byteOffset + at + lengths[i], 64);
    at += lengths[i] + 64;
    try {
      valid[i] = verify(null, message, key, signature) ? 1 : 0;
    } catch {
      valid[i] = 0;
    }
  }
  out.postMessage({ ids, valid }, [valid.buffer]);
});
`;

/** What the worker said of one signature: true it verifies, false it does not, null not known (yet). */
export interface Verdict {
  valid: boolean | null;
}

/** Signatures sent to the worker together: one message per batch keeps the hand-over cheap. */
const BATCH = 16;

export class TailVerifier {
  private readonly worker: Worker;
  private readonly results: MessagePort;
  private readonly waiting = new Map<number, Verdict>();
  private outbox: { id: number; message: Buffer; signature: Buffer }[] = [];
  private next = 0;
  private broken = false;

  constructor(publicKey: Buffer) {
    const { port1, port2 } = new MessageChannel();
    this.results = port1;
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { publicKey: Uint8Array.from(publicKey), port: port2 },
      transferList: [port2],
    });
    // Neither keeps the process alive; a worker that fails leaves every later entry to the checkpoint.
    this.worker.unref();
    this.results.unref();
    this.worker.on('error', () => (this.broken = true));
    this.worker.on('exit', () => (this.broken = true));
  }

  /** Queues one signature for checking; the verdict fills in when `collect` finds it arrived. */
  submit(message: Buffer, signature: Buffer): Verdict {
    const verdict: Verdict = { valid: null };
    if (this.broken || signature.length !== 64) return verdict;
    const id = this.next++;
    this.waiting.set(id, verdict);
    this.outbox.push({ id, message, signature });
    if (this.outbox.length >= BATCH) this.send();
    return verdict;
  }

  /** Sends what is queued and takes every verdict that has arrived, without waiting for the rest. */
  collect(): void {
    this.send();
    for (let received = receiveMessageOnPort(this.results); received; received = receiveMessageOnPort(this.results)) {
      const { ids, valid } = received.message as { ids: Float64Array; valid: Uint8Array };
      ids.forEach((id, i) => {
        const verdict = this.waiting.get(id);
        this.waiting.delete(id);
        if (verdict) verdict.valid = valid[i] === 1;
      });
    }
  }

  /** Verdicts sent for and not yet taken by `collect`. */
  get pending(): number {
    return this.waiting.size;
  }

  close(): void {
    this.broken = true;
    this.waiting.clear();
    this.outbox = [];
    this.results.close();
    void this.worker.terminate();
  }

  private send(): void {
    const batch = this.outbox;
    this.outbox = [];
    if (batch.length === 0 || this.broken) return;
    const ids = Float64Array.from(batch, ({ id }) => id);
    const lengths = Uint32Array.from(batch, ({ message }) => message.length);
    // A fresh buffer, transferred: a pooled Buffer would send its whole pool.
    const packed = new Uint8Array(batch.reduce((total, { message }) => total + message.length + 64, 0));
    batch.reduce((at, { message, signature }) => {
      packed.set(message, at);
      packed.set(signature, at + message.length);
      return at + message.length + 64;
    }, 0);
    this.worker.postMessage({ ids, packed, lengths }, [ids.buffer, packed.buffer, lengths.buffer]);
  }
}
