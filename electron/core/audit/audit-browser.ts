import { verify } from 'node:crypto';
import {
  AuditEntry,
  READ_ACTIONS,
  type AuditEntryDetail,
  type AuditFilter,
  type AuditPage,
  type AuditRow,
} from '../../../shared/audit';
import { CustosError } from '../errors';
import type { Store } from '../store/database';
import { sql, type Sql } from '../store/sql';
import type { AuditLog } from './audit-log';
import { ed25519PublicKeyObject, parseCheckpoint, parseNote, verifyNote, type NoteKey } from './checkpoint';
import { leafHash, verifyInclusion } from './merkle';

/**
 * Read access for the audit viewer: pages of rows through the indexed columns (fast at a
 * million entries), and one entry in full with its signature and inclusion proof checked.
 */
export class AuditBrowser {
  constructor(
    private readonly store: Store,
    private readonly log: AuditLog,
    private readonly key: NoteKey,
  ) {}

  page(filter: AuditFilter, offset: number, limit: number): AuditPage {
    const where = conditions(filter);
    const total = where
      ? this.store.get<{ n: number }>(sql`SELECT count(*) AS n FROM audit_entries WHERE ${where}`)!.n
      : this.log.size();
    // Unfiltered pages seek by sequence number, so the last page costs what the first does.
    const query = where
      ? sql`SELECT seq, time, actor, action, object, result, json_extract(entry, '$.result.code') AS code FROM audit_entries WHERE ${where} ORDER BY seq LIMIT ${limit} OFFSET ${offset}`
      : sql`SELECT seq, time, actor, action, object, result, json_extract(entry, '$.result.code') AS code FROM audit_entries WHERE seq >= ${offset} ORDER BY seq LIMIT ${limit}`;
    const rows = this.store.all<Record<keyof AuditRow, string | number | null>>(query).map((r) => ({
      seq: Number(r.seq),
      time: String(r.time ?? ''),
      actor: String(r.actor ?? ''),
      action: String(r.action ?? ''),
      object: r.object === null ? '' : String(r.object),
      result: String(r.result ?? ''),
      code: r.code === null ? '' : String(r.code),
    }));
    return { total, offset, rows };
  }

  entry(seq: number): AuditEntryDetail {
    const stored = this.log.entry(seq);
    let entry: AuditEntry;
    try {
      entry = AuditEntry.parse(JSON.parse(stored.entry));
    } catch (error) {
      throw new CustosError(
        'AUDIT_VERIFY_FAILED',
        `Entry ${seq} is not a well-formed audit entry; run “Verify now”.`,
        [],
        { cause: error },
      );
    }
    const bytes = Buffer.from(stored.entry, 'utf8');
    const signatureValid =
      entry.seq === seq &&
      stored.signature.length === 64 &&
      verify(null, bytes, ed25519PublicKeyObject(this.key.publicKey), stored.signature);
    const checkpoint = this.signedCheckpointCovering(seq);
    const treeSize = checkpoint?.size ?? this.log.size();
    const root = checkpoint?.root ?? this.log.root(treeSize);
    const proof = this.log.inclusionProof(seq, treeSize);
    return {
      seq,
      entry,
      canonical: stored.entry,
      keyId: stored.keyId,
      signatureValid,
      inclusion: {
        treeSize,
        root: root.toString('base64'),
        proof: proof.map((h) => h.toString('base64')),
        verified: verifyInclusion(seq, treeSize, leafHash(bytes), proof, root),
        checkpoint: checkpoint?.note ?? null,
      },
    };
  }

  /** The newest checkpoint covering the entry whose signature verifies; its signed size and root, not the row's. */
  private signedCheckpointCovering(seq: number): { size: number; root: Buffer; note: string } | null {
    for (const stored of this.log.checkpoints().reverse()) {
      try {
        const note = parseNote(stored.note);
        if (!verifyNote(note, this.key).ok) continue;
        const { size, root, origin } = parseCheckpoint(note.text);
        if (origin === this.key.name && size > seq && size <= this.log.size()) return { size, root, note: stored.note };
      } catch {
        // A malformed checkpoint row vouches for nothing; “Verify now” names it.
      }
    }
    return null;
  }
}

function conditions(filter: AuditFilter): Sql | null {
  const parts: Sql[] = [];
  if (filter.actor) parts.push(sql`actor = ${filter.actor}`);
  if (filter.action)
    parts.push(
      filter.action.endsWith('.')
        ? sql`action >= ${filter.action} AND action < ${`${filter.action}\uffff`}`
        : sql`action = ${filter.action}`,
    );
  if (filter.object) parts.push(sql`object = ${filter.object}`);
  if (filter.result) parts.push(sql`result = ${filter.result}`);
  if (filter.from) parts.push(sql`time >= ${filter.from}`);
  if (filter.to) parts.push(sql`time <= ${filter.to}`);
  if (filter.hideReads) for (const read of READ_ACTIONS) parts.push(sql`action <> ${read}`);
  if (parts.length === 0) return null;
  return parts.reduce((all, part) => sql`${all} AND ${part}`);
}
