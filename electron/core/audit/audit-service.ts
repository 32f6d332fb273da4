import { randomBytes, verify, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { AuditActor, AuditStatus } from '../../../shared/audit';
import type { ModuleInfo, TokenRef } from '../../../shared/tokens';
import { canonicalJson, sha256Hex } from '../canonical-json';
import { CustosError, fileError, isCustosError } from '../errors';
import type { ModuleHost } from '../hsm/module-host';
import { keepTokenFile, prepareEmbeddedSoftHsm, SOFTHSM_LIBRARY_CANDIDATES } from '../hsm/softhsm';
import type { TokenModule } from '../hsm/token-module';
import type { Log } from '../log';
import { writeFileAtomic, type SecretVault, type VaultKind, type Vaults } from '../secret-vault';
import type { Settings } from '../settings/settings';
import type { Store } from '../store/database';
import { sql } from '../store/sql';
import { refuseTampered } from '../store/signed-state';
import { AuditAnchor, logExtends, rollback, verifiedCheckpoint, type AnchorCheckpoint } from './audit-anchor';
import { AuditKey, type AuditKeyRecord } from './audit-key';
import { AuditLog, type AuditEvent, type StoredCheckpoint } from './audit-log';
import { ed25519PublicKeyObject, verifierKeyString, type NoteKey } from './checkpoint';
import { SignedHeads, type RecordRef, type SealedTable } from './record-heads';
import pkcs11js from 'pkcs11js';
import { findObjects } from '../hsm/find-objects';
import { adoptCopy, placeInstallation } from '../placement/placement';
import {
  DECLARED_FORMATS,
  declaredFormat,
  FORMAT_ENTRY,
  formatEntry,
  keyCreationParams,
  REPORT_FORMAT,
} from './report-format';
import { signedEntries, signedEntryAt } from './signed-entries';

/**
 * A private data object in the audit token saying the installation was set up (its first security
 * officer enrolled, or custodian state sealed): a database writer cannot remove it, so emptying the
 * custodians table never opens a second "first officer" setup.
 */
/**
 * One-time facts the audit token keeps, where a writer of the database file cannot remove them: the installation was
 * set up (its first officer enrolled, or its older custodians signed once), and the latest CRLs from before CRLs were
 * recorded in the log have been recorded once. A one-time step guarded only by rows of the log could be run again by a
 * writer who edits those rows (their signatures break, but only `audit verify` reads them all): it would then sign a
 * record the writer chose. And the log keeps signed record heads with its checkpoints (SignedHeads): from then on,
 * heads missing from the database were removed, not never written.
 */
type TokenMarker =
  'custos-installation-setup' | 'custos-crls-recorded' | 'custos-certificates-recorded' | 'custos-record-heads';
const marker = (application: TokenMarker): pkcs11js.Template => [
  { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
  { type: pkcs11js.CKA_TOKEN, value: true },
  { type: pkcs11js.CKA_APPLICATION, value: application },
];

/** A checkpoint is signed at least this often, so a deleted tail is never longer than this. */
export const CHECKPOINT_EVERY = 1000;

export interface AuditServiceOptions {
  dataDir: string;
  store: Store;
  settings: Settings;
  host: ModuleHost;
  /** The vaults this front end can open; the desktop app has the OS keystore, the CLI only the file. */
  vaults: Vaults;
  /** Where a new audit token's PIN goes. */
  preferredVault: VaultKind;
  log: Log;
  softHsmCandidates?: readonly string[];
  clock?: () => Date;
}

/**
 * Owns the audit key and the log. Opens (or, on first run, provisions) the audit token in the
 * embedded SoftHSM2 store. When that is impossible the service is "unavailable" and every
 * action that needs an entry is refused, so nothing happens unrecorded.
 */
export class AuditService {
  private key: AuditKey | null = null;
  private module: TokenModule | null = null;
  private current: AuditLog | null = null;
  private verifyingKey: { publicKey: Buffer; object: KeyObject } | null = null;
  private failure: CustosError | null = null;
  private anchor: AuditAnchor | null = null;
  /** The key the token proved at open; kept when the log then fails its anchor, so verify can use it. */
  private proven: NoteKey | null = null;
  /** The anchors read at open (token, copy): checkpoints from outside the database for the live verify. */
  private anchorNotes: string[] = [];
  private appendsSinceCheckpoint = 0;
  /** Each signed record's latest state, signed with the checkpoints of the open log. */
  private heads: SignedHeads | null = null;
  private headsMarked = false;

  constructor(private readonly options: AuditServiceOptions) {
    this.start();
  }

  private start(): void {
    try {
      this.open();
    } catch (error) {
      this.failure = isCustosError(error)
        ? error
        : new CustosError('AUDIT_UNAVAILABLE', 'The audit log could not be opened.', [], { cause: error });
      this.options.log.error('audit log unavailable', { code: this.failure.code });
      this.close();
    }
  }

  /**
   * The operator's decision that this copied data directory is the installation from now on
   * (DATA_DIR_COPIED): the log opens and records it. Null when the directory was not refused as a copy.
   */
  adoptCopy(): { from: string; to: string } | null {
    if (this.failure?.code !== 'DATA_DIR_COPIED') return null;
    const from = adoptCopy(this.options.dataDir, this.installationId());
    if (from === null) return null;
    this.failure = null;
    this.start();
    this.log();
    return { from, to: realpathSync(this.options.dataDir) };
  }

  get origin(): string {
    return `custos.local/audit/${this.installationId()}`;
  }

  status(): AuditStatus {
    if (this.current && this.key) {
      return {
        state: 'ready',
        origin: this.current.origin,
        keyId: this.key.record.keyId,
        token: this.key.record.token,
        size: this.current.size(),
      };
    }
    const failure = this.failure ?? new CustosError('AUDIT_UNAVAILABLE', 'The audit log is not open.');
    return {
      state: 'unavailable',
      code: failure.code,
      message: `The audit log is unavailable, so Custos refuses every action that must be recorded. ${failure.message}`,
      remedy: [...failure.remedy],
    };
  }

  /** The log, or AUDIT_UNAVAILABLE: callers that change anything must go through here. */
  log(): AuditLog {
    if (this.current) return this.current;
    const status = this.status();
    // A rolled-back or forged log or a copied data directory says so in every refusal, not just "unavailable".
    const failure = this.failure?.code;
    const code =
      failure === 'AUDIT_ROLLBACK' || failure === 'AUDIT_VERIFY_FAILED' || failure === 'DATA_DIR_COPIED'
        ? failure
        : 'AUDIT_UNAVAILABLE';
    throw new CustosError(
      code,
      status.state === 'unavailable' ? status.message : 'The audit log is not open.',
      status.state === 'unavailable' ? status.remedy : [],
    );
  }

  record<T = void>(event: AuditEvent, change?: () => T): T {
    const { value } = this.log().record(event, change);
    this.counted(1);
    return value;
  }

  /** A row was signed with the seq of the entry now being recorded (see SignedHeads). */
  sealed(ref: RecordRef, seq: number): void {
    this.heads?.sealed(ref, seq);
  }

  /**
   * What the heads signed with the latest checkpoint say of this record: the seq of its latest state then, or undefined
   * when it did not exist. Null while the log is closed, or keeps no heads yet (a log from before them).
   */
  recordHead(ref: RecordRef): { size: number; seq: number | null | undefined } | null {
    return this.heads?.head(ref) ?? null;
  }

  /** The records of one table the signed heads name: each still has its row, unless deleted outside Custos. */
  recordsNamed(table: SealedTable): string[] {
    return this.heads?.named(table) ?? [];
  }

  /**
   * For reads and refusals: written (group-committed) whenever the log is open. When it is not,
   * the read still answers, and the unavailable log is shown everywhere instead.
   */
  async tryRecord(event: AuditEvent): Promise<void> {
    if (!this.current) return;
    try {
      await this.current.append(event);
      this.counted(1);
    } catch (error) {
      this.options.log.error('could not record an audit entry', {
        action: event.action,
        code: isCustosError(error) ? error.code : 'INTERNAL',
      });
    }
  }

  auditToken(): TokenRef | null {
    return this.key?.record.token ?? this.activeKeyRecord()?.token ?? null;
  }

  /** The public key as on record (even when the token is unavailable): what verification trusts by default. */
  noteKey(): NoteKey | null {
    const record = this.activeKeyRecord();
    return record ? { name: record.name, publicKey: record.publicKey } : null;
  }

  publicKeyPem(): string {
    const key = this.noteKey();
    if (!key) throw new CustosError('AUDIT_UNAVAILABLE', 'No audit key has been created yet.');
    return ed25519PublicKeyObject(key.publicKey).export({ format: 'pem', type: 'spki' }).toString();
  }

  verifierKey(): string {
    const key = this.noteKey();
    if (!key) throw new CustosError('AUDIT_UNAVAILABLE', 'No audit key has been created yet.');
    return verifierKeyString(key);
  }

  /**
   * Signs a document Custos produced (a backup manifest, a report) with the audit key: Ed25519
   * over its exact bytes, so `openssl pkeyutl -verify -rawin` checks it with the exported key.
   */
  signDocument(bytes: Buffer): Buffer {
    this.log();
    return this.key!.sign(bytes);
  }

  /**
   * Whether the audit token says this installation was set up; throws AUDIT_UNAVAILABLE when it cannot be asked. Once
   * it does, no record from before records were signed is ever signed (sealed) again.
   */
  installationSetUp(): boolean {
    return this.hasMarker('custos-installation-setup');
  }

  /** Records in the audit token, for good, that the installation was set up. */
  markInstallationSetUp(): void {
    this.setMarker('custos-installation-setup');
  }

  /** Whether the latest CRLs from before CRLs were recorded in the log have been recorded (or there were none). */
  crlsRecorded(): boolean {
    return this.hasMarker('custos-crls-recorded');
  }

  markCrlsRecorded(): void {
    this.setMarker('custos-crls-recorded');
  }

  /** Whether the certificates kept before each was recorded in the log have been recorded (or there were none). */
  certificatesRecorded(): boolean {
    return this.hasMarker('custos-certificates-recorded');
  }

  markCertificatesRecorded(): void {
    this.setMarker('custos-certificates-recorded');
  }

  private hasMarker(application: TokenMarker): boolean {
    this.log();
    return this.tokenHas(application);
  }

  private tokenHas(application: TokenMarker): boolean {
    return this.key!.inSession(
      'Reading a marker',
      (session, lib) => findObjects(lib, session, marker(application)).length > 0,
    );
  }

  private setMarker(application: TokenMarker): void {
    this.log();
    this.key!.inSession('Marking the audit token', (session, lib) => {
      if (findObjects(lib, session, marker(application)).length > 0) return;
      lib.C_CreateObject(session, [
        ...marker(application),
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_LABEL, value: application },
        { type: pkcs11js.CKA_VALUE, value: Buffer.from(this.origin, 'utf8') },
      ]);
    });
  }

  /** Whether this installation's audit key (as on record) signed exactly these bytes. */
  verifyDocument(bytes: Buffer, signature: Buffer): boolean {
    const key = this.noteKey();
    if (key === null || signature.length !== 64) return false;
    // The key object is made once per key: making it for every check cost more than half of each verification.
    if (!this.verifyingKey?.publicKey.equals(key.publicKey))
      this.verifyingKey = { publicKey: key.publicKey, object: ed25519PublicKeyObject(key.publicKey) };
    return verify(null, bytes, this.verifyingKey.object, signature);
  }

  /** The PKCS#11 module holding the audit key, as it describes itself (null while unavailable). */
  moduleInfo(): ModuleInfo | null {
    return this.module?.info() ?? null;
  }

  /** The key the audit token proved it holds when the log opened: the default trust for verification. */
  provenKey(): NoteKey | null {
    return this.proven;
  }

  /** Why the log must fail verification whatever its entries say: rolled back, or another key in the token. */
  finding(): CustosError | null {
    return this.failure && ['AUDIT_ROLLBACK', 'AUDIT_KEY_MISMATCH'].includes(this.failure.code) ? this.failure : null;
  }

  /** The anchored checkpoints (token, copy) read at open, for the live verify to trust. */
  anchors(): string[] {
    return [...this.anchorNotes];
  }

  /**
   * Signs a checkpoint of the whole log and makes it the anchor. Inside a transaction the anchor
   * waits for the commit: it may lag the database after a crash, never lead it.
   */
  checkpoint(reason: string): StoredCheckpoint {
    const stored = this.signCheckpoint(this.log(), reason);
    this.appendsSinceCheckpoint = 0;
    if (this.options.store.inTransaction) setImmediate(() => this.anchorLatest());
    else this.anchorLatest();
    return stored;
  }

  /** The checkpoint and, in its transaction, the record heads at its size. */
  private signCheckpoint(log: AuditLog, reason: string): StoredCheckpoint {
    const heads = this.heads;
    const stored = log.checkpoint(reason, (size) => heads?.sign(size, (bytes) => this.key!.sign(bytes)));
    this.markHeads();
    return stored;
  }

  /** Once heads are committed, the token says so for good. */
  private markHeads(): void {
    if (this.headsMarked || !this.heads?.known) return;
    if (this.options.store.inTransaction) {
      setImmediate(() => this.markHeads());
      return;
    }
    try {
      this.setMarker('custos-record-heads');
      this.headsMarked = true;
    } catch (error) {
      // The heads are committed; the next checkpoint marks the token.
      this.options.log.error('could not mark the audit token', {
        code: isCustosError(error) ? error.code : 'INTERNAL',
      });
    }
  }

  /**
   * Sets (or, with null, stops) the second place the latest checkpoint is kept, e.g. a file on
   * removable media; recorded, and written at once so it is never behind from the start.
   */
  setAnchorCopy(path: string | null, actor: AuditActor): { path: string | null } {
    // A folder or a pipe where the file goes would fail every copy, and keep the log closed at the next open.
    const usable = (p: string) =>
      isAbsolute(p) &&
      existsSync(dirname(p)) &&
      statSync(dirname(p)).isDirectory() &&
      (!existsSync(p) || statSync(p).isFile());
    if (path !== null && !usable(path)) {
      this.record({
        actor,
        action: 'audit.anchor.copy',
        params: { path },
        result: { status: 'refused', code: 'IPC_INVALID_PAYLOAD' },
      });
      throw new CustosError(
        'IPC_INVALID_PAYLOAD',
        'The checkpoint copy needs an absolute file path in a folder that exists, not a folder, device or pipe.',
        ['Attach the removable medium and give the full path, e.g. /media/usb/custos-checkpoint.txt.'],
      );
    }
    // The copy is written before anything is recorded. Before, a copy that could not be written (a full medium) was
    // only logged: the command said the checkpoint was kept there, and the next open found none and noted it missing.
    const latest = path === null ? null : this.latestCheckpoint();
    try {
      if (path !== null && latest) writeFileAtomic(path, latest.note, 0o600);
    } catch (error) {
      const failure = isCustosError(error) ? error : (fileError(error) ?? error);
      const code = isCustosError(failure) ? failure.code : 'INTERNAL';
      this.record({ actor, action: 'audit.anchor.copy', params: { path }, result: { status: 'refused', code } });
      throw failure;
    }
    this.record({ actor, action: 'audit.anchor.copy', params: { path } }, () =>
      this.options.settings.set('audit.anchorCopy', path),
    );
    // A new checkpoint covers the entry just recorded; anchoring it writes the token and the copy.
    if (path !== null) this.checkpoint('checkpoint copy set');
    return { path };
  }

  /**
   * The checkpoint copy as the latest `audit.anchor.copy` entry recorded it. The setting is signed by nothing, so it
   * counts only when it hashes to that signed entry's params: a path nobody recorded is never written to, and a copy
   * turned off (or an older one put back) outside Custos is refused, not silently dropped.
   */
  anchorCopy(): string | null {
    const path = this.options.settings.get('audit.anchorCopy');
    const latest = this.options.store.get<{ entry: string; signature: Buffer }>(sql`
      SELECT entry, signature FROM audit_entries
      WHERE action = 'audit.anchor.copy' AND result = 'ok' ORDER BY seq DESC LIMIT 1`);
    if (!latest && path === null) return null;
    const entry = latest
      ? (JSON.parse(latest.entry) as { action: string; params: string | null; result: { status: string } })
      : null;
    const recorded =
      latest !== undefined &&
      entry?.action === 'audit.anchor.copy' &&
      entry.result.status === 'ok' &&
      entry.params === sha256Hex(canonicalJson({ path })) &&
      this.verifyDocument(Buffer.from(latest.entry, 'utf8'), latest.signature);
    if (recorded) return path;
    return refuseTampered(
      this,
      'SETTING_TAMPERED',
      { type: 'setting', id: 'audit.anchorCopy' },
      'The checkpoint copy setting',
      'forged',
      'audit.anchor.copy.tampered',
    );
  }

  close(): void {
    const log = this.current;
    log?.close();
    this.markHeads();
    // Whatever was recorded since the last checkpoint is covered before Custos stops.
    if (log && this.anchor && log.size() > (this.latestCheckpoint()?.size ?? 0)) {
      try {
        this.checkpoint('Custos closed');
      } catch (error) {
        this.options.log.error('could not sign the closing checkpoint', {
          code: isCustosError(error) ? error.code : 'INTERNAL',
        });
      }
    }
    this.key?.close();
    this.key = null;
    this.current = null;
    this.anchor = null;
    this.heads = null;
    if (this.module) this.options.host.release(this.module);
    this.module = null;
  }

  private open(): void {
    // Before the SoftHSM2 configuration is rewritten for this location: a copy must not open its token.
    const placement = placeInstallation(this.options.dataDir, this.installationId());
    this.openLog();
    if (placement.change) {
      const { kind, from, to } = placement.change;
      // The object is where the installation was before; the hashed params also bind where it is now.
      const action = kind === 'moved' ? 'installation.move' : 'installation.adopt-copy';
      this.record({ actor: SYSTEM, action, object: { type: 'data-dir', id: from.slice(-200) }, params: { from, to } });
    }
    placement.settle();
  }

  private openLog(): void {
    const embedded = prepareEmbeddedSoftHsm(
      this.options.dataDir,
      this.options.softHsmCandidates ?? SOFTHSM_LIBRARY_CANDIDATES,
    );
    const record = this.activeKeyRecord();
    // Before the library reads the token: a start cut off while SoftHSM2 rewrote the audit token's file left it empty.
    const restored = record ? keepTokenFile(embedded.tokenDir, record.token.serial) === 'restored' : false;
    this.module = this.options.host.acquire(embedded.modulePath, 'embedded-softhsm');
    const marker = join(this.options.dataDir, PROVISIONING_MARKER);
    if (record) {
      rmSync(marker, { force: true });
      this.key = AuditKey.open(this.module, this.recordedVault(), record);
      this.proven = this.key.noteKey;
      this.openExisting(this.key);
      if (restored)
        this.record({
          actor: SYSTEM,
          action: 'audit.token.file-restored',
          object: { type: 'token', id: record.token.serial },
          params: { file: 'token.object', cause: 'empty or cut short, as a start stopped mid-login leaves it' },
        });
      return;
    }
    // A log without its key: the key record was removed. Never start a new log over an old one.
    const entries = this.options.store.get<{ n: number }>(sql`SELECT count(*) AS n FROM audit_entries`)!.n;
    if (entries > 0)
      throw rollback(
        `This database holds ${entries} audit entries but no audit key on record: its key record was removed.`,
      );
    const kind = this.options.preferredVault;
    const vault = this.options.vaults[kind]!;
    // A PIN with no key on record is a database replaced without it, unless this database says its own first start
    // stopped while setting the audit token up (the PIN is stored first): then that setup is begun again. Before, such
    // a crash left a new installation refused at every start, as if its database had been replaced. The same time is
    // also in a file beside the PIN, which someone with the database file alone cannot write: the setting alone, in
    // an empty database swapped in, started a new log and overwrote the PIN of the old token.
    const begun = this.options.settings.get('audit.provisioning');
    const interrupted = begun !== null && existsSync(marker) && readFileSync(marker, 'utf8') === begun;
    if (vault.load() !== null && !interrupted) {
      throw new CustosError(
        'AUDIT_UNAVAILABLE',
        'An audit token PIN exists, but this database has no audit key: the database may have been replaced or restored without it.',
        [
          'Restore the database that belongs with this data directory.',
          'To start a new audit log on purpose, move the audit-token PIN file out of the data directory first (keep it: it opens the old audit token).',
        ],
      );
    }
    const now = (this.options.clock ?? (() => new Date()))();
    writeFileAtomic(marker, now.toISOString(), 0o600);
    this.options.settings.set('audit.provisioning', now.toISOString());
    const key = AuditKey.provision(
      this.module,
      vault,
      this.origin,
      `Custos audit ${this.installationId().slice(0, 8)}`,
      now,
    );
    this.key = key;
    this.proven = key.noteKey;
    const anchor = new AuditAnchor(key, () => this.anchorCopy());
    this.anchor = anchor;
    this.current = new AuditLog(this.options.store, key, this.origin, this.options.clock);
    this.heads = SignedHeads.kept(this.options.store) ? new SignedHeads(this.options.store, this.origin) : null;
    this.headsMarked = false;
    // The key record, the vault it uses, the entry that says so and the first checkpoint commit
    // together: a key on record without a checkpoint is never a fresh start, always a finding.
    const log = this.current;
    this.options.store.transaction(() => {
      log.record(
        {
          actor: SYSTEM,
          action: 'audit.key.create',
          object: { type: 'token', id: `${key.record.token.serial}/${key.record.token.label}` },
          // Says from its first entry which report format this installation writes (report-format.ts).
          params: keyCreationParams(key.record.keyId, kind),
        },
        () => {
          this.insertKeyRecord(key.record);
          this.options.settings.set('audit.vault', kind);
          this.options.settings.set('audit.provisioning', null);
        },
      );
      const first = this.signCheckpoint(log, 'audit key created');
      // In the transaction: the entry says the token keeps an anchor, so a crash after its commit must leave one.
      anchor.advance(verifiedCheckpoint(first.note, key.noteKey)!);
    });
    rmSync(marker, { force: true });
    this.markHeads();
    this.anchorLatest();
    // The copy a start cut off mid-login brings the token back from, taken now the token holds its PIN and key.
    keepTokenFile(embedded.tokenDir, key.record.token.serial);
  }

  /**
   * Opens the log of an existing key. It must extend the anchors (token, copy) and its own latest
   * signed checkpoint; otherwise it stays closed (AUDIT_ROLLBACK) and nothing is recorded. Every
   * entry no checkpoint covers yet must verify, and no row may stand outside the sequence; otherwise
   * it stays closed the same way (AUDIT_VERIFY_FAILED).
   */
  private openExisting(key: AuditKey): void {
    const log = new AuditLog(this.options.store, key, this.origin, this.options.clock);
    const anchor = new AuditAnchor(key, () => this.anchorCopy());
    const anchored = anchor.readToken();
    const copy = anchor.readCopy();
    this.anchorNotes = [anchored, copy].filter((c): c is AnchorCheckpoint => c !== null).map((c) => c.note);
    anchor.check(log, anchored, copy);
    const latest = this.latestCheckpoint();
    if (!latest) {
      throw rollback(
        `This database holds an audit key and ${log.size()} entries but no signed checkpoint: its checkpoints were removed.`,
      );
    }
    // The anchor may lag the database's checkpoints, never lead them: one that leads means checkpoints were deleted
    // (and the open check would then verify every entry since the oldest one left).
    if (anchored && anchored.size > latest.size) {
      throw rollback(
        `The audit log's checkpoints were removed: the checkpoint kept in the audit token covers ${anchored.size} entries, the database's latest only ${latest.size}.`,
      );
    }
    // A token without the anchor is a data directory from before the anchor existed, unless the log says otherwise: its
    // anchor was created (audit.anchor.create), or it was made or opened by a release that keeps one (the report format
    // it declares). Then the anchor was removed, as a database put back to an older copy needs: opening it would
    // anchor that copy instead.
    const declared = this.declaredReportFormat(key);
    if (!anchored && (declared !== null || this.anchorOnRecord())) {
      throw rollback(
        'The checkpoint kept in the audit token is missing, though the signed log says it was kept there: it was removed, ' +
          'as putting back an older copy of the database would need.',
      );
    }
    if (!logExtends(log, latest)) {
      throw rollback(
        `The audit log was rolled back: its latest checkpoint covers ${latest.size} entries, which the log no longer holds as signed.`,
      );
    }
    // What no checkpoint covers yet must be what the audit key signed: rows added outside Custos count for nothing.
    log.checkOpened();
    const heads = SignedHeads.kept(this.options.store) ? new SignedHeads(this.options.store, this.origin) : null;
    this.headsMarked = this.tokenHas('custos-record-heads');
    heads?.open(latest.size, this.headsMarked, (bytes, signature) => this.verifyDocument(bytes, signature));
    this.heads = heads;
    this.anchor = anchor;
    this.current = log;
    this.appendsSinceCheckpoint = log.size() - latest.size;
    // The token keeps its anchor before any entry says it does: a crash in between must not read as a removed anchor.
    if (!anchored) anchor.advance(latest);
    if (declared !== REPORT_FORMAT) this.record({ actor: SYSTEM, ...FORMAT_ENTRY });
    const copyPath = this.anchorCopy();
    if (copyPath !== null && copy === null) {
      // Removable media may be detached: the log opens, but says the copy was not there to check it against.
      this.options.log.warn('the checkpoint copy is missing', { code: 'FILE_NOT_FOUND' });
      void this.tryRecord({
        actor: SYSTEM,
        action: 'audit.anchor.copy.missing',
        object: { type: 'file', id: copyPath },
        result: { status: 'failed', code: 'FILE_NOT_FOUND' },
      });
    }
    if (!anchored) {
      // A data directory from before the anchor existed: anchor its latest verified checkpoint now.
      this.record({
        actor: SYSTEM,
        action: 'audit.anchor.create',
        object: { type: 'token', id: `${key.record.token.serial}/${key.record.token.label}` },
        params: { from: latest.size },
      });
      this.checkpoint('audit anchor created');
    } else if (heads && !heads.known) {
      // A log from before record heads: they begin with the records as they are now.
      this.record({ actor: SYSTEM, action: 'audit.heads.create', params: { from: latest.size } });
      this.checkpoint('record heads begun');
    } else {
      this.anchorLatest();
      this.markHeads();
    }
  }

  /** Whether the signed log records that the audit token's anchor was created (an installation from before it). */
  private anchorOnRecord(): boolean {
    return signedEntries(this.options.store, this, { action: 'audit.anchor.create', anyObject: true }).length > 0;
  }

  /**
   * The newest report format the signed log says this installation writes, or null: in its key's creation entry, or in
   * the `report.format` entry an older installation records once at its first open by code that writes that format.
   */
  private declaredReportFormat(key: AuditKey): number | null {
    const first = signedEntryAt(this.options.store, this, 0);
    const declared = first ? [declaredFormat(first, key.noteKey)] : [];
    for (const format of DECLARED_FORMATS) {
      const { action, object } = formatEntry(format);
      const entries = signedEntries(this.options.store, this, { action, object: `${object.type}:${object.id}` });
      declared.push(...entries.map((e) => declaredFormat(e, key.noteKey)));
    }
    const formats = declared.filter((f): f is number => f !== null);
    return formats.length > 0 ? Math.max(...formats) : null;
  }

  /**
   * The checkpoints in the database that the audit key signed for this log, each once, by size: what a count of
   * checkpoints may state (a row copied or added counts for nothing).
   */
  signedCheckpoints(): AnchorCheckpoint[] {
    const key = this.proven;
    if (!key) return [];
    const bySize = new Map<number, AnchorCheckpoint>();
    for (const { note } of this.options.store.iterate<{ note: string }>(sql`SELECT note FROM audit_checkpoints`)) {
      const checkpoint = verifiedCheckpoint(note, key);
      if (checkpoint && !bySize.has(checkpoint.size)) bySize.set(checkpoint.size, checkpoint);
    }
    return [...bySize.values()].sort((a, b) => a.size - b.size);
  }

  /** The newest checkpoint in the database that the audit key signed for this log. */
  private latestCheckpoint(): AnchorCheckpoint | null {
    const key = this.proven;
    if (!key) return null;
    for (const { note } of this.options.store.iterate<{ note: string }>(
      sql`SELECT note FROM audit_checkpoints ORDER BY id DESC`,
    )) {
      const checkpoint = verifiedCheckpoint(note, key);
      if (checkpoint) return checkpoint;
    }
    return null;
  }

  /** Makes the newest committed checkpoint the anchor (and its copy) when the log extends it. */
  private anchorLatest(): void {
    const log = this.current;
    const anchor = this.anchor;
    if (!log || !anchor) return;
    const latest = this.latestCheckpoint();
    if (!latest || !logExtends(log, latest)) return;
    try {
      if (!anchor.advance(latest)) return;
      this.anchorNotes = [latest.note];
    } catch (error) {
      // The checkpoint is committed; the anchor lags until the next one succeeds.
      this.options.log.error('could not update the audit anchor in the token', {
        code: isCustosError(error) ? error.code : 'INTERNAL',
      });
      return;
    }
    try {
      anchor.copy(latest);
    } catch (error) {
      this.options.log.warn('could not write the checkpoint copy', {
        code: isCustosError(error) ? error.code : 'INTERNAL',
      });
    }
  }

  /** Signs a checkpoint every CHECKPOINT_EVERY entries, once no transaction is open. */
  private counted(appended: number): void {
    this.appendsSinceCheckpoint += appended;
    if (this.appendsSinceCheckpoint < CHECKPOINT_EVERY || this.options.store.inTransaction) return;
    try {
      this.checkpoint(`every ${CHECKPOINT_EVERY} entries`);
    } catch (error) {
      // The entry is committed; the next append tries again.
      this.options.log.error('could not sign the periodic checkpoint', {
        code: isCustosError(error) ? error.code : 'INTERNAL',
      });
    }
  }

  /** The vault the audit token was provisioned with; a front end that cannot open it says so. */
  private recordedVault(): SecretVault {
    const kind = this.options.settings.get('audit.vault') ?? 'file';
    const vault = this.options.vaults[kind];
    if (vault) return vault;
    throw new CustosError(
      'AUDIT_UNAVAILABLE',
      kind === 'os-keystore'
        ? 'The audit token’s PIN is sealed in the desktop app’s OS keystore, which this command cannot open.'
        : 'The audit token’s PIN is in a file this front end does not use.',
      [
        'Run the commands that sign audit entries from the Custos desktop app; verification (custos audit verify) works here without the PIN.',
      ],
    );
  }

  private installationId(): string {
    let id = this.options.settings.get('installation.id');
    if (!id) {
      id = randomBytes(8).toString('hex');
      this.options.settings.set('installation.id', id);
    }
    return id;
  }

  private activeKeyRecord(): AuditKeyRecord | null {
    const row = this.options.store.get<{
      key_id: string;
      name: string;
      public_key: Buffer;
      token_serial: string;
      token_label: string;
      cka_id: Buffer;
      created_at: string;
    }>(
      // The first key on record: a row added later (triggers allow INSERT) cannot replace it.
      sql`SELECT key_id, name, public_key, token_serial, token_label, cka_id, created_at FROM audit_keys ORDER BY rowid LIMIT 1`,
    );
    if (!row) return null;
    return {
      keyId: row.key_id,
      name: row.name,
      publicKey: row.public_key,
      token: { serial: row.token_serial, label: row.token_label },
      ckaId: row.cka_id,
      createdAt: row.created_at,
    };
  }

  private insertKeyRecord(record: AuditKeyRecord): void {
    this.options.store.execute(sql`
      INSERT INTO audit_keys (key_id, name, public_key, token_serial, token_label, cka_id, created_at)
      VALUES (${record.keyId}, ${record.name}, ${record.publicKey}, ${record.token.serial}, ${record.token.label}, ${record.ckaId}, ${record.createdAt})`);
  }
}

export const SYSTEM: AuditActor = { type: 'system', id: 'system' };

/** Beside the PIN while the audit token is set up: with `audit.provisioning`, a first start that stopped part-way. */
const PROVISIONING_MARKER = 'audit-provisioning';
