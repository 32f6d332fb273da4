import type { AuditActor, AuditEntry, AuditObject, AuditResult } from '../../../shared/audit';
import { canonicalJson, sha256Hex } from '../canonical-json';
import { CustosError } from '../errors';
import type { Store, WritableDB } from '../store/database';
import { sql } from '../store/sql';
import { formatCheckpoint, signNote, type NoteKey } from './checkpoint';
import { consistencyProof, inclusionProof, leafHash, nodesCompletedBy, rootHash, type NodeStore } from './merkle';

export interface AuditSigner {
  readonly keyId: string;
  readonly noteKey: NoteKey;
  sign(message: Buffer): Buffer;
}

export interface AuditEvent {
  actor: AuditActor;
  action: string;
  object?: AuditObject | null;
  /** Hashed (canonical JSON, SHA-256) before it is recorded; must never hold a secret. */
  params?: unknown;
  result?: AuditResult;
}

export interface StoredEntry {
  seq: number;
  entry: string;
  signature: Buffer;
  keyId: string;
}

export interface StoredCheckpoint {
  id: number;
  treeSize: number;
  note: string;
  reason: string;
  createdAt: string;
}

/**
 * The append-only, signed, Merkle-tree audit log. `record` is the only way in: the state change
 * it guards, the entry, its signature and the tree nodes commit in one SQLite transaction
 * (synchronous=FULL), so there is never a change without its entry nor a half-written entry.
 */
export class AuditLog {
  private readonly nodes: NodeStore;
  private queue: { event: AuditEvent; resolve: (entry: AuditEntry) => void; reject: (error: unknown) => void }[] = [];
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly signer: AuditSigner,
    readonly origin: string,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.nodes = {
      node: (level, index) => {
        const row = this.store.get<{ hash: Buffer }>(sql`SELECT hash FROM audit_tree WHERE level = ${level} AND idx = ${index}`);
        if (!row) throw new CustosError('AUDIT_UNAVAILABLE', `The audit tree is missing node ${level}/${index}; run “custos audit verify”.`);
        return row.hash;
      },
    };
  }

  /** Appends one entry, after running `change` (the state change it records) in the same transaction. */
  record<T = void>(event: AuditEvent, change?: (db: WritableDB) => T): { entry: AuditEntry; value: T } {
    return this.store.transaction((db) => {
      const value = change ? change(db) : (undefined as T);
      return { entry: this.appendOne(event), value };
    });
  }

  /**
   * Appends an entry that guards no state change (a read, a refusal) with group commit: entries
   * requested in the same turn of the event loop share one transaction and one fsync. The promise
   * settles only once the entry is durable, so callers answer only after it is written.
   */
  append(event: AuditEvent): Promise<AuditEntry> {
    if (this.closed) return Promise.reject(new CustosError('AUDIT_UNAVAILABLE', 'The audit log is closed.'));
    return new Promise((resolve, reject) => {
      this.queue.push({ event, resolve, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
    });
  }

  /** Writes what is still queued, then refuses new appends: called before the store closes. */
  close(): void {
    this.flush();
    this.closed = true;
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    try {
      const entries = this.store.transaction(() => batch.map(({ event }) => this.appendOne(event)));
      batch.forEach(({ resolve }, i) => resolve(entries[i]!));
    } catch (error) {
      batch.forEach(({ reject }) => reject(error));
    }
  }

  /** Must run inside a transaction: builds, signs and stores one entry and its tree nodes. */
  private appendOne(event: AuditEvent): AuditEntry {
    const seq = this.size();
    const entry: AuditEntry = {
      v: 1,
      seq,
      time: this.clock().toISOString(),
      actor: event.actor,
      action: event.action,
      object: event.object ? boundedObject(event.object) : null,
      params: event.params === undefined ? null : sha256Hex(canonicalJson(event.params)),
      result: event.result ?? { status: 'ok' },
    };
    const text = canonicalJson(entry);
    const bytes = Buffer.from(text, 'utf8');
    const signature = this.signer.sign(bytes);
    this.store.execute(sql`INSERT INTO audit_entries (seq, entry, signature, key_id) VALUES (${seq}, ${text}, ${signature}, ${this.signer.keyId})`);
    for (const node of nodesCompletedBy(seq, leafHash(bytes), this.nodes)) {
      this.store.execute(sql`INSERT INTO audit_tree (level, idx, hash) VALUES (${node.level}, ${node.index}, ${node.hash})`);
    }
    return entry;
  }

  size(): number {
    return this.store.get<{ size: number }>(sql`SELECT coalesce(max(seq) + 1, 0) AS size FROM audit_entries`)!.size;
  }

  root(size = this.size()): Buffer {
    this.checkSize(size);
    return rootHash(this.nodes, size);
  }

  inclusionProof(seq: number, size = this.size()): Buffer[] {
    this.checkSize(size);
    if (seq < 0 || seq >= size) throw new CustosError('AUDIT_NOT_FOUND', `Entry ${seq} is not in a log of ${size} entries.`);
    return inclusionProof(this.nodes, seq, size);
  }

  consistencyProof(first: number, second = this.size()): Buffer[] {
    this.checkSize(second);
    if (first < 0 || first > second) throw new CustosError('AUDIT_NOT_FOUND', `Cannot prove a log of ${first} entries against one of ${second}.`);
    return consistencyProof(this.nodes, first, second);
  }

  /** Signs a C2SP checkpoint of the whole log now and keeps it. */
  checkpoint(reason: string): StoredCheckpoint {
    return this.store.transaction(() => {
      const size = this.size();
      const body = formatCheckpoint({ origin: this.origin, size, root: this.root(size), extensions: [] });
      const note = signNote(body, this.signer.noteKey, (message) => this.signer.sign(message));
      const createdAt = this.clock().toISOString();
      const { lastInsertRowid } = this.store.execute(
        sql`INSERT INTO audit_checkpoints (tree_size, note, reason, created_at) VALUES (${size}, ${note}, ${reason}, ${createdAt})`,
      );
      return { id: Number(lastInsertRowid), treeSize: size, note, reason, createdAt };
    });
  }

  checkpoints(): StoredCheckpoint[] {
    return this.store.all<StoredCheckpoint>(sql`SELECT id, tree_size AS treeSize, note, reason, created_at AS createdAt FROM audit_checkpoints ORDER BY id`);
  }

  entry(seq: number): StoredEntry {
    const row = this.store.get<StoredEntry>(sql`SELECT seq, entry, signature, key_id AS keyId FROM audit_entries WHERE seq = ${seq}`);
    if (!row) throw new CustosError('AUDIT_NOT_FOUND', `There is no audit entry ${seq}.`);
    return row;
  }

  /** Every entry in log order, streamed. */
  entries(): IterableIterator<StoredEntry> {
    return this.store.iterate<StoredEntry>(sql`SELECT seq, entry, signature, key_id AS keyId FROM audit_entries ORDER BY seq`);
  }

  private checkSize(size: number): void {
    const current = this.size();
    if (size < 0 || size > current) throw new CustosError('AUDIT_NOT_FOUND', `The log has ${current} entries, not ${size}.`);
  }
}

/**
 * A signed entry is permanent, so what names its object is cut to the lengths the viewer and the
 * verifier accept (shared/audit.ts AuditObject); the full value is still bound by the params hash.
 */
function boundedObject(object: AuditObject): AuditObject {
  const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
  return { type: clip(object.type, 32), id: clip(object.id, 200) };
}
