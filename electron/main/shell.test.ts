import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Envelope } from '../../shared/errors';
import { channelNames } from '../../shared/ipc-schema';
import { totpCodeAt } from '../core/custodians/totp';
import { findSoftHsmLibrary } from '../core/hsm/softhsm';
import { CONTENT_SECURITY_POLICY, META_CONTENT_SECURITY_POLICY } from '../../shared/csp';
import { consoleLog, silentLog } from '../core/log';
import { initSoftHsmToken, tempDataDir } from '../core/testing/softhsm-fixture';
import type { RehearsalStatus } from '../../shared/rehearsals';
import { createFakeElectron, FakeBrowserWindow, FakeWebContents, fakeSession } from './testing/fake-electron';

const fake = vi.hoisted(() => ({ current: null as unknown as ReturnType<typeof createFakeElectron> }));
vi.mock('electron', () => {
  // Getters resolve at each use, so every test gets a fresh fake Electron.
  const mock = {};
  for (const key of [
    'app',
    'BrowserWindow',
    'session',
    'protocol',
    'ipcMain',
    'contextBridge',
    'ipcRenderer',
    'safeStorage',
    'dialog',
    'utilityProcess',
  ]) {
    Object.defineProperty(mock, key, {
      enumerable: true,
      get: () => (fake.current.module as Record<string, unknown>)[key],
    });
  }
  return mock;
});

const { startCustos } = await import('./custos-app');
const { hardenSession, hardenWebContents, isTrustedSender } = await import('./security');
const { registerIpc } = await import('./ipc');
const { Router } = await import('../core/ipc/router');

beforeEach(() => {
  fake.current = createFakeElectron();
  FakeBrowserWindow.instances = [];
});

/** The rehearsal process as the fake utility process runs it: the entry's source, through tsx. */
const REHEARSAL_ENTRY = join(__dirname, '../rehearsal/entry.ts');

/** A request as the app's window sends it: from its webContents, top frame, at the app's own URL. */
function invokeFrom(window: FakeBrowserWindow) {
  return (channel: string, payload: unknown) =>
    fake.current.ipcHandlers.get(channel)!(
      { sender: window.webContents, senderFrame: { url: 'app://custos/index.html', parent: null } },
      payload,
    ) as Promise<Envelope<unknown>>;
}

async function started(env: Record<string, string> = {}, prepare: (dataDir: string) => void = () => {}) {
  const { dataDir, cleanup } = tempDataDir();
  prepare(dataDir);
  fake.current.module.app.getPath.mockReturnValue(dataDir);
  // Keys are set and removed one by one: replacing process.env itself would cut it off from the
  // real environment that SoftHSM2 reads with getenv().
  const previous = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]));
  Object.assign(process.env, env);
  startCustos(
    { rendererDir: dataDir, preload: '/preload.js', rehearsal: REHEARSAL_ENTRY },
    process.env.DEBUG_SHELL ? consoleLog : silentLog,
  );
  fake.current.ready();
  await new Promise((resolve) => setTimeout(resolve, 50));
  for (const [key, value] of Object.entries(previous)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  return {
    dataDir,
    cleanup: () => {
      // Quitting closes the core, which unloads the PKCS#11 library for the next test.
      fake.current.module.app.emit('will-quit');
      cleanup();
    },
  };
}

describe('startCustos', () => {
  it('enables the sandbox for all renderers before anything else', async () => {
    const { cleanup } = await started();
    expect(fake.current.calls[0]).toBe('enableSandbox');
    cleanup();
  });

  it('takes the single-instance lock, and a second instance quits without a window', async () => {
    fake.current.module.app.singleInstance = false;
    startCustos({ rendererDir: '/r', preload: '/p', rehearsal: '/rehearsal.js' }, silentLog);
    expect(fake.current.calls).toEqual(['enableSandbox', 'requestSingleInstanceLock', 'quit']);
    expect(FakeBrowserWindow.instances).toHaveLength(0);
  });

  it('registers app:// as a standard, secure scheme instead of loading from file://', async () => {
    const { cleanup } = await started();
    const registration = fake.current.calls.find((c) => c.startsWith('registerSchemesAsPrivileged'))!;
    expect(JSON.parse(registration.replace('registerSchemesAsPrivileged ', ''))).toEqual([
      { scheme: 'app', privileges: expect.objectContaining({ standard: true, secure: true, bypassCSP: false }) },
    ]);
    expect(FakeBrowserWindow.instances[0]?.loadedUrl).toBe('app://custos/index.html');
    expect(fake.current.module.session.defaultSession.protocolHandlers.has('app')).toBe(true);
    cleanup();
  });

  it('opens the window with the hardened preferences, written at the window', async () => {
    const { cleanup } = await started();
    expect(FakeBrowserWindow.instances[0]?.options.webPreferences).toEqual({
      preload: '/preload.js',
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      disableBlinkFeatures: 'Auxclick',
      spellcheck: false,
      devTools: false,
      safeDialogs: true,
    });
    cleanup();
  });

  it('loads its window before the core opens the database, and answers the first request once it has', async () => {
    // When the page is loaded, the database must not exist yet in a new data directory: the core (and its integrity
    // check, seconds for a large log) comes after the window, whose "Starting Custos…" waits for the answer.
    const seen: boolean[] = [];
    const load = FakeBrowserWindow.prototype.loadURL;
    const spy = vi.spyOn(FakeBrowserWindow.prototype, 'loadURL').mockImplementation(function (
      this: FakeBrowserWindow,
      url,
    ) {
      seen.push(existsSync(join(fake.current.module.app.getPath('userData') as string, 'custos.db')));
      return load.call(this, url);
    });
    try {
      const { cleanup } = await started();
      expect(seen).toEqual([false]);
      const answer = await invokeFrom(FakeBrowserWindow.instances[0]!)('app.snapshot', {});
      expect(answer).toMatchObject({ ok: true, value: { audit: { state: 'ready' } } });
      cleanup();
    } finally {
      spy.mockRestore();
    }
  });

  it('never lets a file dropped on the window replace the app (navigateOnDragDrop is off)', async () => {
    const { cleanup } = await started();
    // Electron's default is true: only an explicit false keeps a dropped file from being opened.
    expect(FakeBrowserWindow.instances[0]?.options.webPreferences).toHaveProperty('navigateOnDragDrop', false);
    cleanup();
  });

  it('allows devtools only in development builds', async () => {
    fake.current.module.app.isPackaged = false;
    const { cleanup } = await started();
    expect(FakeBrowserWindow.instances[0]?.options.webPreferences.devTools).toBe(true);
    cleanup();
  });

  it('loads the PKCS#11 library a security officer picks in the main-process dialog', async () => {
    const { dataDir, cleanup } = await started();
    const window = FakeBrowserWindow.instances[0]!;
    const invoke = invokeFrom(window);
    const passphrase = 'long quiet harbour walk number one';
    const begun = (await invoke('custodians.enrolBegin', {
      name: 'Olive Officer',
      roles: ['security-officer'],
      passphrase,
    })) as Envelope<{ enrolmentId: string; secret: string }>;
    if (!begun.ok) throw new Error(begun.error.message);
    const now = Date.now();
    const enrolled = (await invoke('custodians.enrolConfirm', {
      enrolmentId: begun.value.enrolmentId,
      code: totpCodeAt(begun.value.secret, new Date(now)),
    })) as Envelope<{ id: string }>;
    if (!enrolled.ok) throw new Error(enrolled.error.message);
    // A vendor library in a folder only its owner can write, as an installer would leave it.
    const vendorDir = join(dataDir, 'vendor');
    mkdirSync(vendorDir, { mode: 0o755 });
    const library = join(vendorDir, 'libvendor-pkcs11.so');
    copyFileSync(findSoftHsmLibrary()!, library);
    chmodSync(library, 0o644);
    fake.current.module.dialog.showOpenDialog.mockResolvedValueOnce({ canceled: false, filePaths: [library] });

    const officer = {
      custodianId: enrolled.value.id,
      passphrase,
      code: totpCodeAt(begun.value.secret, new Date(now + 30_000)),
    };
    const result = await invoke('settings.setModule', { source: 'picked', officer });

    expect(fake.current.module.dialog.showOpenDialog).toHaveBeenCalledWith(
      window,
      expect.objectContaining({ properties: expect.arrayContaining(['openFile']) }),
    );
    expect(result).toMatchObject({
      ok: true,
      value: { state: 'ready', module: { path: library, kind: 'configured' } },
    });
    cleanup();
  });
  it('rehearses in an Electron utility process, and sends the window’s requests there meanwhile', async () => {
    let token = { serial: '', label: '' };
    const { dataDir, cleanup } = await started({}, (dir) => {
      token = initSoftHsmToken(dir, 'shell-ceremony', { so: '87654321', user: '12345678' });
    });
    const window = FakeBrowserWindow.instances[0]!;
    const invoke = invokeFrom(window);
    const begun = (await invoke('custodians.enrolBegin', {
      name: 'Olive Officer',
      roles: ['security-officer', 'custodian'],
      passphrase: 'long quiet harbour walk number one',
    })) as Envelope<{ enrolmentId: string; secret: string }>;
    if (!begun.ok) throw new Error(begun.error.message);
    const code = totpCodeAt(begun.value.secret, new Date());
    const olive = (await invoke('custodians.enrolConfirm', {
      enrolmentId: begun.value.enrolmentId,
      code,
    })) as Envelope<{
      id: string;
    }>;
    if (!olive.ok) throw new Error(olive.error.message);
    const officers = [
      {
        custodianId: olive.value.id,
        passphrase: 'long quiet harbour walk number one',
        code: totpCodeAt(begun.value.secret, new Date(Date.now() + 30_000)),
      },
    ];
    const ada = (await invoke('custodians.enrolBegin', {
      name: 'Ada',
      roles: ['custodian'],
      passphrase: 'long quiet harbour walk number two',
      officers,
    })) as Envelope<{ enrolmentId: string; secret: string }>;
    if (!ada.ok) throw new Error(ada.error.message);
    const adaCode = totpCodeAt(ada.value.secret, new Date());
    expect(
      await invoke('custodians.enrolConfirm', { enrolmentId: ada.value.enrolmentId, code: adaCode }),
    ).toMatchObject({ ok: true });
    const hour = 3600_000;
    const script = `format: custos-ceremony/1
title: Shell rehearsal
purpose: Show that the app rehearses in a utility process.
location: Lab
window: { opens: "${new Date(Date.now() - hour).toISOString()}", closes: "${new Date(Date.now() + hour).toISOString()}" }
token: { serial: "${token.serial}", label: "${token.label}" }
roles: { administrator: Olive Officer, custodians: [Olive Officer, Ada] }
steps:
  - { id: note, title: Read the room number, by: Olive Officer, manual: Read the room number aloud. }
`;
    const start = (await invoke('rehearsals.start', { script })) as Envelope<RehearsalStatus>;
    if (!start.ok) throw new Error(`${start.error.code}: ${start.error.message} ${start.error.remedy.join(' ')}`);
    expect(fake.current.calls).toContain(`utilityProcess.fork ${REHEARSAL_ENTRY} Custos rehearsal`);
    expect(await invoke('app.snapshot', {})).toMatchObject({ ok: true, value: { dataDir: start.value.active!.dir } });
    expect(window.webContents.sent).toContainEqual(['rehearsals.changed', start.value]);
    // Electron reports a fatal error in a utility process as an 'error' event, then its exit: not thrown in main.
    const utility = fake.current.module.utilityProcess.fork.mock.results[0]!.value as NodeJS.EventEmitter;
    expect(() => utility.emit('error', 'FatalError', 'rehearsal-entry.js', '{}')).not.toThrow();

    const ended = (await invoke('rehearsals.end', {})) as Envelope<RehearsalStatus>;
    expect(ended).toMatchObject({ ok: true, value: { active: null, last: { outcome: 'incomplete', how: 'ended' } } });
    expect(await invoke('app.snapshot', {})).toMatchObject({ ok: true, value: { dataDir } });
    cleanup();
  });

  it('imports the backup file chosen in the main-process dialog, never a path the renderer sends', async () => {
    const { dataDir, cleanup } = await started();
    const window = FakeBrowserWindow.instances[0]!;
    const invoke = invokeFrom(window);
    const dialog = fake.current.module.dialog.showOpenDialog;

    expect(await invoke('backups.importFile', {})).toEqual({ ok: true, value: { outcome: 'cancelled' } });
    expect(dialog).toHaveBeenLastCalledWith(
      window,
      expect.objectContaining({
        properties: expect.arrayContaining(['openFile']),
        filters: [{ name: 'Custos backup file', extensions: ['json'] }],
      }),
    );

    // What the person chose is what is read: here a JSON file that is no backup, refused as such.
    const chosen = join(dataDir, 'not-a-backup.json');
    writeFileSync(chosen, '{"format":"something else"}');
    dialog.mockResolvedValueOnce({ canceled: false, filePaths: [chosen] });
    expect(await invoke('backups.importFile', { expectAuditKey: 'AB:'.repeat(31) + 'AB' })).toMatchObject({
      ok: false,
      error: { code: 'BACKUP_INVALID' },
    });

    const calls = dialog.mock.calls.length;
    expect(await invoke('backups.importFile', { path: chosen })).toMatchObject({
      ok: false,
      error: { code: 'IPC_INVALID_PAYLOAD' },
    });
    expect(await invoke('backups.importFile', { expectAuditKey: 'not a fingerprint' })).toMatchObject({
      ok: false,
      error: { code: 'IPC_INVALID_PAYLOAD' },
    });
    expect(dialog.mock.calls.length).toBe(calls);
    cleanup();
  });

  it('registers exactly the declared IPC channels', async () => {
    const { cleanup } = await started();
    expect([...fake.current.ipcHandlers.keys()].sort()).toEqual([...channelNames].sort());
    cleanup();
  });

  it('installs the permission and request guards on the session the window uses', async () => {
    const { cleanup } = await started();
    const session = fake.current.module.session.defaultSession;
    const callback = vi.fn();
    session.permissionRequestHandler?.({}, 'media', callback);
    expect(callback).toHaveBeenCalledWith(false);
    const request = vi.fn();
    session.beforeRequest?.({ url: 'https://example.com/' }, request);
    expect(request).toHaveBeenCalledWith({ cancel: true });
    cleanup();
  });

  it('ignores the development overrides in a packaged build', async () => {
    const other = tempDataDir();
    const { dataDir, cleanup } = await started({
      CUSTOS_DATA_DIR: other.dataDir,
      CUSTOS_PKCS11_MODULE: '/tmp/evil.so',
      CUSTOS_SQLITE_BINDING: '/tmp/evil.node',
    });
    expect(existsSync(join(dataDir, 'custos.db'))).toBe(true);
    expect(existsSync(join(other.dataDir, 'custos.db'))).toBe(false);
    other.cleanup();
    cleanup();
  });

  it('seals the audit token PIN with safeStorage when the OS keystore is available', async () => {
    const { dataDir, cleanup } = await started();
    expect(readFileSync(join(dataDir, 'audit-token.pin.sealed'), 'utf8')).toMatch(/^sealed:/);
    expect(existsSync(join(dataDir, 'audit-token.pin'))).toBe(false);
    cleanup();
  });

  it('falls back to a 0600 file when Linux offers only the plain-text safeStorage backend', async () => {
    fake.current.module.safeStorage.backend = 'basic_text';
    const { dataDir, cleanup } = await started();
    if (process.platform === 'linux') {
      expect(statSync(join(dataDir, 'audit-token.pin')).mode & 0o777).toBe(0o600);
      expect(existsSync(join(dataDir, 'audit-token.pin.sealed'))).toBe(false);
    }
    cleanup();
  });

  it('hardens every WebContents as it is created', async () => {
    const { cleanup } = await started();
    const contents = new FakeWebContents();
    fake.current.module.app.emit('web-contents-created', {}, contents);
    expect(contents.windowOpenHandler?.({ url: 'https://example.com' })).toEqual({ action: 'deny' });
    cleanup();
  });
});

describe('hardenWebContents', () => {
  it('denies navigation, redirects, new windows and webviews', () => {
    const contents = new FakeWebContents();
    hardenWebContents(contents as never, true, silentLog);
    for (const event of ['will-navigate', 'will-redirect', 'will-attach-webview']) {
      const preventDefault = vi.fn();
      contents.emit(event, { preventDefault }, 'https://evil.example');
      expect(preventDefault, event).toHaveBeenCalled();
    }
    expect(contents.windowOpenHandler?.({ url: 'app://custos/index.html' })).toEqual({ action: 'deny' });
  });

  it('closes devtools if they are opened in a production build', () => {
    const contents = new FakeWebContents();
    hardenWebContents(contents as never, true, silentLog);
    contents.emit('devtools-opened');
    expect(contents.closeDevTools).toHaveBeenCalled();
  });
});

describe('hardenSession', () => {
  it('denies every permission request and check', () => {
    const session = fakeSession();
    hardenSession(session as never, silentLog);
    for (const permission of [
      'media',
      'clipboard-read',
      'notifications',
      'geolocation',
      'openExternal',
      'hid',
      'usb',
    ]) {
      const callback = vi.fn();
      session.permissionRequestHandler?.({}, permission, callback);
      expect(callback).toHaveBeenCalledWith(false);
    }
    expect(session.permissionCheckHandler?.()).toBe(false);
    expect(session.devicePermissionHandler?.()).toBe(false);
  });

  it.each([
    ['https://example.com/x.js', true],
    ['http://127.0.0.1:8080/', true],
    ['file:///etc/passwd', true],
    ['ws://localhost/', true],
    ['app://other/index.html', true],
    ['app://custos/assets/index.js', false],
  ])('cancels %s: %s', (url, cancel) => {
    const session = fakeSession();
    hardenSession(session as never, silentLog);
    const callback = vi.fn();
    session.beforeRequest?.({ url }, callback);
    expect(callback).toHaveBeenCalledWith({ cancel });
  });
});

describe('IPC sender validation', () => {
  const window = new FakeBrowserWindow({ webPreferences: {} });
  const own = (overrides: Record<string, unknown> = {}) => ({
    sender: window.webContents,
    senderFrame: { url: 'app://custos/index.html', parent: null },
    ...overrides,
  });

  it('accepts the top frame of our own window showing our origin', () => {
    expect(isTrustedSender(own() as never, window as never)).toBe(true);
  });

  it.each([
    ['a window the app did not create', { sender: new FakeWebContents() }],
    ['a subframe', { senderFrame: { url: 'app://custos/index.html', parent: {} } }],
    ['another origin', { senderFrame: { url: 'https://evil.example/', parent: null } }],
    ['a file:// page', { senderFrame: { url: 'file:///tmp/x.html', parent: null } }],
    ['a destroyed frame', { senderFrame: null }],
  ])('drops IPC from %s without reaching the core', (_what, overrides) => {
    const dispatch = vi.fn();
    const router = Object.assign(new Router({} as never, silentLog), { dispatch });
    registerIpc(router, () => window as never, silentLog);
    const handler = fake.current.ipcHandlers.get('app.snapshot')!;
    expect(() => handler(own(overrides), {})).toThrow('unexpected sender');
    expect(dispatch).not.toHaveBeenCalled();
  });
});

describe('IPC dispatch', () => {
  it('passes a request from our own window to the router', async () => {
    const window = new FakeBrowserWindow({ webPreferences: {} });
    const dispatch = vi.fn(async () => ({ ok: true, value: 1 }));
    const router = Object.assign(new Router({} as never, silentLog), { dispatch });
    registerIpc(router, () => window as never, silentLog);
    const handler = fake.current.ipcHandlers.get('tokens.status')!;
    await expect(
      handler({ sender: window.webContents, senderFrame: { url: 'app://custos/index.html', parent: null } }, {}),
    ).resolves.toEqual({ ok: true, value: 1 });
    expect(dispatch).toHaveBeenCalledWith('tokens.status', {}, undefined);
    // What the screens meant it for travels with it: the router may refuse because of it, never do more.
    await handler(
      { sender: window.webContents, senderFrame: { url: 'app://custos/index.html', parent: null } },
      {},
      { rehearsal: true },
    );
    expect(dispatch).toHaveBeenLastCalledWith('tokens.status', {}, { rehearsal: true });
  });
});

describe('Content Security Policy', () => {
  it('is strict: nothing inline, nothing evaluated, nothing remote', () => {
    expect(CONTENT_SECURITY_POLICY).toContain("default-src 'none'");
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).toContain("connect-src 'none'");
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);
  });

  it('is also in the page itself, so it holds before any header is applied', () => {
    const html = readFileSync(join(__dirname, '../../renderer/index.html'), 'utf8');
    const meta = /<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]*)"/.exec(html);
    expect(meta?.[1]).toBe(META_CONTENT_SECURITY_POLICY);
  });
});

describe('source hygiene', () => {
  function files(dir: string): string[] {
    return readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory()
        ? files(path)
        : /\.(ts|tsx)$/.test(name) && !name.endsWith('.test.ts')
          ? [path]
          : [];
    });
  }
  const sources = [...files(join(__dirname, '..')), ...files(join(__dirname, '../../renderer'))];

  it('never opens external content (checklist 15: shell.openExternal)', () => {
    expect(sources.filter((f) => readFileSync(f, 'utf8').includes('openExternal'))).toEqual([]);
  });

  it('never enables Blink features or insecure content anywhere', () => {
    expect(
      sources.filter((f) =>
        /enableBlinkFeatures|allowRunningInsecureContent:\s*true|nodeIntegration:\s*true|contextIsolation:\s*false|webSecurity:\s*false|sandbox:\s*false/.test(
          readFileSync(f, 'utf8'),
        ),
      ),
    ).toEqual([]);
  });
});
