import { randomBytes, verify } from 'node:crypto';
import type { AuditActor, AuditStatus } from '../../../shared/audit';
import type { ModuleInfo, TokenRef } from '../../../shared/tokens';
import { CustosError, isCustosError } from '../errors';
import type { ModuleHost } from '../hsm/module-host';
import { prepareEmbeddedSoftHsm, SOFTHSM_LIBRARY_CANDIDATES } from '../hsm/softhsm';
import type { TokenModule } from '../hsm/token-module';
import type { Log } from '../log';
import type { SecretVault, VaultKind, Vaults } from '../secret-vault';
import type { Settings } from '../settings/settings';
import type { Store } from '../store/database';
import { sql } from '../store/sql';
import { AuditKey, type AuditKeyRecord } from './audit-key';
import { AuditLog, type AuditEvent } from './audit-log';
import { ed25519PublicKeyObject, verifierKeyString, type NoteKey } from './checkpoint';


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
  private failure: CustosError | null = null;

  constructor(private readonly options: AuditServiceOptions) {
    try {
      this.open();
    } catch (error) {
      this.failure = isCustosError(error)
        ? error
        : new CustosError('AUDIT_UNAVAILABLE', 'The audit log could not be opened.', [], { cause: error });
      options.log.error('audit log unavailable', { code: this.failure.code });
      this.close();
    }
  }

  get origin(): string {
    return `custos.local/audit/${this.installationId()}`;
  }

  status(): AuditStatus {
    if (this.current && this.key) {
      return { state: 'ready', origin: this.current.origin, keyId: this.key.record.keyId, token: this.key.record.token, size: this.current.size() };
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
    throw new CustosError('AUDIT_UNAVAILABLE', status.state === 'unavailable' ? status.message : 'The audit log is not open.', status.state === 'unavailable' ? status.remedy : []);
  }

  record<T = void>(event: AuditEvent, change?: () => T): T {
    return this.log().record(event, change).value;
  }

  /**
   * For reads and refusals: written (group-committed) whenever the log is open. When it is not,
   * the read still answers, and the unavailable log is shown everywhere instead.
   */
  async tryRecord(event: AuditEvent): Promise<void> {
    if (!this.current) return;
    try {
      await this.current.append(event);
    } catch (error) {
      this.options.log.error('could not record an audit entry', { action: event.action, code: isCustosError(error) ? error.code : 'INTERNAL' });
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

  /** Whether this installation's audit key (as on record) signed exactly these bytes. */
  verifyDocument(bytes: Buffer, signature: Buffer): boolean {
    const key = this.noteKey();
    return key !== null && signature.length === 64 && verify(null, bytes, ed25519PublicKeyObject(key.publicKey), signature);
  }

  /** The PKCS#11 module holding the audit key, as it describes itself (null while unavailable). */
  moduleInfo(): ModuleInfo | null {
    return this.module?.info() ?? null;
  }

  /** The key the audit token proved it holds when the log opened: the default trust for verification. */
  provenKey(): NoteKey | null {
    return this.key?.noteKey ?? null;
  }

  close(): void {
    this.current?.close();
    this.key?.close();
    this.key = null;
    this.current = null;
    if (this.module) this.options.host.release(this.module);
    this.module = null;
  }

  private open(): void {
    const embedded = prepareEmbeddedSoftHsm(this.options.dataDir, this.options.softHsmCandidates ?? SOFTHSM_LIBRARY_CANDIDATES);
    this.module = this.options.host.acquire(embedded.modulePath, 'embedded-softhsm');
    const record = this.activeKeyRecord();
    if (record) {
      this.key = AuditKey.open(this.module, this.recordedVault(), record);
      this.current = new AuditLog(this.options.store, this.key, this.origin, this.options.clock);
    } else {
      const kind = this.options.preferredVault;
      const vault = this.options.vaults[kind]!;
      if (vault.load() !== null) {
        throw new CustosError('AUDIT_UNAVAILABLE', 'An audit token PIN exists, but this database has no audit key: the database may have been replaced or restored without it.', [
          'Restore the database that belongs with this data directory.',
          'To start a new audit log on purpose, move the audit-token PIN file out of the data directory first (keep it: it opens the old audit token).',
        ]);
      }
      const key = AuditKey.provision(this.module, vault, this.origin, `Custos audit ${this.installationId().slice(0, 8)}`);
      this.key = key;
      this.current = new AuditLog(this.options.store, key, this.origin, this.options.clock);
      // The key record, the vault it uses and the entry that says so commit together.
      this.current.record(
        { actor: SYSTEM, action: 'audit.key.create', object: { type: 'token', id: `${key.record.token.serial}/${key.record.token.label}` }, params: { keyId: key.record.keyId, vault: kind } },
        () => {
          this.insertKeyRecord(key.record);
          this.options.settings.set('audit.vault', kind);
        },
      );
    }
    if (this.current.checkpoints().length === 0) this.current.checkpoint('audit key created');
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
      ['Run the commands that sign audit entries from the Custos desktop app; verification (custos audit verify) works here without the PIN.'],
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
    const row = this.options.store.get<{ key_id: string; name: string; public_key: Buffer; token_serial: string; token_label: string; cka_id: Buffer; created_at: string }>(
      // The first key on record: a row added later (triggers allow INSERT) cannot replace it.
      sql`SELECT key_id, name, public_key, token_serial, token_label, cka_id, created_at FROM audit_keys ORDER BY rowid LIMIT 1`,
    );
    if (!row) return null;
    return { keyId: row.key_id, name: row.name, publicKey: row.public_key, token: { serial: row.token_serial, label: row.token_label }, ckaId: row.cka_id, createdAt: row.created_at };
  }

  private insertKeyRecord(record: AuditKeyRecord): void {
    this.options.store.execute(sql`
      INSERT INTO audit_keys (key_id, name, public_key, token_serial, token_label, cka_id, created_at)
      VALUES (${record.keyId}, ${record.name}, ${record.publicKey}, ${record.token.serial}, ${record.token.label}, ${record.ckaId}, ${record.createdAt})`);
  }
}

export const SYSTEM: AuditActor = { type: 'system', id: 'system' };
