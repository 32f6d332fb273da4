import { fork, type Serializable } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { vi } from 'vitest';

/**
 * A stand-in for the `electron` module, the only thing Custos's tests may mock (Electron Fiddle
 * style). It records what the shell asks of Electron so tests can assert on it.
 */
export class FakeWebContents extends EventEmitter {
  static nextId = 1;
  readonly id = FakeWebContents.nextId++;
  windowOpenHandler: ((details: { url: string }) => { action: string }) | null = null;
  readonly sent: [string, unknown][] = [];
  closeDevTools = vi.fn();
  setWindowOpenHandler(handler: (details: { url: string }) => { action: string }) {
    this.windowOpenHandler = handler;
  }
  send(channel: string, payload: unknown) {
    this.sent.push([channel, payload]);
  }
}

export class FakeBrowserWindow extends EventEmitter {
  static instances: FakeBrowserWindow[] = [];
  readonly webContents = new FakeWebContents();
  loadedUrl: string | null = null;
  constructor(readonly options: { webPreferences: Record<string, unknown> }) {
    super();
    FakeBrowserWindow.instances.push(this);
  }
  loadURL(url: string) {
    this.loadedUrl = url;
    return Promise.resolve();
  }
  isDestroyed() {
    return false;
  }
  isMinimized() {
    return false;
  }
  restore() {}
  focus() {}
  show() {}
}

export function fakeSession() {
  return {
    permissionRequestHandler: null as null | ((wc: unknown, permission: string, cb: (ok: boolean) => void) => void),
    permissionCheckHandler: null as null | (() => boolean),
    devicePermissionHandler: null as null | (() => boolean),
    beforeRequest: null as null | ((details: { url: string }, cb: (r: { cancel: boolean }) => void) => void),
    protocolHandlers: new Map<string, (request: Request) => Promise<Response>>(),
    setPermissionRequestHandler(h: never) {
      this.permissionRequestHandler = h;
    },
    setPermissionCheckHandler(h: never) {
      this.permissionCheckHandler = h;
    },
    setDevicePermissionHandler(h: never) {
      this.devicePermissionHandler = h;
    },
    get webRequest() {
      return {
        onBeforeRequest: (h: never) => {
          this.beforeRequest = h;
        },
      };
    },
    get protocol() {
      return {
        handle: (scheme: string, handler: (request: Request) => Promise<Response>) => {
          this.protocolHandlers.set(scheme, handler);
        },
      };
    },
  };
}

export function createFakeElectron() {
  const calls: string[] = [];
  let readyResolve: () => void = () => {};
  const ready = new Promise<void>((resolve) => (readyResolve = resolve));
  const app = Object.assign(new EventEmitter(), {
    isPackaged: true,
    singleInstance: true,
    enableSandbox: vi.fn(() => calls.push('enableSandbox')),
    requestSingleInstanceLock: vi.fn(() => {
      calls.push('requestSingleInstanceLock');
      return app.singleInstance;
    }),
    quit: vi.fn(() => calls.push('quit')),
    whenReady: () => ready,
    getPath: vi.fn((_name: string) => '/nonexistent-userdata'),
    getVersion: () => '0.0.0-test',
  });
  const ipcHandlers = new Map<string, (event: unknown, payload: unknown, intent?: unknown) => unknown>();
  const module = {
    app,
    BrowserWindow: FakeBrowserWindow,
    session: { defaultSession: fakeSession() },
    protocol: {
      registerSchemesAsPrivileged: vi.fn((schemes: unknown) =>
        calls.push(`registerSchemesAsPrivileged ${JSON.stringify(schemes)}`),
      ),
    },
    ipcMain: {
      handle: vi.fn((channel: string, handler: (event: unknown, payload: unknown) => unknown) =>
        ipcHandlers.set(channel, handler),
      ),
    },
    contextBridge: { exposeInMainWorld: vi.fn() },
    dialog: {
      // What the person picks in the file dialog; tests set it.
      showOpenDialog: vi.fn(async (..._args: unknown[]): Promise<{ canceled: boolean; filePaths: string[] }> => ({
        canceled: true,
        filePaths: [],
      })),
    },
    safeStorage: {
      available: true,
      backend: 'gnome_libsecret',
      isEncryptionAvailable() {
        return this.available;
      },
      getSelectedStorageBackend() {
        return this.backend;
      },
      // Reversible but not plain: enough to show the file never holds the PIN as typed.
      encryptString: (text: string) => Buffer.from(`sealed:${Buffer.from(text).toString('base64')}`),
      decryptString: (sealed: Buffer) => Buffer.from(sealed.toString().replace(/^sealed:/, ''), 'base64').toString(),
    },
    ipcRenderer: { invoke: vi.fn(), on: vi.fn(), removeListener: vi.fn() },
    utilityProcess: {
      /**
       * A real process, with utilityProcess's interface: a Node child (TypeScript through tsx) stands in for Electron's
       * utility process, so the rehearsal really runs beside the test.
       */
      fork: vi.fn((modulePath: string, args: string[], options: { serviceName?: string }) => {
        calls.push(`utilityProcess.fork ${modulePath} ${options.serviceName ?? ''}`);
        const child = fork(modulePath, args, { serialization: 'advanced', execArgv: ['--import', 'tsx'] });
        const utility = Object.assign(new EventEmitter(), {
          postMessage: (message: unknown) => child.send(message as Serializable),
          kill: () => child.kill(),
        });
        child.on('message', (message) => utility.emit('message', message));
        child.on('exit', (code) => utility.emit('exit', code ?? 0));
        return utility;
      }),
    },
  };
  return { module, calls, ipcHandlers, ready: () => readyResolve() };
}
