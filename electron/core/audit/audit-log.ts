import { verify, type KeyObject } from 'node:crypto';
import type { AuditActor, AuditEntry, AuditObject, AuditResult } from '../../../shared/audit';
import { canonicalJson, sha256Hex } from '../canonical-json';
import { CustosError } from '../errors';
import type { Store, WritableDB } from '../store/database';
import { appendOnly } from '../store/migrations/0002-audit-log';
import { sql } from '../store/sql';
import { insertTreeRow, nodeInRow, storedNode, treeRow } from './stored-tree';
import { TailVerifier, type Verdict } from './tail-verifier';
import {
  ed25519PublicKeyObject,
  formatCheckpoint,
  parseCheckpoint,
  parseNote,
  signNote,
  verifyNote,
  type NoteKey,
} from './checkpoint';
import {
  consistencyProof,
  describeNode,
  EMPTY_ROOT,
  FrontierTree,
  inclusionProof,
  leafHash,
  rightEdgePositions,
  rootHash,
  verifyConsistency,
  verifyInclusion,
  type EdgeNode,
  type NodeStore,
} from './merkle';

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

/** How a token is named as the object of an entry: the token service and the request recorder name it alike. */
export function tokenObject(ref: { serial: string; label: string }): AuditObject {
  return { type: 'token', id: `${ref.serial}/${ref.label}` };
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

/** What the latest signed checkpoint commits to, once its signature has been checked. */
interface Anchor {
  size: number;
  root: Buffer;
}

/**
 * Past this many entries since the last verified checkpoint, signatures are checked on a worker as
 * they are made; once it runs, every signature is handed to it.
 */
const CHECK_AHEAD_AFTER = 64;
/** Signatures remembered for the checkpoint at most; beyond that (checkpoints refused) it verifies them itself. */
const CHECK_AHEAD_LIMIT = 65_536;

const TREE_REMEDY = [
  'Run “custos audit verify” to see which part of the stored tree is wrong.',
  'Then run “custos audit repair-tree”: it rebuilds the tree from the signed entries and records that it did.',
];

/**
 * The append-only, signed, Merkle-tree audit log. `record` is the only way in: the state change
 * it guards, the entry, its signature and the tree nodes commit in one SQLite transaction
 * (synchronous=FULL), so there is never a change without its entry nor a half-written entry.
 *
 * The stored tree (audit_tree) is signed by nothing, so it is never believed on its own: the
 * right edge of the tree lives in memory, checked at open against the latest signed checkpoint
 * and extended from the entries themselves; every root signed comes from it, and every proof
 * read from stored nodes is checked against it before it is returned.
 */
export class AuditLog {
  private readonly nodes: NodeStore;
  private queue: { event: AuditEvent; resolve: (entry: AuditEntry) => void; reject: (error: unknown) => void }[] = [];
  private closed = false;
  /** The tree of every committed entry, computed from the entries (or checked against a signed root). */
  private tip: FrontierTree;
  /** The tree at the last checkpoint whose entries were verified (signatures and tree) or signed here. */
  private verified: FrontierTree;
  private problem: string | null = null;
  private publicKeyObject: KeyObject | null = null;
  private readonly provenRoots = new Map<number, Buffer>();
  /** Started once a checkpoint would have enough to verify to be worth it; checks signatures as they are made. */
  private checker: TailVerifier | null = null;
  /** What this process signed since the last verified checkpoint, by seq, with the worker's verdict. */
  private readonly signedHere = new Map<number, { leaf: Buffer; signature: Buffer; verdict: Verdict }>();

  constructor(
    private readonly store: Store,
    private readonly signer: AuditSigner,
    readonly origin: string,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.nodes = {
      node: (level, index) => {
        const hash = this.storedNode(level, index);
        if (!hash)
          throw new CustosError(
            'AUDIT_TREE_CORRUPT',
            `The stored audit tree is missing node ${level}/${index}.`,
            TREE_REMEDY,
          );
        return hash;
      },
    };
    const { tip, verified } = this.openTree();
    this.tip = tip;
    this.verified = verified;
  }

  /** Appends one entry, after running `change` (the state change it records) in the same transaction. */
  record<T = void>(event: AuditEvent, change?: (db: WritableDB) => T): { entry: AuditEntry; value: T } {
    const before = this.tip;
    try {
      return this.store.transaction((db) => {
        const value = change ? change(db) : (undefined as T);
        return { entry: this.appendOne(event), value };
      });
    } catch (error) {
      // Rolled back: the in-memory tree must not keep leaves the database does not have.
      this.tip = before;
      this.provenRoots.clear();
      throw error;
    }
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
    // Verdicts already in still spare the closing checkpoint that many verifications.
    this.checker?.collect();
    this.checker?.close();
    this.checker = null;
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const before = this.tip;
    try {
      const entries = this.store.transaction(() => batch.map(({ event }) => this.appendOne(event)));
      batch.forEach(({ resolve }, i) => resolve(entries[i]!));
    } catch (error) {
      this.tip = before;
      this.provenRoots.clear();
      batch.forEach(({ reject }) => reject(error));
    }
  }

  /** Must run inside a transaction: builds, signs and stores one entry and its tree nodes. */
  private appendOne(event: AuditEvent): AuditEntry {
    const seq = this.tip.size;
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
    const text = canonicalEntry(entry);
    const bytes = Buffer.from(text, 'utf8');
    const next = this.tip.copy();
    const completed: EdgeNode[] = [];
    const leaf = leafHash(bytes);
    next.append(leaf, (node) => completed.push(node));
    const row = treeRow(completed);
    const signature = this.signer.sign(bytes);
    this.checkAhead(seq, bytes, leaf, signature);
    this.store.execute(
      sql`INSERT INTO audit_entries (seq, entry, signature, key_id) VALUES (${seq}, ${text}, ${signature}, ${this.signer.keyId})`,
    );
    if (row) insertTreeRow(this.store, seq, row);
    const before = this.tip;
    this.tip = next;
    // Rolled back with a transaction around this one (several entries in one), the seq is the next entry's again.
    this.store.onRollback(() => {
      this.tip = before;
      this.provenRoots.clear();
    });
    return entry;
  }

  size(): number {
    return this.tip.size;
  }

  /** The root at `size`: the in-memory root now, or an earlier one proven consistent with it. */
  root(size = this.size()): Buffer {
    this.checkSize(size);
    return this.trustedRoot(size);
  }

  /** Read from the stored tree, and returned only when it verifies against the trusted root. */
  inclusionProof(seq: number, size = this.size()): Buffer[] {
    this.checkSize(size);
    if (seq < 0 || seq >= size)
      throw new CustosError('AUDIT_NOT_FOUND', `Entry ${seq} is not in a log of ${size} entries.`);
    const proof = inclusionProof(this.nodes, seq, size);
    const leaf = leafHash(Buffer.from(this.entry(seq).entry, 'utf8'));
    if (!verifyInclusion(seq, size, leaf, proof, this.trustedRoot(size))) {
      throw this.corrupt(
        `The stored audit tree gives a proof for entry ${seq} that does not verify; it was not returned.`,
      );
    }
    return proof;
  }

  consistencyProof(first: number, second = this.size()): Buffer[] {
    this.checkSize(second);
    if (first < 0 || first > second)
      throw new CustosError('AUDIT_NOT_FOUND', `Cannot prove a log of ${first} entries against one of ${second}.`);
    const proof = consistencyProof(this.nodes, first, second);
    if (!verifyConsistency(first, second, this.trustedRoot(first), this.trustedRoot(second), proof)) {
      throw this.corrupt(
        `The stored audit tree gives a consistency proof from ${first} to ${second} that does not verify; it was not returned.`,
      );
    }
    return proof;
  }

  /** The root at `size` hashed from the entries themselves, for when the stored tree cannot be used. */
  rootFromEntries(size: number): Buffer {
    this.checkSize(size);
    return size === this.tip.size ? this.tip.root() : this.treeFromEntries(size).root();
  }

  /**
   * Refuses (AUDIT_VERIFY_FAILED) a log holding rows the audit key did not sign where they stand: an entry after the
   * latest signed checkpoint that does not verify or names another seq (added, edited or given another entry's
   * signature outside Custos), or a row outside the sequence 0…n−1 (a gap, a negative seq, one deleted under a
   * checkpoint). The entries a checkpoint covers are bound by its root; these are the rest. Called once at open,
   * before anything reads the log: readers of bare rows may then rely on them.
   */
  checkOpened(): void {
    const size = this.tip.size;
    const first = this.store.get<{ seq: number | null }>(sql`SELECT min(seq) AS seq FROM audit_entries`)!.seq;
    const rows = this.store.get<{ n: number }>(sql`SELECT count(*) AS n FROM audit_entries`)!.n;
    let wrong: string | null = null;
    if (first !== null && first < 0) wrong = `entry ${first} is outside the log’s sequence (it starts at 0)`;
    else if (this.storedSize() !== size) wrong = `entry ${size} is missing, yet later entries are stored`;
    else if (rows !== size) wrong = `entry ${this.firstMissing()} is missing`;
    else {
      const unsigned = this.firstUnsigned(this.verified.size, size);
      if (unsigned !== null)
        wrong = `entry ${unsigned}, after the latest signed checkpoint (${this.verified.size} entries), is edited or not signed by the audit key`;
    }
    if (wrong === null) return;
    throw new CustosError(
      'AUDIT_VERIFY_FAILED',
      `The audit log was changed outside Custos: ${wrong}. It stays closed, so nothing is decided from it.`,
      [
        'Run “custos audit verify”: it names every entry that is wrong.',
        'Keep this machine as it is and tell your security officer and auditor: the database file was written outside Custos.',
        'Restore the database that belongs with this audit token (the newest backup of the whole data directory).',
      ],
    );
  }

  /** Why the stored tree cannot be trusted, or null; checkpoints are refused until it is repaired. */
  treeProblem(): string | null {
    return this.problem;
  }

  /**
   * Signs a C2SP checkpoint of the whole log now and keeps it. What was appended since the last
   * verified checkpoint is verified first (signatures, sequence, stored tree); the root signed is
   * the one computed from the entries, never one read from the stored tree. `alongside` runs in its
   * transaction, with its size: what must be signed with this checkpoint or not at all.
   */
  checkpoint(reason: string, alongside?: (size: number) => void): StoredCheckpoint {
    if (this.problem)
      throw new CustosError('AUDIT_TREE_CORRUPT', `No checkpoint was signed: ${this.problem}`, TREE_REMEDY);
    this.verifyTail();
    const tip = this.tip;
    const stored = this.store.transaction(() => {
      const size = tip.size;
      const body = formatCheckpoint({ origin: this.origin, size, root: tip.root(), extensions: [] });
      const note = signNote(body, this.signer.noteKey, (message) => this.signer.sign(message));
      const createdAt = this.clock().toISOString();
      const { lastInsertRowid } = this.store.execute(
        sql`INSERT INTO audit_checkpoints (tree_size, note, reason, created_at) VALUES (${size}, ${note}, ${reason}, ${createdAt})`,
      );
      alongside?.(size);
      return { id: Number(lastInsertRowid), treeSize: size, note, reason, createdAt };
    });
    const verified = this.verified;
    this.store.onRollback(() => (this.verified = verified));
    this.verified = tip;
    this.signedHere.clear();
    return stored;
  }

  /**
   * Rebuilds the stored tree from the entries and records that it did, in one transaction. Refused
   * when the entries themselves no longer match the latest signed checkpoint: that is not a tree fault.
   */
  repairTree(actor: AuditActor): { size: number; rewritten: number; root: string } {
    const before = { tip: this.tip, verified: this.verified, problem: this.problem };
    try {
      return this.store.transaction((db) => {
        const anchor = this.latestAnchor(this.storedSize());
        let atAnchor: FrontierTree | null = anchor ? null : new FrontierTree();
        const tree = new FrontierTree();
        let rewritten = 0;
        db.exec('DROP TRIGGER IF EXISTS audit_tree_no_update; DROP TRIGGER IF EXISTS audit_tree_no_delete;');
        // Read in chunks: better-sqlite3 allows no writes while an iterator is open.
        for (let chunk = this.entryChunk(0); chunk.length > 0; chunk = this.entryChunk(chunk.at(-1)!.seq + 1))
          for (const stored of chunk) {
            if (stored.seq !== tree.size)
              throw new CustosError(
                'AUDIT_VERIFY_FAILED',
                `Entry ${tree.size} is missing from the log; the tree cannot be rebuilt over a gap.`,
                ['Run “custos audit verify”.'],
              );
            const completed: EdgeNode[] = [];
            tree.append(leafHash(Buffer.from(stored.entry, 'utf8')), (node) => completed.push(node));
            const row = treeRow(completed);
            const current = this.store.get<{ hashes: Buffer }>(
              sql`SELECT hashes FROM audit_tree WHERE seq = ${stored.seq}`,
            )?.hashes;
            if (row && !current?.equals(row)) {
              const wrong = (node: EdgeNode) =>
                node.level > 0 && !nodeInRow(current, stored.seq, node.level)?.equals(node.hash);
              rewritten += completed.filter(wrong).length;
              if (current) this.store.execute(sql`DELETE FROM audit_tree WHERE seq = ${stored.seq}`);
              insertTreeRow(this.store, stored.seq, row);
            }
            if (anchor && tree.size === anchor.size) atAnchor = tree.copy();
          }
        // Rows past the end of the tree would make later appends fail; an even seq completes no node.
        rewritten += this.store.execute(sql`DELETE FROM audit_tree WHERE seq >= ${tree.size} OR seq % 2 = 0`).changes;
        db.exec(appendOnly('audit_tree'));
        if (!atAnchor || (anchor && !atAnchor.root().equals(anchor.root))) {
          throw new CustosError(
            'AUDIT_VERIFY_FAILED',
            'The entries themselves no longer match the latest signed checkpoint, so rebuilding the tree cannot help; nothing was changed.',
            ['Run “custos audit verify” and keep this machine as it is; tell your security officer and auditor.'],
          );
        }
        this.tip = tree;
        this.verified = atAnchor;
        this.problem = null;
        const size = tree.size;
        const root = tree.root().toString('base64');
        this.appendOne({
          actor,
          action: 'audit.tree.repair',
          object: { type: 'audit-tree', id: `${rewritten} of the nodes for ${size} entries rewritten` },
          params: { size, rewritten, root },
        });
        return { size, rewritten, root };
      });
    } catch (error) {
      ({ tip: this.tip, verified: this.verified, problem: this.problem } = before);
      this.provenRoots.clear();
      throw error;
    }
  }

  checkpoints(): StoredCheckpoint[] {
    return this.store.all<StoredCheckpoint>(
      sql`SELECT id, tree_size AS treeSize, note, reason, created_at AS createdAt FROM audit_checkpoints ORDER BY id`,
    );
  }

  entry(seq: number): StoredEntry {
    const row = this.store.get<StoredEntry>(
      sql`SELECT seq, entry, signature, key_id AS keyId FROM audit_entries WHERE seq = ${seq}`,
    );
    if (!row) throw new CustosError('AUDIT_NOT_FOUND', `There is no audit entry ${seq}.`);
    return row;
  }

  /** The entries about one object (`type:id`), in log order. */
  entriesAbout(object: string): StoredEntry[] {
    return this.store.all<StoredEntry>(
      sql`SELECT seq, entry, signature, key_id AS keyId FROM audit_entries WHERE object = ${object} ORDER BY seq`,
    );
  }

  /** Every entry in log order, streamed. */
  entries(): IterableIterator<StoredEntry> {
    return this.store.iterate<StoredEntry>(
      sql`SELECT seq, entry, signature, key_id AS keyId FROM audit_entries ORDER BY seq`,
    );
  }

  private checkSize(size: number): void {
    const current = this.size();
    if (!Number.isSafeInteger(size) || size < 0 || size > current)
      throw new CustosError('AUDIT_NOT_FOUND', `The log has ${current} entries, not ${size}.`);
  }

  private trustedRoot(size: number): Buffer {
    if (size === this.tip.size) return this.tip.root();
    if (size === 0) return EMPTY_ROOT;
    const known = this.provenRoots.get(size);
    if (known) return known;
    // An earlier root from stored nodes is believed only when proven a prefix of the trusted one.
    const root = rootHash(this.nodes, size);
    if (
      !verifyConsistency(size, this.tip.size, root, this.tip.root(), consistencyProof(this.nodes, size, this.tip.size))
    ) {
      throw this.corrupt(`The stored audit tree does not agree with the entries for the first ${size} entries.`);
    }
    // A proven root of a prefix never changes; a few are kept for the proof that usually follows.
    if (this.provenRoots.size >= 64) this.provenRoots.delete(this.provenRoots.keys().next().value!);
    this.provenRoots.set(size, root);
    return root;
  }

  private corrupt(message: string): CustosError {
    this.problem ??= message;
    return new CustosError('AUDIT_TREE_CORRUPT', message, TREE_REMEDY);
  }

  private storedNode(level: number, index: number): Buffer | undefined {
    return storedNode(this.store, level, index);
  }

  private entryChunk(from: number): { seq: number; entry: string }[] {
    return this.store.all<{ seq: number; entry: string }>(
      sql`SELECT seq, entry FROM audit_entries WHERE seq >= ${from} ORDER BY seq LIMIT 4096`,
    );
  }

  /** The first entry in [from, to) whose signature does not verify with the audit key or whose signed seq differs. */
  private firstUnsigned(from: number, to: number): number | null {
    this.publicKeyObject ??= ed25519PublicKeyObject(this.signer.noteKey.publicKey);
    const key = this.publicKeyObject;
    for (const stored of this.store.iterate<{ seq: number; entry: string; signature: Buffer }>(
      sql`SELECT seq, entry, signature FROM audit_entries WHERE seq >= ${from} AND seq < ${to} ORDER BY seq`,
    )) {
      const bytes = Buffer.from(stored.entry, 'utf8');
      if (
        stored.signature.length !== 64 ||
        !verify(null, bytes, key, stored.signature) ||
        signedSeq(stored.entry) !== stored.seq
      )
        return stored.seq;
    }
    return null;
  }

  /** The lowest seq below the log's size with no row (only asked once the row count says one is missing). */
  private firstMissing(): number {
    if (!this.store.get(sql`SELECT 1 AS yes FROM audit_entries WHERE seq = 0`)) return 0;
    return this.store.get<{ seq: number }>(sql`
      SELECT a.seq + 1 AS seq FROM audit_entries a
      WHERE NOT EXISTS (SELECT 1 FROM audit_entries b WHERE b.seq = a.seq + 1) ORDER BY a.seq LIMIT 1`)!.seq;
  }

  private storedSize(): number {
    return this.store.get<{ size: number }>(sql`SELECT coalesce(max(seq) + 1, 0) AS size FROM audit_entries`)!.size;
  }

  /** The latest checkpoint of this log, within its size, whose signature verifies with the audit key. */
  private latestAnchor(size: number): Anchor | null {
    for (const { note } of this.store.iterate<{ note: string }>(
      sql`SELECT note FROM audit_checkpoints ORDER BY id DESC`,
    )) {
      try {
        const parsed = parseNote(note);
        if (!verifyNote(parsed, this.signer.noteKey).ok) continue;
        const checkpoint = parseCheckpoint(parsed.text);
        if (checkpoint.origin === this.origin && checkpoint.size <= size)
          return { size: checkpoint.size, root: checkpoint.root };
      } catch {
        // A row that is not a checkpoint anchors nothing; `audit verify` names it.
      }
    }
    return null;
  }

  /**
   * The tree at open: the right edge stored for the latest signed checkpoint, believed only when
   * it gives that checkpoint's root; then the entries after it, hashed from the entries. When the
   * stored edge is wrong the tree is computed from all the entries and the fault kept.
   */
  private openTree(): { tip: FrontierTree; verified: FrontierTree } {
    const size = this.storedSize();
    const anchor = this.latestAnchor(size);
    let base = new FrontierTree();
    if (anchor && anchor.size > 0) {
      const edge = rightEdgePositions(anchor.size).map(({ level, index }) => ({
        level,
        index,
        hash: this.storedNode(level, index),
      }));
      const complete = edge.every((node): node is EdgeNode => node.hash !== undefined);
      base = complete ? new FrontierTree(edge, anchor.size) : new FrontierTree();
      if (!complete || !base.root().equals(anchor.root)) {
        base = this.treeFromEntries(anchor.size);
        this.problem = base.root().equals(anchor.root)
          ? `the stored audit tree disagrees with the latest signed checkpoint (size ${anchor.size}) at ${describeNode(firstDifference(edge, base.edge()))}.`
          : `the first ${anchor.size} entries no longer match the latest signed checkpoint.`;
      }
    }
    const tip = base.copy();
    for (const stored of this.store.iterate<{ seq: number; entry: string }>(
      sql`SELECT seq, entry FROM audit_entries WHERE seq >= ${base.size} ORDER BY seq`,
    )) {
      if (stored.seq !== tip.size) {
        this.problem ??= `entry ${tip.size} is missing from the log.`;
        break;
      }
      tip.append(leafHash(Buffer.from(stored.entry, 'utf8')), (node) => {
        if (node.level > 0 && !this.problem && !this.storedNode(node.level, node.index)?.equals(node.hash))
          this.problem = `the stored audit tree disagrees with the entries at ${describeNode(node)}.`;
      });
    }
    return { tip, verified: base };
  }

  private treeFromEntries(size: number): FrontierTree {
    const tree = new FrontierTree();
    for (const stored of this.store.iterate<{ entry: string }>(
      sql`SELECT entry FROM audit_entries WHERE seq < ${size} ORDER BY seq`,
    )) {
      tree.append(leafHash(Buffer.from(stored.entry, 'utf8')));
    }
    return tree;
  }

  /**
   * Hands a signature just made to the worker, once the next checkpoint has enough to verify to
   * gain from it. A row rolled back leaves its seq to the next append, which replaces it here.
   */
  private checkAhead(seq: number, bytes: Buffer, leaf: Buffer, signature: Buffer): void {
    if (this.closed || this.signedHere.size >= CHECK_AHEAD_LIMIT) return;
    // The worker is started for a long tail; once it runs, the first entries after a checkpoint go to it too.
    if (!this.checker && this.tip.size - this.verified.size < CHECK_AHEAD_AFTER) return;
    this.checker ??= new TailVerifier(this.signer.noteKey.publicKey);
    this.signedHere.set(seq, { leaf, signature, verdict: this.checker.submit(bytes, signature) });
  }

  /** Entries since the last verified checkpoint: signed by the audit key, in sequence, their stored tree right. */
  private verifyTail(): void {
    const tree = this.verified.copy();
    this.publicKeyObject ??= ed25519PublicKeyObject(this.signer.noteKey.publicKey);
    const key = this.publicKeyObject;
    let treeFault: string | null = null;
    // Woken now, the worker checks what is still queued while this reads the rows.
    this.checker?.collect();
    /** Rows byte for byte what this process signed whose verdict has not come yet: looked at again after the rest. */
    const awaited: { position: number; bytes: Buffer; signature: Buffer; verdict: Verdict }[] = [];
    let failedAt: number | null = null;
    // Each entry with the tree row its append stored: the nodes it completes are all in that row.
    const rows = this.store.iterate<{ seq: number; entry: string; signature: Buffer; hashes: Buffer | null }>(
      sql`SELECT e.seq, e.entry, e.signature, t.hashes FROM audit_entries e LEFT JOIN audit_tree t ON t.seq = e.seq
          WHERE e.seq >= ${tree.size} ORDER BY e.seq`,
    );
    for (const stored of rows) {
      const bytes = Buffer.from(stored.entry, 'utf8');
      const leaf = leafHash(bytes);
      // A row byte for byte what this process signed, and whose signature the worker verified, is
      // verified; any other row (written before this process, changed since, not yet checked) here.
      const here = this.signedHere.get(stored.seq);
      const same = here !== undefined && here.leaf.equals(leaf) && here.signature.equals(stored.signature);
      if (same && here.verdict.valid === null) {
        awaited.push({ position: tree.size, bytes, signature: stored.signature, verdict: here.verdict });
      }
      if (
        stored.seq !== tree.size ||
        !((same && here.verdict.valid !== false) || verify(null, bytes, key, stored.signature)) ||
        signedSeq(stored.entry) !== stored.seq
      ) {
        failedAt = tree.size;
        break;
      }
      tree.append(leaf, (node) => {
        if (
          node.level > 0 &&
          !treeFault &&
          !nodeInRow(stored.hashes ?? undefined, stored.seq, node.level)?.equals(node.hash)
        )
          treeFault = `the stored audit tree disagrees with the entries at ${describeNode(node)}.`;
      });
    }
    // The earliest entry that fails is the one named: an awaited one before the row that stopped the loop.
    this.checker?.collect();
    const unsigned = awaited.find(
      ({ bytes, signature, verdict }) => verdict.valid !== true && !verify(null, bytes, key, signature),
    );
    failedAt = unsigned?.position ?? failedAt;
    if (failedAt !== null) {
      throw new CustosError(
        'AUDIT_VERIFY_FAILED',
        `No checkpoint was signed: entry ${failedAt} is missing, edited or not signed by the audit key.`,
        ['Run “custos audit verify” and keep this machine as it is; tell your security officer and auditor.'],
      );
    }
    if (treeFault || tree.size !== this.tip.size || !tree.root().equals(this.tip.root())) {
      this.problem = treeFault ?? 'the entries changed under the open log.';
      throw new CustosError('AUDIT_TREE_CORRUPT', `No checkpoint was signed: ${this.problem}`, TREE_REMEDY);
    }
  }
}

function signedSeq(entry: string): number | null {
  try {
    const seq: unknown = (JSON.parse(entry) as { seq?: unknown }).seq;
    return typeof seq === 'number' ? seq : null;
  } catch {
    return null;
  }
}

function firstDifference(
  stored: readonly { level: number; index: number; hash?: Buffer | undefined }[],
  computed: readonly EdgeNode[],
): EdgeNode {
  return computed.find((node, i) => !stored[i]?.hash?.equals(node.hash)) ?? computed[0]!;
}

/**
 * RFC 8785 canonical JSON of an entry, exactly `canonicalJson(entry)` (tested against it): the
 * top-level members and the object written in their sorted order, since every append pays for it;
 * the actor and the result, whose members vary, through the general canonicalizer.
 */
export function canonicalEntry(entry: AuditEntry): string {
  const object =
    entry.object && `{"id":${JSON.stringify(entry.object.id)},"type":${JSON.stringify(entry.object.type)}}`;
  return (
    `{"action":${JSON.stringify(entry.action)},"actor":${canonicalJson(entry.actor)},"object":${object ?? 'null'},` +
    `"params":${JSON.stringify(entry.params)},"result":${canonicalJson(entry.result)},` +
    `"seq":${JSON.stringify(entry.seq)},"time":${JSON.stringify(entry.time)},"v":${JSON.stringify(entry.v)}}`
  );
}

/**
 * A signed entry is permanent, so what names its object is cut to the lengths the viewer and the
 * verifier accept (shared/audit.ts AuditObject); the full value is still bound by the params hash.
 */
export function boundedObject(object: AuditObject): AuditObject {
  const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
  return { type: clip(object.type, 32), id: clip(object.id, 200) };
}
