import type { ModuleStatus, TokenMechanisms, TokenRef } from '../../../shared/tokens';
import { CustosError, isCustosError } from '../errors';
import type { EventHub } from '../events/event-hub';
import { prepareEmbeddedSoftHsm, SOFTHSM_LIBRARY_CANDIDATES } from '../hsm/softhsm';
import type { ModuleHost } from '../hsm/module-host';
import type { TokenModule } from '../hsm/token-module';
import type { Log } from '../log';
import type { Settings } from '../settings/settings';

export interface TokenServiceOptions {
  dataDir: string;
  settings: Settings;
  events: EventHub;
  log: Log;
  host: ModuleHost;
  /** A module path given on the command line or in CUSTOS_PKCS11_MODULE; wins over the setting. */
  moduleOverride?: string | undefined;
  softHsmCandidates?: readonly string[];
}

/**
 * Which PKCS#11 library Custos uses and what it sees through it. Resolution order: an explicit
 * override, then the module saved in Settings, then the embedded SoftHSM2 rehearsal store.
 */
export class TokenService {
  private module: TokenModule | null = null;
  private lastStatus: ModuleStatus | null = null;

  constructor(private readonly options: TokenServiceOptions) {}

  /** Reloads the library so newly attached or removed tokens show, and reports what it sees. */
  refresh(): ModuleStatus {
    let status: ModuleStatus;
    try {
      const module = this.reload(this.configuredPath());
      status = { state: 'ready', module: module.info(), slots: module.slots() };
    } catch (error) {
      this.unload();
      const down = unavailable(error, this.configuredPath() ?? null);
      this.options.log.warn('token module unavailable', { code: down.code, path: down.path });
      status = down;
    }
    this.lastStatus = status;
    this.options.events.emit('tokens.changed', status);
    return status;
  }

  status(): ModuleStatus {
    return this.lastStatus ?? this.refresh();
  }

  mechanisms(ref: TokenRef): TokenMechanisms {
    return { token: ref, mechanisms: this.ready().mechanisms(ref) };
  }

  /** Remembers the token the custodian works with; it must be attached right now. */
  select(ref: TokenRef): TokenRef {
    this.ready().findSlot(ref);
    this.options.settings.set('token.selected', ref);
    return ref;
  }

  selected(): TokenRef | null {
    return this.options.settings.get('token.selected');
  }

  /**
   * Switches to another PKCS#11 library (null: the embedded SoftHSM2). The new library is
   * loaded first; if that fails the setting is not saved and the error says why.
   */
  setModule(path: string | null): ModuleStatus {
    try {
      this.reload(this.options.moduleOverride ?? path);
    } catch (error) {
      this.refresh();
      throw error;
    }
    this.options.settings.set('token.modulePath', path);
    return this.refresh();
  }

  /** The loaded module, for services that work with tokens; throws why there is none. */
  ready(): TokenModule {
    if (!this.module) {
      const status = this.status();
      if (status.state === 'unavailable' || !this.module) {
        throw new CustosError(
          status.state === 'unavailable' ? status.code : 'MODULE_LOAD_FAILED',
          status.state === 'unavailable' ? status.message : 'The token library is not loaded.',
          status.state === 'unavailable' ? status.remedy : [],
        );
      }
    }
    return this.module;
  }

  close(): void {
    this.unload();
  }

  private configuredPath(): string | undefined {
    return this.options.moduleOverride ?? this.options.settings.get('token.modulePath') ?? undefined;
  }

  /**
   * Loads the library for `path` (null: the embedded SoftHSM2), initialising it afresh when no
   * other part of Custos holds it so that newly attached tokens show. When the audit signer
   * shares it (the embedded store), it is kept and its slots are simply listed again.
   */
  private reload(path: string | null | undefined): TokenModule {
    const { host } = this.options;
    const target = path
      ? { path, kind: 'configured' as const }
      : { path: prepareEmbeddedSoftHsm(this.options.dataDir, this.options.softHsmCandidates ?? SOFTHSM_LIBRARY_CANDIDATES).modulePath, kind: 'embedded-softhsm' as const };
    const current = this.module;
    if (current && current.path === target.path && current.kind === target.kind && host.users(current.path) > 1) return current;
    this.unload();
    this.module = host.acquire(target.path, target.kind);
    return this.module;
  }

  private unload(): void {
    if (this.module) this.options.host.release(this.module);
    this.module = null;
  }
}

function unavailable(error: unknown, path: string | null): Extract<ModuleStatus, { state: 'unavailable' }> {
  const known = isCustosError(error)
    ? error
    : new CustosError('MODULE_LOAD_FAILED', 'The token library failed in an unexpected way.', [], { cause: error });
  return { state: 'unavailable', code: known.code, message: known.message, remedy: [...known.remedy], path };
}
