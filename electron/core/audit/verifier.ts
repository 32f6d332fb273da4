import type { AuditProblem, AuditVerdict } from '../../../shared/audit';
import { availableParallelism } from 'node:os';
import { keyId, parseCheckpoint, parseNote, verifyNote, type NoteKey } from './checkpoint';
import { EMPTY_ROOT, FrontierTree } from './merkle';
import { SignaturePool, type CheckedBatch } from './signature-pool';

export interface VerifiableEntry {
  entry: string;
  signature: Buffer;
  keyId: string;
}

export interface VerifyInput {
  /** In log order, as stored, in chunks; positions are leaf indexes. */
  entries: Iterable<VerifiableEntry[]> | AsyncIterable<VerifiableEntry[]>;
  /** Checkpoints that came with the log (its own table, or the bundle's). */
  checkpoints: readonly string[];
  /** Checkpoints kept elsewhere (earlier reports, printouts): the log must still be consistent with them. */
  trustedCheckpoints?: readonly string[];
  key: NoteKey;
  total?: number;
  onProgress?: (checked: number, total: number | undefined) => void;
  workers?: number;
}

const BATCH = 4096;
const MAX_LISTED = 100;

interface Position {
  seqField: number | null;
  keyOk: boolean;
  signatureOk: boolean;
}

/**
 * Checks a log without trusting whoever stored it: every signature, the Merkle tree recomputed
 * from the entries, every checkpoint's signature and root. Names the first bad entry and why.
 */
export async function verifyAuditLog(input: VerifyInput): Promise<AuditVerdict> {
  const expectedKeyId = keyId(input.key).toString('hex');
  const notes = [...input.checkpoints.map((note) => ({ note, trusted: false })), ...(input.trustedCheckpoints ?? []).map((note) => ({ note, trusted: true }))];
  // The roots the checkpoints need are taken as the streamed tree passes their sizes.
  const wantedSizes = new Set(notes.map(({ note }) => claimedSize(note)).filter((n): n is number => n !== null));
  const roots = new Map<number, Buffer>();
  const tree = new FrontierTree();
  const keyOk: boolean[] = [];
  const seqFields: (number | null)[] = [];
  const signatureOk: boolean[] = [];
  const pool = new SignaturePool(input.key.publicKey, input.workers);
  // Batches come back in any order; leaves enter the tree strictly in log order.
  const done = new Map<number, CheckedBatch>();
  let appended = 0;
  let checked = 0;
  let settled = 0;
  let wake: (() => void) | null = null;
  const batches: Promise<void>[] = [];
  let messages: string[] = [];
  let signatures: Uint8Array[] = [];
  const flush = () => {
    if (messages.length === 0) return;
    const index = batches.length;
    const count = messages.length;
    batches.push(
      pool.check(messages, signatures).then((batch) => {
        done.set(index, batch);
        for (let next = done.get(appended); next; next = done.get(appended)) {
          for (let i = 0; i < next.valid.length; i++) {
            tree.append(Buffer.from(next.leaves.subarray(i * 32, i * 32 + 32)));
            if (wantedSizes.has(tree.size)) roots.set(tree.size, tree.root());
            signatureOk.push(next.valid[i] === 1);
            seqFields.push(Number.isNaN(next.seqs[i]!) ? null : next.seqs[i]!);
          }
          done.delete(appended);
          appended += 1;
        }
        checked += count;
        settled += 1;
        wake?.();
        wake = null;
        input.onProgress?.(checked, input.total);
      }),
    );
    messages = [];
    signatures = [];
  };
  const inFlightLimit = 2 * (input.workers ?? availableParallelism());
  try {
    for await (const chunk of input.entries) {
      for (const item of chunk) {
        keyOk.push(item.keyId === expectedKeyId);
        messages.push(item.entry);
        signatures.push(item.signature);
        if (messages.length >= BATCH) flush();
      }
      // Back-pressure: never queue more than a few batches per worker, so memory stays flat.
      while (batches.length - settled >= inFlightLimit) await new Promise<void>((resolve) => (wake = resolve));
    }
    flush();
    await Promise.all(batches);
  } finally {
    await pool.close();
  }
  roots.set(0, EMPTY_ROOT);
  const positions: Position[] = keyOk.map((ok, i) => ({ keyOk: ok, seqField: seqFields[i]!, signatureOk: signatureOk[i]! }));

  const size = tree.size;
  const checkpointProblems: AuditProblem[] = [];
  /** Sizes of signed checkpoints whose root matches the entries as they are now. */
  const committedSizes: number[] = [];
  const checkNote = (note: string, trusted: boolean) => {
    const where = trusted ? 'a checkpoint kept outside the log' : 'a checkpoint in the log';
    let parsed;
    try {
      parsed = parseNote(note);
    } catch (error) {
      checkpointProblems.push({ kind: 'malformed', seq: null, message: `${where} is not a valid signed note (${(error as Error).message}).` });
      return;
    }
    const verdict = verifyNote(parsed, input.key);
    if (!verdict.ok) {
      checkpointProblems.push({
        kind: verdict.reason === 'unknown-key' ? 'unknown-key' : 'forged-checkpoint',
        seq: null,
        message: verdict.reason === 'unknown-key' ? `${where} is not signed by this log’s audit key.` : `${where} has a signature that does not verify: it was forged or altered.`,
      });
      return;
    }
    const checkpoint = parseCheckpoint(parsed.text);
    if (checkpoint.origin !== input.key.name) {
      checkpointProblems.push({ kind: 'forged-checkpoint', seq: null, message: `${where} is for another log (${checkpoint.origin}).` });
      return;
    }
    if (checkpoint.size > size) {
      checkpointProblems.push({ kind: 'truncated', seq: size, message: `${where} commits to ${checkpoint.size} entries but the log has only ${size}: entries from ${size} on were removed.` });
      return;
    }
    if (!roots.get(checkpoint.size)!.equals(checkpoint.root)) {
      checkpointProblems.push({
        kind: 'inconsistent-checkpoint',
        seq: null,
        message: `The first ${checkpoint.size} entries no longer match ${where}${trusted ? ': the log was rewritten after that checkpoint was exported' : ''}.`,
      });
      return;
    }
    committedSizes.push(checkpoint.size);
  };
  notes.forEach(({ note, trusted }) => checkNote(note, trusted));
  const committed = (seq: number) => committedSizes.some((s) => s > seq);

  const entryProblems = classifyEntries(positions, committed);
  const problems = [...entryProblems, ...checkpointProblems];
  return {
    ok: problems.length === 0,
    entries: size,
    checkpoints: input.checkpoints.length + (input.trustedCheckpoints?.length ?? 0),
    treeSize: size,
    root: tree.root().toString('base64'),
    first: problems[0] ?? null,
    problems: problems.slice(0, MAX_LISTED),
  };
}

/** The tree size a checkpoint claims, read before its signature is checked (only to know which roots to keep). */
function claimedSize(note: string): number | null {
  try {
    return parseCheckpoint(parseNote(note).text).size;
  } catch {
    return null;
  }
}

function classifyEntries(positions: Position[], committed: (seq: number) => boolean): AuditProblem[] {
  const problems: AuditProblem[] = [];
  let offset = 0;
  let unknownKeyReported = false;
  for (let i = 0; i < positions.length; i++) {
    const here = positions[i]!;
    const next = positions[i + 1];
    const expected = i + offset;
    if (here.seqField === null) {
      problems.push({ kind: 'malformed', seq: i, message: `Entry ${i} is not a well-formed audit entry: it was edited.` });
      continue;
    }
    if (!here.keyOk) {
      if (!unknownKeyReported) problems.push({ kind: 'unknown-key', seq: i, message: `Entry ${i} is signed by a key that is not this log’s audit key.` });
      unknownKeyReported = true;
      continue;
    }
    if (here.seqField === expected + 1 && next?.seqField === expected) {
      problems.push({ kind: 'reordered', seq: i, message: `Entries ${expected} and ${expected + 1} were swapped.` });
      i += 1;
      continue;
    }
    if (here.seqField > expected) {
      const missing = here.seqField - expected;
      problems.push({ kind: 'deleted', seq: i, message: missing === 1 ? `Entry ${expected} was deleted.` : `Entries ${expected} to ${here.seqField - 1} were deleted.` });
      offset += missing;
    } else if (here.seqField < expected || (!here.signatureOk && next?.seqField === here.seqField)) {
      problems.push({ kind: 'inserted', seq: i, message: `The entry at position ${i} was inserted: it is not part of the signed log.` });
      offset -= 1;
      continue;
    }
    if (!here.signatureOk) {
      problems.push(
        committed(i)
          ? { kind: 'bad-signature', seq: i, message: `Entry ${i} is as committed in a signed checkpoint, but its signature was replaced.` }
          : { kind: 'edited', seq: i, message: `Entry ${i} does not match its signature: it was edited.` },
      );
    }
  }
  return problems;
}
