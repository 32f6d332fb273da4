import { existsSync } from 'node:fs';
import pkcs11js from 'pkcs11js';
import { readBoundedText } from '../bounded-file';
import { CustosError, isCustosError, printable } from '../errors';
import { findObjects } from '../hsm/find-objects';
import { writeFileAtomic } from '../secret-vault';
import type { AuditKey } from './audit-key';
import type { AuditLog } from './audit-log';
import { NoteFormatError, parseCheckpoint, parseNote, verifyNote, type NoteKey } from './checkpoint';

export const ANCHOR_APPLICATION = 'custos-audit-anchor';

const ANCHOR_TEMPLATE: pkcs11js.Template = [
  { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
  { type: pkcs11js.CKA_TOKEN, value: true },
  { type: pkcs11js.CKA_APPLICATION, value: ANCHOR_APPLICATION },
];

/** A checkpoint note signed by the audit key, with the size and root it commits to. */
export interface AnchorCheckpoint {
  note: string;
  size: number;
  root: Buffer;
}

const ROLLBACK_REMEDY = [
  'Do not use this data directory: its audit log no longer extends the checkpoint Custos kept outside the database.',
  'Keep the machine as it is, run “custos audit verify”, and tell your security officer and auditor.',
  'Restore the database that belongs with this audit token (the newest backup of the whole data directory).',
];

export function rollback(message: string): CustosError {
  return new CustosError('AUDIT_ROLLBACK', message, ROLLBACK_REMEDY);
}

/** The note as this log's checkpoint, or null when it is not a well-formed checkpoint signed by the key. */
export function verifiedCheckpoint(note: string, key: NoteKey): AnchorCheckpoint | null {
  try {
    const parsed = parseNote(note);
    if (!verifyNote(parsed, key).ok) return null;
    const checkpoint = parseCheckpoint(parsed.text);
    if (checkpoint.origin !== key.name) return null;
    return { note, size: checkpoint.size, root: checkpoint.root };
  } catch (error) {
    if (error instanceof NoteFormatError) return null;
    throw error;
  }
}

/** Whether the log, as it is now, still holds exactly the entries the checkpoint committed to. */
export function logExtends(log: AuditLog, checkpoint: AnchorCheckpoint): boolean {
  if (checkpoint.size > log.size()) return false;
  let root: Buffer;
  try {
    root = log.root(checkpoint.size);
  } catch (error) {
    // A damaged stored tree is not a rollback: the entries themselves decide, and the log opens for repair.
    if (!(error instanceof CustosError) || error.code !== 'AUDIT_TREE_CORRUPT') throw error;
    root = log.rootFromEntries(checkpoint.size);
  }
  return root.equals(checkpoint.root);
}

/**
 * The latest checkpoint, kept where the database's writer cannot change it: a private data object
 * in the audit token (only the audit PIN writes it), and optionally a copy in a file elsewhere
 * (removable media). It is written after the checkpoint's transaction commits, so after a crash it
 * may lag the database by one checkpoint, never lead it.
 */
export class AuditAnchor {
  private anchoredSize = -1;

  constructor(
    private readonly key: AuditKey,
    /** The configured copy's path, or null when there is none. */
    private readonly copyPath: () => string | null,
  ) {}

  /** The anchor in the token (the newest, when a crash left two), or null when none was ever written. */
  readToken(): AnchorCheckpoint | null {
    const notes = this.key.inSession('Reading the audit anchor', (session, lib) =>
      findObjects(lib, session, ANCHOR_TEMPLATE).map(
        (handle) =>
          lib.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_VALUE }])[0]?.value?.toString('utf8') ?? '',
      ),
    );
    const checkpoints = notes.map((note) => verifiedCheckpoint(note, this.key.noteKey));
    if (checkpoints.some((c) => c === null)) {
      throw rollback('The checkpoint kept in the audit token is not one the audit key signed for this log.');
    }
    const newest = (checkpoints as AnchorCheckpoint[]).sort((a, b) => b.size - a.size)[0] ?? null;
    if (newest) this.anchoredSize = Math.max(this.anchoredSize, newest.size);
    return newest;
  }

  /** The copy, when one is configured and present (removable media may be detached: then it is not checked). */
  readCopy(): AnchorCheckpoint | null {
    const path = this.copyPath();
    if (!path || !existsSync(path)) return null;
    let note: string;
    try {
      // A pipe put in its place kept every open waiting; a huge file was read whole. A checkpoint is a few lines.
      note = readBoundedText(path, { bytes: 65_536, code: 'AUDIT_ROLLBACK', what: 'the checkpoint copy' });
    } catch (error) {
      if (!isCustosError(error) || error.code !== 'AUDIT_ROLLBACK') throw error;
      throw rollback(`The checkpoint copy at ${printable(path)} cannot be read as one: ${error.message}`);
    }
    const checkpoint = verifiedCheckpoint(note, this.key.noteKey);
    if (!checkpoint) throw rollback(`The checkpoint copy at ${path} is not one the audit key signed for this log.`);
    return checkpoint;
  }

  /** Throws AUDIT_ROLLBACK unless the log extends both anchors (either may be absent). */
  check(log: AuditLog, inToken: AnchorCheckpoint | null, copy: AnchorCheckpoint | null): void {
    for (const [where, anchor] of [
      ['in the audit token', inToken],
      ['in the configured copy', copy],
    ] as const) {
      if (!anchor) continue;
      const size = log.size();
      if (anchor.size > size) {
        throw rollback(
          `The audit log was rolled back: the checkpoint kept ${where} covers ${anchor.size} entries, but the log has only ${size}.`,
        );
      }
      if (!logExtends(log, anchor)) {
        throw rollback(
          `The audit log was rewritten: its first ${anchor.size} entries no longer match the checkpoint kept ${where}.`,
        );
      }
    }
  }

  /**
   * Keeps this checkpoint as the token's anchor when it is newer. The new object is created before
   * the old one is destroyed: a crash in between leaves two anchors (the newest counts), never none.
   */
  advance(checkpoint: AnchorCheckpoint): boolean {
    if (checkpoint.size <= this.anchoredSize) return false;
    this.key.inSession('Updating the audit anchor', (session, lib) => {
      const old = findObjects(lib, session, ANCHOR_TEMPLATE);
      lib.C_CreateObject(session, [
        ...ANCHOR_TEMPLATE,
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_LABEL, value: ANCHOR_APPLICATION },
        { type: pkcs11js.CKA_VALUE, value: Buffer.from(checkpoint.note, 'utf8') },
      ]);
      for (const handle of old) lib.C_DestroyObject(session, handle);
    });
    this.anchoredSize = checkpoint.size;
    return true;
  }

  /** Writes the copy (atomically), when one is configured. */
  copy(checkpoint: AnchorCheckpoint): void {
    const path = this.copyPath();
    if (path) writeFileAtomic(path, checkpoint.note, 0o600);
  }
}
