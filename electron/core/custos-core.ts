import { channelNames, type AppSnapshot } from '../../shared/ipc-schema';
import { CustosError } from './errors';
import { EventHub } from './events/event-hub';
import { ModuleHost } from './hsm/module-host';
import { Router, type Handlers } from './ipc/router';
import { consoleLog, type Log } from './log';
import { Settings } from './settings/settings';
import { Store } from './store/database';
import { TokenService } from './tokens/token-service';

export interface CoreOptions {
  dataDir: string;
  version: string;
  production: boolean;
  moduleOverride?: string | undefined;
  softHsmCandidates?: readonly string[];
  nativeBinding?: string;
  log?: Log;
}

/**
 * The privileged core: everything Custos can do, with no Electron in it. The desktop shell, the
 * CLI and the tests all drive this same object.
 */
export class CustosCore {
  readonly events = new EventHub();
  readonly router: Router;
  readonly tokens: TokenService;
  readonly settings: Settings;
  readonly host: ModuleHost;

  private constructor(
    private readonly options: CoreOptions,
    readonly store: Store,
    log: Log,
  ) {
    this.settings = new Settings(store);
    this.host = new ModuleHost((error) => log.warn('token cleanup failed', { code: error.code, message: error.message }));
    this.tokens = new TokenService({
      host: this.host,
      dataDir: options.dataDir,
      settings: this.settings,
      events: this.events,
      log,
      moduleOverride: options.moduleOverride,
      ...(options.softHsmCandidates ? { softHsmCandidates: options.softHsmCandidates } : {}),
    });
    this.router = new Router(this.handlers(), log);
  }

  /** Opens the data directory; throws STORE_* errors (locked, corrupt, too new…) as CustosError. */
  static open(options: CoreOptions): CustosCore {
    const log = options.log ?? consoleLog;
    const store = Store.open(options.dataDir, options.nativeBinding ? { nativeBinding: options.nativeBinding } : {});
    return new CustosCore(options, store, log);
  }

  snapshot(): AppSnapshot {
    return {
      version: this.options.version,
      dataDir: this.options.dataDir,
      production: this.options.production,
      tokens: this.tokens.status(),
      selectedToken: this.tokens.selected(),
    };
  }

  close(): void {
    this.tokens.close();
    this.host.closeAll();
    this.store.close();
  }

  private handlers(): Handlers {
    return {
      'app.snapshot': () => this.snapshot(),
      'tokens.status': () => this.tokens.refresh(),
      'tokens.mechanisms': (ref) => this.tokens.mechanisms(ref),
      'tokens.select': (ref) => this.tokens.select(ref),
      'settings.setModule': ({ path }) => this.tokens.setModule(path),
    };
  }
}

/**
 * When the core cannot start (database locked or damaged), the window still opens and every
 * request answers with the reason, so the custodian sees an explanation instead of a crash.
 */
export function unavailableRouter(reason: CustosError, log: Log = consoleLog): Router {
  const refuse = () => {
    throw reason;
  };
  const handlers = Object.fromEntries(
    channelNames.map((name) => [name, refuse]),
  ) as unknown as Handlers;
  return new Router(handlers, log);
}

export interface StartedCore {
  core: CustosCore | null;
  router: Router;
  startupError: CustosError | null;
}

/** Opens the core, or a router that explains why it could not open; the shell and harness share this. */
export function startCore(options: CoreOptions): StartedCore {
  const log = options.log ?? consoleLog;
  try {
    const core = CustosCore.open(options);
    return { core, router: core.router, startupError: null };
  } catch (error) {
    const reason = error instanceof CustosError ? error : new CustosError('INTERNAL', 'Custos could not start its core.', [], { cause: error });
    log.error('core unavailable', { code: reason.code });
    return { core: null, router: unavailableRouter(reason, log), startupError: reason };
  }
}
