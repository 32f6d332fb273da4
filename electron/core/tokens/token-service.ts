import type { AuditActor } from '../../../shared/audit';
import type { ModuleStatus, TokenMechanisms, TokenRef } from '../../../shared/tokens';
import { tokenObject } from '../audit/audit-log';
import { canonicalJson, sha256Hex } from '../canonical-json';
import type { AuditService } from '../audit/audit-service';
import { CustosError, isCustosError } from '../errors';
import type { EventHub } from '../events/event-hub';
import type { ModuleHost } from '../hsm/module-host';
import { prepareEmbeddedSoftHsm, SOFTHSM_LIBRARY_CANDIDATES } from '../hsm/softhsm';
import { checkModulePath, type TokenModule } from '../hsm/token-module';
import type { Log } from '../log';
import type { Settings } from '../settings/settings';
import type { Store } from '../store/database';
import { sql } from '../store/sql';

export interface TokenServiceOptions {
  dataDir: string;
  store: Store;
  settings: Settings;
  events: EventHub;
  log: Log;
  host: ModuleHost;
  audit: AuditService;
  actor: AuditActor;
  /** A module path given on the command line or in CUSTOS_PKCS11_MODULE; wins over the setting. */
  moduleOverride?: string | undefined;
  softHsmCandidates?: readonly string[];
}

type Target = { path: string; kind: 'configured' | 'embedded-softhsm' };

/**
 * Which PKCS#11 library Custos uses and what it sees through it. Resolution order: an explicit
 * override, then the module saved in Settings, then the embedded SoftHSM2 rehearsal store.
 */
export class TokenService {
  private module: TokenModule | null = null;
  private lastStatus: ModuleStatus | null = null;
  private tamperRecorded = false;

  constructor(private readonly options: TokenServiceOptions) {}

  /**
   * Lists slots and tokens again through the library in use (C_GetSlotList), loading it on first
   * use. A loaded library is never finalised and loaded again while Custos runs (ModuleHost).
   */
  refresh(): ModuleStatus {
    let path: string | null = null;
    let status: ModuleStatus;
    try {
      path = this.configuredPath();
      status = readyStatus(this.use(this.target(path)));
    } catch (error) {
      this.drop();
      const down = unavailable(error, path);
      this.options.log.warn('token module unavailable', { code: down.code, path: down.path });
      status = down;
    }
    return this.publish(status);
  }

  /** The last status, read again when the library noted a slot event (a token attached or removed). */
  status(): ModuleStatus {
    if (this.lastStatus === null || this.slotsChanged()) return this.refresh();
    return this.lastStatus;
  }

  mechanisms(ref: TokenRef): TokenMechanisms {
    return { token: ref, mechanisms: this.ready().mechanisms(ref) };
  }

  /** Remembers the token the custodian works with; it must be attached right now. */
  select(ref: TokenRef): TokenRef {
    const auditToken = this.options.audit.auditToken();
    if (auditToken && auditToken.serial === ref.serial && auditToken.label === ref.label) {
      throw new CustosError(
        'TOKEN_RESERVED',
        `“${ref.label}” is Custos’s audit token: it signs the audit log and holds no custody keys.`,
        ['Pick another token.'],
      );
    }
    this.ready().findSlot(ref);
    this.options.audit.record({ actor: this.options.actor, action: 'token.select', object: tokenObject(ref) }, () =>
      this.options.settings.set('token.selected', ref),
    );
    return ref;
  }

  selected(): TokenRef | null {
    return this.options.settings.get('token.selected');
  }

  /**
   * Switches to another PKCS#11 library (null: the embedded SoftHSM2), as the security officer
   * `by` decided. The new library is loaded and listed first, then the setting and its audit
   * entry are saved together; only then does it replace the current one. On any failure the
   * current library stays in use, and the error says which one that is. The library left behind
   * stays loaded, so switching back reuses it rather than initialising it again.
   */
  setModule(path: string | null, by: AuditActor): ModuleStatus {
    if (this.options.moduleOverride) {
      throw new CustosError(
        'MODULE_OVERRIDDEN',
        `This run uses the module given on the command line or in CUSTOS_PKCS11_MODULE (${this.options.moduleOverride}); the saved setting cannot be changed now.`,
        ['Start Custos without that override to change the saved module.'],
      );
    }
    // The module in use is known (loaded) first, so a failure can say which one stays.
    this.status();
    const previous = this.module;
    try {
      const target = this.target(path);
      const same = previous !== null && previous.path === checkModulePath(target.path);
      const next = same ? previous : this.options.host.acquire(target.path, target.kind);
      let status: ModuleStatus;
      try {
        status = readyStatus(next);
        this.options.audit.record(
          { actor: by, action: 'settings.module.set', object: { type: 'module', id: next.path }, params: { path } },
          () => {
            this.options.settings.set('token.modulePath', path);
            this.options.settings.set(
              'token.moduleSignature',
              path ? this.options.audit.signDocument(this.moduleDocument(path)).toString('base64') : null,
            );
          },
        );
      } catch (error) {
        if (!same) this.options.host.release(next);
        throw error;
      }
      if (!same) {
        if (previous) this.options.host.release(previous);
        this.module = next;
      }
      return this.publish(status);
    } catch (error) {
      throw stillInUse(error, previous?.path ?? null);
    }
  }

  /** The loaded module, for services that work with tokens; throws why there is none. */
  ready(): TokenModule {
    if (this.module) return this.module;
    const status = this.status();
    if (status.state === 'unavailable') throw new CustosError(status.code, status.message, status.remedy);
    if (!this.module)
      throw new CustosError('MODULE_LOAD_FAILED', 'The token library is not loaded.', ['Press Refresh.']);
    return this.module;
  }

  close(): void {
    this.drop();
  }

  private publish(status: ModuleStatus): ModuleStatus {
    this.lastStatus = status;
    this.options.events.emit('tokens.changed', status);
    return status;
  }

  /**
   * The saved module, loaded only when the audit key signed it when a security officer chose it and it is
   * their latest choice: a path written into the database by anyone else is refused, never loaded.
   */
  private configuredPath(): string | null {
    if (this.options.moduleOverride) return this.options.moduleOverride;
    const path = this.options.settings.get('token.modulePath');
    // The signature has no seq, so an older signed choice put back is caught by the latest recorded one.
    const latest = this.latestChoice(path);
    if (path === null && latest) return null;
    const signature = this.options.settings.get('token.moduleSignature');
    if (
      path !== null &&
      latest &&
      signature &&
      this.options.audit.verifyDocument(this.moduleDocument(path), Buffer.from(signature, 'base64'))
    )
      return path;
    const id = path === null ? 'embedded-softhsm' : path.slice(0, 200);
    if (!this.tamperRecorded) {
      this.tamperRecorded = true;
      void this.options.audit.tryRecord({
        actor: { type: 'system', id: 'system' },
        action: 'settings.module.tampered',
        object: { type: 'module', id },
        result: { status: 'refused', code: 'MODULE_SETTING_TAMPERED' },
      });
    }
    throw new CustosError(
      'MODULE_SETTING_TAMPERED',
      'The saved token module is not the one a security officer last chose through Custos (its record lacks the audit key’s signature, or an older choice was put back), so Custos did not load it.',
      [
        'Tell your security officer and auditor: the database was changed outside Custos.',
        'A security officer can choose the module again in Settings, or go back to the built-in SoftHSM2.',
      ],
    );
  }

  /**
   * Whether the saved path is the one the latest signed `settings.module.set` entry chose (its params hash); with no
   * choice recorded, only the embedded SoftHSM2 (null) is.
   */
  private latestChoice(path: string | null): boolean {
    const { store, audit } = this.options;
    const latest = store.get<{ entry: string; signature: Buffer }>(sql`
      SELECT entry, signature FROM audit_entries
      WHERE action = 'settings.module.set' AND result = 'ok' ORDER BY seq DESC LIMIT 1`);
    if (!latest) return path === null;
    const entry = JSON.parse(latest.entry) as { action: string; params: string | null; result: { status: string } };
    return (
      entry.action === 'settings.module.set' &&
      entry.result.status === 'ok' &&
      entry.params === sha256Hex(canonicalJson({ path })) &&
      audit.verifyDocument(Buffer.from(latest.entry, 'utf8'), latest.signature)
    );
  }

  private moduleDocument(path: string): Buffer {
    return Buffer.from(`custos token module v1\n${this.options.audit.origin}\n${path}`, 'utf8');
  }

  private target(path: string | null): Target {
    if (path) return { path, kind: 'configured' };
    const embedded = prepareEmbeddedSoftHsm(
      this.options.dataDir,
      this.options.softHsmCandidates ?? SOFTHSM_LIBRARY_CANDIDATES,
    );
    return { path: embedded.modulePath, kind: 'embedded-softhsm' };
  }

  /** The library for this target: the one in use, or another one loaded once and kept (ModuleHost). */
  private use(target: Target): TokenModule {
    const path = checkModulePath(target.path);
    if (this.module?.path === path) return this.module;
    const next = this.options.host.acquire(path, target.kind);
    this.drop();
    this.module = next;
    return next;
  }

  /** Stops using the library; it stays loaded, so using it again never re-initialises it. */
  private drop(): void {
    if (this.module) this.options.host.release(this.module);
    this.module = null;
  }

  /** Slot events are optional in PKCS#11: where the library offers none, the slot list is re-read on Refresh. */
  private slotsChanged(): boolean {
    try {
      return this.module?.slotsChanged() ?? false;
    } catch {
      // The library failed to answer; reading the slots again reports why.
      return true;
    }
  }
}

function readyStatus(module: TokenModule): ModuleStatus {
  const slots = module.slots();
  return { state: 'ready', module: module.info(slots), slots };
}

/** A failed switch says which library Custos still uses, so nobody assumes the new one is live. */
function stillInUse(error: unknown, path: string | null): unknown {
  if (!isCustosError(error)) return error;
  const kept = path ? `Custos still uses ${path}.` : 'No token module is loaded.';
  return new CustosError(error.code, `${error.message} The token module was not changed: ${kept}`, [...error.remedy], {
    cause: error,
  });
}

function unavailable(error: unknown, path: string | null): Extract<ModuleStatus, { state: 'unavailable' }> {
  const known = isCustosError(error)
    ? error
    : new CustosError('MODULE_LOAD_FAILED', 'The token library failed in an unexpected way.', [], { cause: error });
  return { state: 'unavailable', code: known.code, message: known.message, remedy: [...known.remedy], path };
}
