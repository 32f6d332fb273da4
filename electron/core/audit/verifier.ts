import type { AuditProblem, AuditVerdict, KeySource } from '../../../shared/audit';
import { availableParallelism } from 'node:os';
import { CustosError } from '../errors';
import { keyId, parseCheckpoint, parseNote, verifierKeyString, verifyNote, type NoteKey } from './checkpoint';
import { describeNode, EMPTY_ROOT, FrontierTree, type EdgeNode } from './merkle';
import { SignaturePool, type CheckedBatch, type InclusionClaim } from './signature-pool';

export interface VerifiableEntry {
  entry: string;
  signature: Buffer;
  keyId: string;
  /** Set by a bundle reader for a line that is not even a well-formed bundle line. */
  malformed?: boolean;
  /** A bundle line's inclusion proof: checked against the signed checkpoint of that tree size. */
  inclusion?: { treeSize: number; proof: Buffer[] };
}

export interface VerifyInput {
  /** In log order, as stored, in chunks; positions are leaf indexes. */
  entries: Iterable<VerifiableEntry[]> | AsyncIterable<VerifiableEntry[]>;
  /** Checkpoints that came with the log (its own table, or the bundle's). */
  checkpoints: readonly string[];
  /** Checkpoints kept elsewhere (earlier reports, printouts): the log must still be consistent with them. */
  trustedCheckpoints?: readonly string[];
  key: NoteKey;
  /** Where the key came from; see AuditVerdict.keySource. */
  keySource?: KeySource;
  total?: number;
  onProgress?: (checked: number, total: number | undefined) => void;
  workers?: number;
  /** A bundle: it must carry a signed checkpoint that covers every one of its entries. */
  closingCheckpointRequired?: boolean;
  /** Whether a stored tree node (the live log's audit_tree) equals the one computed from the entries. */
  storedTreeMatches?: (node: EdgeNode) => boolean;
}

const BATCH = 4096;
const MAX_LISTED = 100;

interface Position {
  /** The entry's own seq; meaningful only when its signature verifies. */
  seqField: number | null;
  keyOk: boolean;
  malformed: boolean;
  signatureOk: boolean;
}

/**
 * Checks a log without trusting whoever stored it: every signature, the Merkle tree recomputed
 * from the entries, every checkpoint's signature and root. Names the first bad entry and why.
 */
export async function verifyAuditLog(input: VerifyInput): Promise<AuditVerdict> {
  const expectedKeyId = keyId(input.key).toString('hex');
  const notes = [
    ...input.checkpoints.map((note) => ({ note, trusted: false })),
    ...(input.trustedCheckpoints ?? []).map((note) => ({ note, trusted: true })),
  ];
  // The roots the checkpoints need are taken as the streamed tree passes their sizes.
  const wantedSizes = new Set(notes.map(({ note }) => claimedSize(note)).filter((n): n is number => n !== null));
  const roots = new Map<number, Buffer>();
  const tree = new FrontierTree();
  const keyOk: boolean[] = [];
  const malformed: boolean[] = [];
  const seqFields: (number | null)[] = [];
  const signatureOk: boolean[] = [];
  const proven: number[] = [];
  /** Positions whose proof claims a tree size no signed checkpoint has. */
  const unrooted: number[] = [];
  const proofRoots = signedRoots(input.checkpoints, input.key);
  const pool = new SignaturePool(input.key.publicKey, input.workers);
  // Batches come back in any order; leaves enter the tree strictly in log order.
  const done = new Map<number, CheckedBatch>();
  let appended = 0;
  let checked = 0;
  let settled = 0;
  let wake: (() => void) | null = null;
  let treeFault: EdgeNode | null = null;
  const matches = input.storedTreeMatches;
  const treeCheck = matches
    ? (node: EdgeNode) => {
        if (!treeFault && !matches(node)) treeFault = node;
      }
    : undefined;
  let failure: Error | null = null;
  const batches: Promise<void>[] = [];
  let messages: string[] = [];
  let signatures: Uint8Array[] = [];
  let claims: (InclusionClaim | null)[] = [];
  let anyClaim = false;
  const flush = () => {
    if (messages.length === 0) return;
    const index = batches.length;
    const count = messages.length;
    batches.push(
      pool
        .check(messages, signatures, anyClaim ? claims : undefined)
        .then((batch) => {
          if (failure) return;
          done.set(index, batch);
          for (let next = done.get(appended); next; next = done.get(appended)) {
            for (let i = 0; i < next.valid.length; i++) {
              tree.append(Buffer.from(next.leaves.subarray(i * 32, i * 32 + 32)), treeCheck);
              if (wantedSizes.has(tree.size)) roots.set(tree.size, tree.root());
              signatureOk.push(next.valid[i] === 1);
              seqFields.push(Number.isNaN(next.seqs[i]!) ? null : next.seqs[i]!);
              proven.push(next.proven[i]!);
            }
            done.delete(appended);
            appended += 1;
          }
          checked += count;
          input.onProgress?.(checked, input.total);
        })
        .catch((error: unknown) => {
          failure ??= error instanceof Error ? error : new Error(String(error));
        })
        .finally(() => {
          settled += 1;
          wake?.();
          wake = null;
        }),
    );
    messages = [];
    signatures = [];
    claims = [];
    anyClaim = false;
  };
  const inFlightLimit = 2 * (input.workers ?? availableParallelism());
  try {
    for await (const chunk of input.entries) {
      if (failure) break;
      for (const item of chunk) {
        keyOk.push(item.keyId === expectedKeyId);
        malformed.push(item.malformed === true);
        if (item.inclusion) {
          const { treeSize, proof } = item.inclusion;
          const root = proofRoots.get(treeSize) ?? null;
          if (!root) unrooted.push(keyOk.length - 1);
          claims.push({ index: keyOk.length - 1, size: treeSize, path: proof, root });
          anyClaim = true;
        } else {
          claims.push(null);
        }
        messages.push(item.entry);
        signatures.push(item.signature);
        if (messages.length >= BATCH) flush();
      }
      // Back-pressure: never queue more than a few batches per worker, so memory stays flat.
      while (!failure && batches.length - settled >= inFlightLimit)
        await new Promise<void>((resolve) => (wake = resolve));
    }
    flush();
    await Promise.all(batches);
  } finally {
    await pool.close();
  }
  // Assigned inside the batch callbacks, which the compiler cannot follow.
  const failed = failure as Error | null;
  if (failed) {
    throw new CustosError(
      'AUDIT_VERIFY_FAILED',
      `Verification could not finish: ${failed.message}. The log was NOT verified.`,
      ['Run it again; if it fails the same way, keep the machine as it is and tell your auditor.'],
      { cause: failed },
    );
  }
  roots.set(0, EMPTY_ROOT);
  const positions: Position[] = keyOk.map((ok, i) => ({
    keyOk: ok,
    malformed: malformed[i]!,
    seqField: seqFields[i]!,
    signatureOk: signatureOk[i]!,
  }));

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
      checkpointProblems.push({
        kind: 'malformed',
        seq: null,
        message: `${where} is not a valid signed note (${(error as Error).message}).`,
      });
      return;
    }
    const verdict = verifyNote(parsed, input.key);
    if (!verdict.ok) {
      checkpointProblems.push({
        kind: verdict.reason === 'unknown-key' ? 'unknown-key' : 'forged-checkpoint',
        seq: null,
        message:
          verdict.reason === 'unknown-key'
            ? `${where} is not signed by this log’s audit key.`
            : `${where} has a signature that does not verify: it was forged or altered.`,
      });
      return;
    }
    const checkpoint = parseCheckpoint(parsed.text);
    if (checkpoint.origin !== input.key.name) {
      checkpointProblems.push({
        kind: 'forged-checkpoint',
        seq: null,
        message: `${where} is for another log (${checkpoint.origin}).`,
      });
      return;
    }
    if (checkpoint.size > size) {
      checkpointProblems.push({
        kind: 'truncated',
        seq: size,
        message: `${where} commits to ${checkpoint.size} entries but the log has only ${size}: entries from ${size} on were removed.`,
      });
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
  if (input.closingCheckpointRequired) {
    const closing = Math.max(-1, ...committedSizes);
    if (closing < 0) {
      checkpointProblems.push({
        kind: 'no-checkpoint',
        seq: null,
        message:
          'The bundle carries no checkpoint signed by this key that matches its entries: nothing vouches for them.',
      });
    } else if (closing < size) {
      checkpointProblems.push({
        kind: 'no-checkpoint',
        seq: closing,
        message: `Entries ${closing} to ${size - 1} are not covered by the bundle’s closing checkpoint (size ${closing}): they were added to it.`,
      });
    }
  }
  // An entry with a bad signature is named already; a good entry whose proof fails had its proof changed.
  const proofProblems: AuditProblem[] = [];
  const noRoot = new Set(unrooted);
  proven.forEach((p, i) => {
    // With no signed checkpoint at all, the missing checkpoint is the finding, not every proof.
    if (p !== 0 || !positions[i]!.signatureOk || (noRoot.has(i) && proofRoots.size === 0)) return;
    proofProblems.push({
      kind: 'bad-proof',
      seq: i,
      message: noRoot.has(i)
        ? `The inclusion proof of entry ${i} is for a tree size that no signed checkpoint in the bundle has.`
        : `The inclusion proof of entry ${i} does not lead to the signed root it claims: the proof was changed.`,
    });
  });

  const entryProblems = classifyEntries(positions, committed);
  // Assigned inside the batch callbacks, which the compiler cannot follow.
  const badNode = treeFault as EdgeNode | null;
  const treeProblems: AuditProblem[] = badNode
    ? [
        {
          kind: 'tree-corrupt',
          seq: badNode.index * 2 ** badNode.level,
          message: `The stored Merkle tree disagrees with the entries at ${describeNode(badNode)}: proofs and roots read from it would be wrong. Run “custos audit repair-tree”.`,
        },
      ]
    : [];
  const problems = [...entryProblems, ...proofProblems.slice(0, MAX_LISTED), ...checkpointProblems, ...treeProblems];
  const keySource = input.keySource ?? 'pinned';
  return {
    ok: problems.length === 0,
    trustedKey: verifierKeyString(input.key),
    keySource,
    anchored: keySource === 'pinned' || keySource === 'token' || (input.trustedCheckpoints ?? []).length > 0,
    entries: size,
    checkpoints: input.checkpoints.length + (input.trustedCheckpoints?.length ?? 0),
    treeSize: size,
    root: tree.root().toString('base64'),
    first: problems[0] ?? null,
    problems: problems.slice(0, MAX_LISTED),
  };
}

/** The roots, by tree size, of the checkpoints whose signature verifies: what inclusion proofs must reach. */
function signedRoots(notes: readonly string[], key: NoteKey): Map<number, Buffer> {
  const roots = new Map<number, Buffer>();
  for (const note of notes) {
    try {
      const parsed = parseNote(note);
      if (!verifyNote(parsed, key).ok) continue;
      const checkpoint = parseCheckpoint(parsed.text);
      if (checkpoint.origin === key.name) roots.set(checkpoint.size, checkpoint.root);
    } catch {
      // Named when the checkpoints themselves are checked.
    }
  }
  return roots;
}

/** The tree size a checkpoint claims, read before its signature is checked (only to know which roots to keep). */
function claimedSize(note: string): number | null {
  try {
    return parseCheckpoint(parseNote(note).text).size;
  } catch {
    return null;
  }
}

/**
 * Names what happened at each position. Only signed content is believed: an entry's seq counts
 * only when its signature verifies, and the unsigned key-ID column only explains a failure.
 */
function classifyEntries(positions: Position[], committed: (seq: number) => boolean): AuditProblem[] {
  const problems: AuditProblem[] = [];
  let offset = 0;
  let unknownKeyReported = false;
  const signedSeq = (p: Position | undefined) => (p && p.signatureOk ? p.seqField : null);
  for (let i = 0; i < positions.length; i++) {
    const here = positions[i]!;
    const expected = i + offset;
    if (here.malformed) {
      problems.push({
        kind: 'malformed',
        seq: i,
        message: `Line ${i} is not a well-formed audit entry: it was edited.`,
      });
      continue;
    }
    if (!here.signatureOk) {
      if (!here.keyOk) {
        if (!unknownKeyReported)
          problems.push({
            kind: 'unknown-key',
            seq: i,
            message: `Entry ${i} is signed by a key that is not this log’s audit key.`,
          });
        unknownKeyReported = true;
      } else if (signedSeq(positions[i + 1]) === expected) {
        problems.push({
          kind: 'inserted',
          seq: i,
          message: `The entry at position ${i} was inserted: it is not part of the signed log.`,
        });
        offset -= 1;
      } else {
        problems.push(
          committed(i)
            ? {
                kind: 'bad-signature',
                seq: i,
                message: `Entry ${i} is as committed in a signed checkpoint, but its signature was replaced.`,
              }
            : { kind: 'edited', seq: i, message: `Entry ${i} does not match its signature: it was edited.` },
        );
      }
      continue;
    }
    const seq = here.seqField;
    if (seq === null) {
      problems.push({ kind: 'malformed', seq: i, message: `Entry ${i} is signed but has no sequence number.` });
      continue;
    }
    if (seq === expected) continue;
    if (seq === expected + 1 && signedSeq(positions[i + 1]) === expected) {
      problems.push({ kind: 'reordered', seq: i, message: `Entries ${expected} and ${expected + 1} were swapped.` });
      i += 1;
    } else if (seq > expected) {
      const missing = seq - expected;
      problems.push({
        kind: 'deleted',
        seq: i,
        message: missing === 1 ? `Entry ${expected} was deleted.` : `Entries ${expected} to ${seq - 1} were deleted.`,
      });
      offset += missing;
    } else {
      problems.push({
        kind: 'inserted',
        seq: i,
        message: `The entry at position ${i} is a copy of entry ${seq}, inserted again.`,
      });
      offset -= 1;
    }
  }
  return problems;
}
