import { canonicalJson } from '../canonical-json';
import { CustosError } from '../errors';
import type { Store } from '../store/database';
import { sql, type Sql } from '../store/sql';

/**
 * The tables whose rows the audit key signs together with the seq of the entry that recorded their state, and the
 * SQL that names one row. Constants only: no value is ever spliced into these statements.
 */
const SEALED = {
  keys: 'id',
  custodians: 'id',
  custody: 'id',
  destruction_schedules: 'CAST(id AS TEXT)',
  transport_recipients: 'fingerprint',
  backup_retirements: 'set_id',
  card_destructions: "set_id || '/' || share_index",
  key_origins: 'key_id',
} as const;

export type SealedTable = keyof typeof SEALED;

/** One signed record: its table and the name SEALED gives it. */
export interface RecordRef {
  table: SealedTable;
  id: string;
}

/**
 * Each signed record's latest state at a checkpoint, as the seq of the entry that recorded it, signed by the audit key
 * with the checkpoint and bound to its size. Open reads the entries a checkpoint covers only through its root, so the
 * entry that would show a record's latest state can be edited away under it (its signature breaks; only `audit
 * verify` reads every one): the heads still say which state is the latest, and that the record exists.
 */
export interface RecordHeads {
  /** The size of the checkpoint they were signed with: every head is an entry before it. */
  size: number;
  /** `table/id` → seq of the entry that recorded the row's latest state (null: a row from before rows were signed). */
  seqs: ReadonlyMap<string, number | null>;
}

export const recordName = (ref: RecordRef): string => `${ref.table}/${ref.id}`;

/** The records of one table that the heads name. */
export function namedIn(heads: RecordHeads, table: SealedTable): string[] {
  const prefix = `${table}/`;
  return [...heads.seqs.keys()].filter((name) => name.startsWith(prefix)).map((name) => name.slice(prefix.length));
}

function rowSeqs(store: Store): Map<string, number | null> {
  const seqs = new Map<string, number | null>();
  for (const [table, name] of Object.entries(SEALED)) {
    const statement: Sql = { text: `SELECT ${name} AS id, state_seq AS seq FROM ${table}`, params: [] };
    for (const row of store.iterate<{ id: string; seq: number | null }>(statement))
      seqs.set(`${table}/${row.id}`, row.seq);
  }
  return seqs;
}

/**
 * The heads at a new checkpoint of `size` entries. A record this process sealed since the previous heads counts as it
 * sealed it. One a row shows changed since then (a process that stopped before its checkpoint) counts as the row
 * says: entries after a checkpoint are verified at open and cannot be edited away unseen. Any other record keeps its
 * previous head whatever its row says now, so a row put back or deleted by a database writer is never signed into the
 * heads, and one that appeared claiming an older state is left out. The first heads take the rows as they are.
 */
export function nextHeads(
  store: Store,
  previous: RecordHeads | null,
  size: number,
  sealedHere: ReadonlyMap<string, number>,
): RecordHeads {
  const rows = rowSeqs(store);
  const seqs = new Map<string, number | null>();
  for (const name of new Set([...rows.keys(), ...(previous?.seqs.keys() ?? [])])) {
    const row = rows.get(name);
    const head =
      sealedHere.get(name) ??
      (previous === null || (typeof row === 'number' && row >= previous.size && row < size)
        ? row
        : previous.seqs.get(name));
    if (head !== undefined) seqs.set(name, head);
  }
  return { size, seqs };
}

/** The exact text the audit key signs: which log, at which size, and every head. */
export function headsDocument(origin: string, heads: RecordHeads): string {
  return canonicalJson({
    v: 1,
    purpose: 'record-heads',
    origin,
    size: heads.size,
    heads: Object.fromEntries(heads.seqs),
  });
}

/** The heads a document states, or null when it is not heads of this log at this size. */
export function parseHeads(document: string, origin: string, size: number): RecordHeads | null {
  try {
    const parsed = JSON.parse(document) as {
      v?: unknown;
      purpose?: unknown;
      origin?: unknown;
      size?: unknown;
      heads?: unknown;
    };
    if (parsed.v !== 1 || parsed.purpose !== 'record-heads' || parsed.origin !== origin || parsed.size !== size)
      return null;
    if (typeof parsed.heads !== 'object' || parsed.heads === null) return null;
    const seqs = new Map<string, number | null>();
    for (const [name, seq] of Object.entries(parsed.heads)) {
      if (seq !== null && (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0 || seq >= size)) return null;
      seqs.set(name, seq);
    }
    return { size, seqs };
  } catch {
    return null;
  }
}

/**
 * The heads of this open log: read (and checked) at open, signed again with every checkpoint. Records sealed by this
 * process count once the outermost transaction around their entry has committed; never when it is rolled back.
 */
export class SignedHeads {
  private heads: RecordHeads | null = null;
  private readonly sealedHere = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly origin: string,
  ) {}

  /** Whether this database keeps heads: a schema from before them (a test of an older installation) does not. */
  static kept(store: Store): boolean {
    return (
      store.get(sql`SELECT 1 AS yes FROM sqlite_schema WHERE type = 'table' AND name = 'record_heads'`) !== undefined
    );
  }

  /**
   * Reads the heads signed with the checkpoint of `size` entries. Once the audit token says heads are kept, missing or
   * unsigned heads keep the log closed (AUDIT_VERIFY_FAILED): without them a record's latest state cannot be told.
   * Heads that verify are used even before the token says so (a stop between their commit and the marker), rather
   * than begun again from the rows.
   */
  open(size: number, required: boolean, verify: (bytes: Buffer, signature: Buffer) => boolean): void {
    const row = this.store.get<{ document: string; signature: Buffer }>(
      sql`SELECT document, signature FROM record_heads WHERE tree_size = ${size}`,
    );
    const heads =
      row && verify(Buffer.from(row.document, 'utf8'), row.signature)
        ? parseHeads(row.document, this.origin, size)
        : null;
    if (!heads && !required) return;
    if (!heads)
      throw new CustosError(
        'AUDIT_VERIFY_FAILED',
        `The audit log was changed outside Custos: the signed states of its records kept with its latest checkpoint (${size} entries) were ${row ? 'changed' : 'removed'}. It stays closed, so nothing is decided from it.`,
        [
          'Keep this machine as it is and tell your security officer and auditor: the database file was written outside Custos.',
          'Restore the database that belongs with this audit token (the newest backup of the whole data directory).',
        ],
      );
    this.heads = heads;
  }

  /** Whether heads are known (false for a log from before them, until its next checkpoint). */
  get known(): boolean {
    return this.heads !== null;
  }

  /**
   * Called when a row is signed with `seq`, inside the transaction of the entry that will have that seq. Until the
   * outermost transaction commits, its row is what the next heads read (nothing else writes in between).
   */
  sealed(ref: RecordRef, seq: number): void {
    const name = recordName(ref);
    this.store.afterCommit(() => this.sealedHere.set(name, seq));
  }

  /** In the checkpoint's transaction: signs the heads at `size`; they become current once it has committed. */
  sign(size: number, sign: (bytes: Buffer) => Buffer): void {
    const heads = nextHeads(this.store, this.heads, size, this.sealedHere);
    const document = headsDocument(this.origin, heads);
    const signature = sign(Buffer.from(document, 'utf8'));
    this.store.execute(
      sql`INSERT OR REPLACE INTO record_heads (tree_size, document, signature) VALUES (${size}, ${document}, ${signature})`,
    );
    // Open needs the latest checkpoint's heads, or the one before it when the anchor lags a newer checkpoint that a
    // writer then deletes; older ones are never read again (thousands of records are hundreds of KB per checkpoint).
    if (this.heads) this.store.execute(sql`DELETE FROM record_heads WHERE tree_size < ${this.heads.size}`);
    this.store.afterCommit(() => {
      this.heads = heads;
      this.sealedHere.clear();
    });
  }

  /** What the signed heads say of this record: null while none are known. */
  head(ref: RecordRef): { size: number; seq: number | null | undefined } | null {
    return this.heads && { size: this.heads.size, seq: this.heads.seqs.get(recordName(ref)) };
  }

  /** The records of one table the signed heads name: each one a row of that table, unless deleted outside Custos. */
  named(table: SealedTable): string[] {
    return this.heads ? namedIn(this.heads, table) : [];
  }
}
