import {
  closeSync,
  createReadStream,
  existsSync,
  fsyncSync,
  mkdirSync,
  readSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { openRegularFile, readBoundedFile } from '../bounded-file';
import { CustosError, shown } from '../errors';
import { openFresh, writeFileAtomic } from '../secret-vault';
import type { AuditLog, StoredCheckpoint } from './audit-log';
import { publicKeyFromPem } from './audit-key';
import { ed25519PublicKeyObject, keyId, verifierKeyString, type NoteKey } from './checkpoint';
import type { VerifiableEntry } from './verifier';

/**
 * An audit bundle: everything an auditor needs to verify the log on their own machine, without
 * Custos's database. A folder of plain files:
 *   entries.jsonl      one entry per line: exact signed bytes, signature, key ID, inclusion proof
 *   checkpoints.json   every signed checkpoint (C2SP signed notes), oldest first
 *   audit-key.pem      the audit public key (Ed25519, SubjectPublicKeyInfo)
 *   audit-key.vkey     the same key as a signed-note verifier key, with its name
 *   README.txt         how to check it with openssl alone
 */
export const BundleLine = z.strictObject({
  seq: z.number().int().nonnegative(),
  entry: z.string(),
  signature: z.string(),
  keyId: z.string(),
  inclusion: z.strictObject({ treeSize: z.number().int(), proof: z.array(z.string()) }),
});
const BundleCheckpoints = z.array(
  z.strictObject({ treeSize: z.number().int(), reason: z.string(), createdAt: z.string(), note: z.string() }),
);

export interface BundleSummary {
  dir: string;
  entries: number;
  checkpoint: StoredCheckpoint;
}

export function writeBundle(log: AuditLog, key: NoteKey, dir: string, closing: StoredCheckpoint): BundleSummary {
  mkdirSync(dir, { recursive: true });
  const size = closing.treeSize;
  // Streamed line by line: a million entries with proofs would not fit in one string.
  const path = join(dir, 'entries.jsonl');
  const temp = `${path}.${process.pid}.tmp`;
  const fd = openFresh(temp, 0o644);
  let count = 0;
  try {
    for (const stored of log.entries()) {
      if (stored.seq >= size) break;
      const line: z.infer<typeof BundleLine> = {
        seq: stored.seq,
        entry: stored.entry,
        signature: stored.signature.toString('base64'),
        keyId: stored.keyId,
        inclusion: { treeSize: size, proof: log.inclusionProof(stored.seq, size).map((h) => h.toString('base64')) },
      };
      writeSync(fd, `${JSON.stringify(line)}\n`);
      count++;
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  const checkpoints = log
    .checkpoints()
    .filter((c) => c.treeSize <= size)
    .map(({ treeSize, reason, createdAt, note }) => ({ treeSize, reason, createdAt, note }));
  writeFileAtomic(join(dir, 'checkpoints.json'), `${JSON.stringify(checkpoints, null, 2)}\n`, 0o644);
  writeFileAtomic(
    join(dir, 'audit-key.pem'),
    ed25519PublicKeyObject(key.publicKey).export({ format: 'pem', type: 'spki' }).toString(),
    0o644,
  );
  writeFileAtomic(join(dir, 'audit-key.vkey'), `${verifierKeyString(key)}\n`, 0o644);
  writeFileAtomic(join(dir, 'README.txt'), readme(key, size), 0o644);
  return { dir, entries: count, checkpoint: closing };
}

export interface LoadedBundle {
  key: NoteKey;
  /** A bundle is only as good as the signed checkpoint that closes it. */
  closingCheckpointRequired: true;
  checkpoints: string[];
  total: number;
  entries: AsyncIterable<VerifiableEntry[]>;
}

/** Reads a bundle folder; entries are streamed, so a million-line bundle is not held in memory twice. */
export function readBundle(dir: string): LoadedBundle {
  for (const file of ['entries.jsonl', 'checkpoints.json', 'audit-key.vkey']) {
    if (!existsSync(join(dir, file)))
      throw new CustosError('AUDIT_BUNDLE_INVALID', `${shown(dir)} is not an audit bundle: ${file} is missing.`);
  }
  const key = parseVerifierKey(readBundleFile(dir, 'audit-key.vkey', 4096).toString('utf8').trim());
  if (
    existsSync(join(dir, 'audit-key.pem')) &&
    !bundlePem(readBundleFile(dir, 'audit-key.pem', 4096)).equals(key.publicKey)
  ) {
    throw new CustosError('AUDIT_BUNDLE_INVALID', 'The bundle’s audit-key.pem and audit-key.vkey are different keys.');
  }
  let checkpoints: string[];
  const checkpointsFile = readBundleFile(dir, 'checkpoints.json', MAX_CHECKPOINTS_BYTES);
  try {
    checkpoints = BundleCheckpoints.parse(JSON.parse(checkpointsFile.toString('utf8'))).map((c) => c.note);
  } catch (error) {
    throw new CustosError('AUDIT_BUNDLE_INVALID', 'The bundle’s checkpoints.json is not readable.', [], {
      cause: error,
    });
  }
  // Opened once and read through that descriptor: what was checked to be a file is what is streamed.
  const fd = openRegularFile(join(dir, 'entries.jsonl'), BUNDLE_FILE);
  const total = countLines(fd);
  async function* entries(): AsyncIterable<VerifiableEntry[]> {
    let chunk: VerifiableEntry[] = [];
    for await (const line of bundleLines(createReadStream('', { fd, start: 0 }))) {
      if (line === '') continue;
      let parsed: z.infer<typeof BundleLine> | null = null;
      try {
        if (line === null) throw new Error('longer than any bundle line can be');
        parsed = BundleLine.parse(JSON.parse(line));
      } catch {
        parsed = null;
      }
      // A line that does not parse still takes its place in the log, so the verifier names it.
      chunk.push(
        parsed
          ? {
              entry: parsed.entry,
              signature: Buffer.from(parsed.signature, 'base64'),
              keyId: parsed.keyId,
              inclusion: {
                treeSize: parsed.inclusion.treeSize,
                proof: parsed.inclusion.proof.map((h) => Buffer.from(h, 'base64')),
              },
            }
          : { entry: '', signature: Buffer.alloc(0), keyId: '', malformed: true },
      );
      if (chunk.length >= 4096) {
        yield chunk;
        chunk = [];
      }
    }
    if (chunk.length > 0) yield chunk;
  }
  return { key, closingCheckpointRequired: true, checkpoints, total, entries: entries() };
}

export function parseVerifierKey(text: string): NoteKey {
  // name+hex(keyID)+base64(key): the base64 part may itself contain '+'.
  const match = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(text);
  const [, name, id, encoded] = match ?? [];
  const bytes = Buffer.from(encoded ?? '', 'base64');
  if (!name || !id || bytes.length !== 33 || bytes[0] !== 0x01)
    throw new CustosError('AUDIT_BUNDLE_INVALID', 'The verifier key is not an Ed25519 signed-note key.');
  const key = { name, publicKey: Buffer.from(bytes.subarray(1)) };
  if (keyId(key).toString('hex') !== id)
    throw new CustosError('AUDIT_BUNDLE_INVALID', 'The verifier key’s ID does not match its key.');
  return key;
}

/** An entry (hashes and short ids) with its inclusion proof (at most 64 hashes) is a few kilobytes. */
const MAX_LINE_BYTES = 1 << 20;

/**
 * The file's lines (a CR before the newline dropped), each null when longer than any bundle line can be: its bytes
 * are skipped up to the next newline, never gathered, so a file of one endless line cannot exhaust memory.
 */
export async function* bundleLines(input: AsyncIterable<Buffer>): AsyncIterable<string | null> {
  let parts: Buffer[] = [];
  let length = 0;
  let overlong = false;
  const take = (last: Buffer): string | null => {
    const line = overlong
      ? null
      : Buffer.concat([...parts, last])
          .toString('utf8')
          .replace(/\r$/, '');
    parts = [];
    length = 0;
    overlong = false;
    return line;
  };
  const keep = (piece: Buffer) => {
    length += piece.length;
    if (length > MAX_LINE_BYTES) {
      overlong = true;
      parts = [];
    } else if (!overlong && piece.length > 0) parts.push(Buffer.from(piece));
  };
  for await (const chunk of input) {
    let start = 0;
    for (let newline = chunk.indexOf(0x0a); newline >= 0; newline = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, newline);
      keep(piece);
      yield take(Buffer.alloc(0));
      start = newline + 1;
    }
    keep(chunk.subarray(start));
  }
  if (length > 0 || overlong) yield take(Buffer.alloc(0));
}

/** Counts lines in slices: the file may be larger than any one buffer. */
function countLines(fd: number): number {
  const slice = Buffer.alloc(1 << 20);
  let count = 0;
  for (let position = 0, read = 1; read > 0; position += read) {
    read = readSync(fd, slice, 0, slice.length, position);
    for (let i = 0; i < read; i++) if (slice[i] === 0x0a) count++;
  }
  return count;
}

const BUNDLE_FILE = { code: 'AUDIT_BUNDLE_INVALID', what: 'the bundle’s own file' } as const;
/** A checkpoint every 1,000 entries, after every ceremony and export, each a few hundred bytes: far under this. */
const MAX_CHECKPOINTS_BYTES = 64 * 1024 * 1024;

/** One of the bundle's small files: refused unread when it is a folder, a device, a pipe or larger than it can be. */
function readBundleFile(dir: string, file: string, bytes: number): Buffer {
  return readBoundedFile(join(dir, file), { ...BUNDLE_FILE, bytes });
}

function bundlePem(pem: Buffer): Buffer {
  try {
    return publicKeyFromPem(pem.toString('utf8'));
  } catch (error) {
    if (error instanceof CustosError) throw error;
    throw new CustosError('AUDIT_BUNDLE_INVALID', 'The bundle’s audit-key.pem is not a public key.', [], {
      cause: error,
    });
  }
}

function readme(key: NoteKey, size: number): string {
  return `Custos audit bundle — ${size} entries, log ${key.name}

Verify everything (signatures, Merkle tree, checkpoints) with Custos, no database needed:
  custos audit verify --bundle .  [--checkpoint earlier-checkpoint.txt]

Or check any single entry with openssl alone. Each line of entries.jsonl holds "entry" (the exact
signed bytes, RFC 8785 canonical JSON) and "signature" (base64 Ed25519):
  jq -rj '.entry' <<< "$LINE" > entry.json
  jq -r '.signature' <<< "$LINE" | base64 -d > entry.sig
  openssl pkeyutl -verify -pubin -inkey audit-key.pem -rawin -in entry.json -sigfile entry.sig

A checkpoint (checkpoints.json, "note") is a C2SP signed note: the text before the blank line is
what is signed; the signature line is "— <name> <base64(4-byte key ID ‖ 64-byte signature)>".
  printf '%s' "<text before the blank line, with its final newline>" > checkpoint.txt
  echo '<base64 after the name>' | base64 -d | tail -c 64 > checkpoint.sig
  openssl pkeyutl -verify -pubin -inkey audit-key.pem -rawin -in checkpoint.txt -sigfile checkpoint.sig

Why checkpoints matter: the audit key signs unattended, so whoever controls this machine could
sign a rewritten history. A checkpoint that has left the machine (printed, in a report, kept by
an auditor) cannot be made consistent with a rewrite: keep them, and verify against them.
`;
}
