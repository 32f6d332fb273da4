import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';

/**
 * C2SP tlog-checkpoint bodies in C2SP signed-note envelopes, Ed25519 only (signature type 0x01).
 * The note text is what is signed; each signature line is
 * "— <key name> <base64(4-byte key ID ‖ 64-byte signature)>".
 */
export const EM_DASH = '\u2014';
const ED25519_TYPE = 0x01;
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
  extensions: string[];
}

export interface NoteSignature {
  name: string;
  keyId: Buffer;
  signature: Buffer;
}

export interface Note {
  text: string;
  signatures: NoteSignature[];
}

export interface NoteKey {
  name: string;
  /** The raw 32-byte Ed25519 public key. */
  publicKey: Buffer;
}

export class NoteFormatError extends Error {
  override readonly name = 'NoteFormatError';
}

function checkKeyName(name: string): void {
  if (name.length === 0 || /[\s+]/u.test(name)) throw new NoteFormatError(`invalid key name “${name}”`);
}

/** key ID = SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)[:4], per signed-note. */
export function keyId(key: NoteKey): Buffer {
  checkKeyName(key.name);
  return createHash('sha256')
    .update(key.name)
    .update('\n')
    .update(Buffer.from([ED25519_TYPE]))
    .update(key.publicKey)
    .digest()
    .subarray(0, 4);
}

/** The verifier key string Go's sumdb/note and other tools accept: name+hex(keyID)+base64(0x01‖key). */
export function verifierKeyString(key: NoteKey): string {
  return `${key.name}+${keyId(key).toString('hex')}+${Buffer.concat([Buffer.from([ED25519_TYPE]), key.publicKey]).toString('base64')}`;
}

export function ed25519PublicKeyObject(publicKey: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
}

export function formatCheckpoint(checkpoint: Checkpoint): string {
  if (checkpoint.origin.length === 0 || /\s/u.test(checkpoint.origin))
    throw new NoteFormatError('the origin must be one non-empty word');
  if (!Number.isSafeInteger(checkpoint.size) || checkpoint.size < 0)
    throw new NoteFormatError('the tree size must be a non-negative integer');
  if (checkpoint.root.length !== 32) throw new NoteFormatError('the root hash must be 32 bytes');
  for (const line of checkpoint.extensions)
    if (line.length === 0 || line.includes('\n'))
      throw new NoteFormatError('extension lines must be non-empty single lines');
  return [checkpoint.origin, String(checkpoint.size), checkpoint.root.toString('base64'), ...checkpoint.extensions]
    .map((l) => `${l}\n`)
    .join('');
}

export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) throw new NoteFormatError('a checkpoint ends with a newline');
  const lines = text.slice(0, -1).split('\n');
  const [origin, size, root, ...extensions] = lines;
  if (!origin || size === undefined || root === undefined)
    throw new NoteFormatError('a checkpoint has an origin, a size and a root hash');
  if (!/^(0|[1-9][0-9]*)$/.test(size) || !Number.isSafeInteger(Number(size)))
    throw new NoteFormatError(`invalid tree size “${size}”`);
  const rootBytes = Buffer.from(root, 'base64');
  if (rootBytes.length !== 32 || rootBytes.toString('base64') !== root) throw new NoteFormatError('invalid root hash');
  if (extensions.some((l) => l.length === 0)) throw new NoteFormatError('a checkpoint has no blank lines');
  return { origin, size: Number(size), root: rootBytes, extensions };
}

/** Appends one signature line; `sign` is the audit key in the token. */
export function signNote(text: string, key: NoteKey, sign: (message: Buffer) => Buffer): string {
  if (!text.endsWith('\n') || text.includes('\n\n'))
    throw new NoteFormatError('note text must end with a newline and contain no blank line');
  const signature = sign(Buffer.from(text, 'utf8'));
  if (signature.length !== 64) throw new NoteFormatError('an Ed25519 signature is 64 bytes');
  return `${text}\n${EM_DASH} ${key.name} ${Buffer.concat([keyId(key), signature]).toString('base64')}\n`;
}

const MAX_SIGNATURES = 100;

export function parseNote(note: string): Note {
  // The text ends at the LAST blank line (signed-note); it may hold no other control characters.
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  if (/[\u0000-\u0009\u000b-\u001f\u007f]/u.test(note))
    throw new NoteFormatError('a signed note holds no control characters but newlines');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new NoteFormatError('a signed note has a blank line before its signatures');
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2).split('\n');
  if (lines.pop() !== '') throw new NoteFormatError('a signed note ends with a newline');
  if (lines.length === 0) throw new NoteFormatError('a signed note has at least one signature');
  if (lines.length > MAX_SIGNATURES) throw new NoteFormatError('a signed note has too many signatures');
  const signatures = lines.map((line) => {
    const match = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/u.exec(line);
    if (!match) throw new NoteFormatError(`malformed signature line “${line}”`);
    const bytes = Buffer.from(match[2]!, 'base64');
    if (bytes.length < 5 || bytes.toString('base64') !== match[2]) throw new NoteFormatError('malformed signature');
    return { name: match[1]!, keyId: bytes.subarray(0, 4), signature: bytes.subarray(4) };
  });
  return { text, signatures };
}

export type NoteVerdict = { ok: true } | { ok: false; reason: 'unknown-key' | 'bad-signature' };

/** Verifies the note against one trusted key: its signature line must exist and verify. */
export function verifyNote(note: Note, key: NoteKey): NoteVerdict {
  const id = keyId(key);
  const lines = note.signatures.filter((s) => s.name === key.name && s.keyId.equals(id));
  if (lines.length === 0) return { ok: false, reason: 'unknown-key' };
  // Every line claiming this key must verify: a second or failing one makes the whole note suspect.
  const message = Buffer.from(note.text, 'utf8');
  const publicKey = ed25519PublicKeyObject(key.publicKey);
  const ok =
    lines.length === 1 &&
    lines.every((line) => line.signature.length === 64 && verify(null, message, publicKey, line.signature));
  return ok ? { ok: true } : { ok: false, reason: 'bad-signature' };
}

/**
 * SHA-256 of the audit public key's SubjectPublicKeyInfo (DER), as
 * `openssl pkey -pubin -outform DER | sha256sum`: printed on reports, pinned by backup import.
 */
export function auditKeyFingerprint(publicKey: Buffer): string {
  const spki = ed25519PublicKeyObject(publicKey).export({ format: 'der', type: 'spki' });
  return createHash('sha256').update(spki).digest('hex');
}
