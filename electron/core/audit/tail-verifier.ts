import { Worker } from 'node:worker_threads';

/**
 * Checks, on a worker thread and while appends go on, the signatures the audit token returns, so
 * that a checkpoint does not have to verify a thousand entries itself before it signs (that was
 * about an eighth of a one-at-a-time append). Verdicts are taken synchronously when the checkpoint
 * asks (`collect`); one that has not arrived is simply not there, and the checkpoint verifies that
 * entry itself. A verdict vouches only for the exact bytes and signature sent: the checkpoint uses
 * it only for a stored row that is byte for byte what was sent.
 *
 * The two threads share a ring of slots in shared memory rather than messages: posting a message
 * to a worker takes a lock the worker may hold, which on a loaded machine cost an append more than
 * the verification it saved.
 */
const SLOTS = 256;
const SLOT_BYTES = 2048;
const SIGNATURE_BYTES = 64;
/** The longest entry a slot holds (length word, signature, entry); a longer one is left to the checkpoint. */
const MAX_MESSAGE = SLOT_BYTES - 4 - SIGNATURE_BYTES;
/** Control words: submitted, checked, worker asleep, stop. */
const [SUBMITTED, CHECKED, ASLEEP, STOP] = [0, 1, 2, 3];

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const { shared, publicKey, slots, slotBytes } = workerData;
const key = createPublicKey({
  key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(publicKey)]),
  format: 'der',
  type: 'spki',
});
const control = new Int32Array(shared, 0, 4);
const verdicts = new Uint8Array(shared, 16, slots);
const ring = Buffer.from(shared, 16 + slots, slots * slotBytes);
for (let checked = 0; Atomics.load(control, ${STOP}) === 0; ) {
  if (checked === Atomics.load(control, ${SUBMITTED})) {
    Atomics.store(control, ${ASLEEP}, 1);
    Atomics.wait(control, ${SUBMITTED}, checked);
    Atomics.store(control, ${ASLEEP}, 0);
    continue;
  }
  const at = (checked % slots) * slotBytes;
  const length = ring.readUInt32LE(at);
  const signature = ring.subarray(at + 4, at + 4 + ${SIGNATURE_BYTES});
  const message = ring.subarray(at + 4 + ${SIGNATURE_BYTES}, at + 4 + ${SIGNATURE_BYTES} + length);
  let valid = false;
  try {
    valid = verify(null, message, key, signature);
  } catch {}
  verdicts[checked % slots] = valid ? 1 : 2;
  Atomics.store(control, ${CHECKED}, ++checked);
}
`;

/** What the worker said of one signature: true it verifies, false it does not, null not known (yet). */
export interface Verdict {
  valid: boolean | null;
}

/**
 * The worker is woken once this many signatures wait (or when a checkpoint collects): each wake-up
 * can cost the appending thread its turn on a busy machine, so it verifies in batches.
 */
const WAKE_EVERY = SLOTS / 2;

export class TailVerifier {
  private readonly worker: Worker;
  private readonly control: Int32Array;
  private readonly verdicts: Uint8Array;
  private readonly ring: Buffer;
  /** Verdicts handed out and not yet filled in, by slot. */
  private readonly waiting: (Verdict | null)[] = new Array<Verdict | null>(SLOTS).fill(null);
  private submitted = 0;
  private collected = 0;
  private broken = false;

  constructor(publicKey: Buffer) {
    const shared = new SharedArrayBuffer(16 + SLOTS + SLOTS * SLOT_BYTES);
    this.control = new Int32Array(shared, 0, 4);
    this.verdicts = new Uint8Array(shared, 16, SLOTS);
    this.ring = Buffer.from(shared, 16 + SLOTS, SLOTS * SLOT_BYTES);
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { shared, publicKey: Uint8Array.from(publicKey), slots: SLOTS, slotBytes: SLOT_BYTES },
    });
    // It does not keep the process alive; a worker that fails leaves every later entry to the checkpoint.
    this.worker.unref();
    this.worker.on('error', () => (this.broken = true));
    this.worker.on('exit', () => (this.broken = true));
  }

  /** Queues one signature for checking; the verdict fills in when `collect` finds it checked. */
  submit(message: Buffer, signature: Buffer): Verdict {
    const verdict: Verdict = { valid: null };
    this.take();
    // A full ring (the worker behind) or an entry too long for a slot: the checkpoint verifies it.
    if (this.broken || signature.length !== SIGNATURE_BYTES || message.length > MAX_MESSAGE) return verdict;
    if (this.submitted - this.collected >= SLOTS) return verdict;
    const slot = this.submitted % SLOTS;
    const at = slot * SLOT_BYTES;
    this.ring.writeUInt32LE(message.length, at);
    signature.copy(this.ring, at + 4);
    message.copy(this.ring, at + 4 + SIGNATURE_BYTES);
    this.waiting[slot] = verdict;
    Atomics.store(this.control, SUBMITTED, ++this.submitted);
    if (this.submitted - Atomics.load(this.control, CHECKED) >= WAKE_EVERY) this.wake();
    return verdict;
  }

  /** Takes every verdict the worker has reached, without waiting for the rest (and wakes it for them). */
  collect(): void {
    this.take();
    this.wake();
  }

  /** Verdicts submitted for and not yet taken by `collect`. */
  get pending(): number {
    return this.submitted - this.collected;
  }

  close(): void {
    this.broken = true;
    Atomics.store(this.control, STOP, 1);
    Atomics.notify(this.control, SUBMITTED);
    void this.worker.terminate();
  }

  private take(): void {
    for (const checked = Atomics.load(this.control, CHECKED); this.collected < checked; this.collected++) {
      const slot = this.collected % SLOTS;
      const verdict = this.waiting[slot];
      this.waiting[slot] = null;
      if (verdict) verdict.valid = this.verdicts[slot] === 1;
    }
  }

  private wake(): void {
    if (Atomics.load(this.control, ASLEEP) === 1) Atomics.notify(this.control, SUBMITTED);
  }
}
