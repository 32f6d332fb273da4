import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { channelNames } from '../../shared/ipc-schema';
import { CONTENT_SECURITY_POLICY, META_CONTENT_SECURITY_POLICY } from '../../shared/csp';
import { silentLog } from '../core/log';
import { tempDataDir } from '../core/testing/softhsm-fixture';
import { createFakeElectron, FakeBrowserWindow, FakeWebContents, fakeSession } from './testing/fake-electron';

const fake = vi.hoisted(() => ({ current: null as unknown as ReturnType<typeof createFakeElectron> }));
vi.mock('electron', () => {
  // Getters resolve at each use, so every test gets a fresh fake Electron.
  const mock = {};
  for (const key of ['app', 'BrowserWindow', 'session', 'protocol', 'ipcMain', 'contextBridge', 'ipcRenderer']) {
    Object.defineProperty(mock, key, { enumerable: true, get: () => (fake.current.module as Record<string, unknown>)[key] });
  }
  return mock;
});

const { startCustos } = await import('./custos-app');
const { hardenSession, hardenWebContents, isTrustedSender, secureWebPreferences } = await import('./security');
const { registerIpc } = await import('./ipc');
const { Router } = await import('../core/ipc/router');

beforeEach(() => {
  fake.current = createFakeElectron();
  FakeBrowserWindow.instances = [];
});

async function started() {
  const { dataDir, cleanup } = tempDataDir();
  process.env.CUSTOS_DATA_DIR = dataDir;
  process.env.CUSTOS_PKCS11_MODULE = join(dataDir, 'no-module.so');
  startCustos({ rendererDir: dataDir, preload: '/preload.js' }, silentLog);
  fake.current.ready();
  await new Promise((resolve) => setTimeout(resolve, 10));
  return { dataDir, cleanup };
}

describe('startCustos', () => {
  it('enables the sandbox for all renderers before anything else', async () => {
    const { cleanup } = await started();
    expect(fake.current.calls[0]).toBe('enableSandbox');
    cleanup();
  });

  it('takes the single-instance lock, and a second instance quits without a window', async () => {
    fake.current.module.app.singleInstance = false;
    startCustos({ rendererDir: '/r', preload: '/p' }, silentLog);
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

  it('opens the window with the hardened preferences', async () => {
    const { cleanup } = await started();
    expect(FakeBrowserWindow.instances[0]?.options.webPreferences).toEqual(secureWebPreferences('/preload.js', true));
    cleanup();
  });

  it('registers exactly the declared IPC channels', async () => {
    const { cleanup } = await started();
    expect([...fake.current.ipcHandlers.keys()].sort()).toEqual([...channelNames].sort());
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

describe('secureWebPreferences', () => {
  it('sandboxes, isolates and disables Node, insecure content, experiments and webviews', () => {
    expect(secureWebPreferences('/p.js', true)).toMatchObject({
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      devTools: false,
    });
    expect(secureWebPreferences('/p.js', true)).not.toHaveProperty('enableBlinkFeatures');
  });

  it('allows devtools only in development builds', () => {
    expect(secureWebPreferences('/p.js', false).devTools).toBe(true);
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
    for (const permission of ['media', 'clipboard-read', 'notifications', 'geolocation', 'openExternal', 'hid', 'usb']) {
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
  ])('drops IPC from %s without reaching the core', async (_what, overrides) => {
    const dispatch = vi.fn();
    const router = Object.assign(new Router({} as never, silentLog), { dispatch });
    registerIpc(router, () => window as never, silentLog);
    const handler = fake.current.ipcHandlers.get('app.snapshot')!;
    expect(() => handler(own(overrides), {})).toThrow('unexpected sender');
    expect(dispatch).not.toHaveBeenCalled();
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
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="${META_CONTENT_SECURITY_POLICY}"`);
  });
});

describe('source hygiene', () => {
  function files(dir: string): string[] {
    return readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? files(path) : /\.(ts|tsx)$/.test(name) && !name.endsWith('.test.ts') ? [path] : [];
    });
  }
  const sources = [...files(join(__dirname, '..')), ...files(join(__dirname, '../../renderer'))];

  it('never opens external content (checklist 15: shell.openExternal)', () => {
    expect(sources.filter((f) => readFileSync(f, 'utf8').includes('openExternal'))).toEqual([]);
  });

  it('never enables Blink features or insecure content anywhere', () => {
    expect(sources.filter((f) => /enableBlinkFeatures|allowRunningInsecureContent:\s*true|nodeIntegration:\s*true|contextIsolation:\s*false|webSecurity:\s*false|sandbox:\s*false/.test(readFileSync(f, 'utf8')))).toEqual([]);
  });
});
