import { app, BrowserWindow, session } from 'electron';
import { join } from 'node:path';
import { startCoreInBackground, type CustosCore } from '../core/custos-core';
import { consoleLog, type Log } from '../core/log';
import { APP_ENTRY } from './app-files';
import { registerAppScheme, serveApp } from './app-protocol';
import { forwardEvents, registerIpc } from './ipc';
import { backupFileDialog, moduleDialog } from './file-dialogs';
import { utilityRehearsal } from './rehearsal-utility';
import { SafeStorageVault } from './safe-storage-vault';
import { hardenSession, hardenWebContents } from './security';

declare const __CUSTOS_VERSION__: string;

export interface ShellPaths {
  rendererDir: string;
  preload: string;
  /** The built rehearsal process (out/main/rehearsal.js), run as a utility process. */
  rehearsal: string;
}

/**
 * Starts the desktop app. Order matters: the sandbox, the single-instance lock and the app://
 * scheme must all be in place before Electron is ready and before any window exists.
 */
export function startCustos(paths: ShellPaths, log: Log = consoleLog): void {
  app.enableSandbox();
  if (!app.requestSingleInstanceLock()) {
    log.info('another Custos window is already open; handing over to it');
    app.quit();
    return;
  }
  registerAppScheme();
  const production = app.isPackaged;
  let mainWindow: BrowserWindow | null = null;
  let core: CustosCore | null = null;
  let quitting = false;

  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents, production, log));
  app.on('second-instance', () => {
    if (!mainWindow) return;
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.focus();
  });
  app.on('window-all-closed', () => app.quit());
  app.on('will-quit', () => {
    quitting = true;
    core?.close();
  });

  void app.whenReady().then(async () => {
    hardenSession(session.defaultSession, log);
    serveApp(session.defaultSession, paths.rendererDir);
    // Packaged builds ignore the development overrides: an environment variable must not be
    // able to load native code or redirect the data (the same reason the fuses are set).
    const env = production ? {} : process.env;
    const dataDir = env.CUSTOS_DATA_DIR ?? app.getPath('userData');
    const { vaults, preferred } = SafeStorageVault.choose(
      join(dataDir, 'audit-token.pin.sealed'),
      join(dataDir, 'audit-token.pin'),
    );
    if (preferred === 'file')
      log.warn('no OS keystore: a new audit token PIN is kept in a 0600 file in the data directory');
    const starting = startCoreInBackground({
      dataDir,
      version: typeof __CUSTOS_VERSION__ === 'string' ? __CUSTOS_VERSION__ : app.getVersion(),
      production,
      operator: 'desktop',
      moduleOverride: env.CUSTOS_PKCS11_MODULE,
      pickModule: moduleDialog(() => mainWindow),
      pickBackupFile: backupFileDialog(() => mainWindow),
      ...(env.CUSTOS_SQLITE_BINDING ? { nativeBinding: env.CUSTOS_SQLITE_BINDING } : {}),
      vaults,
      preferredVault: preferred,
      spawnRehearsal: utilityRehearsal(paths.rehearsal),
      log,
    });
    // The window opens at once and says "Starting Custos…" while the database is checked (seconds for a large
    // log); its requests wait for the core. Without a core it still opens and explains why (locked, damaged…).
    registerIpc(
      starting.then((started) => started.router),
      () => mainWindow,
      log,
    );
    mainWindow = createMainWindow(paths.preload, production);
    mainWindow.on('closed', () => (mainWindow = null));
    const started = await starting;
    if (quitting) {
      started.core?.close();
      return;
    }
    core = started.core;
    if (core) forwardEvents(core.events, () => mainWindow);
  });
}

export function createMainWindow(preload: string, production: boolean): BrowserWindow {
  const window = new BrowserWindow({
    width: 1200,
    height: 800,
    minWidth: 800,
    minHeight: 600,
    title: 'Custos',
    show: false,
    backgroundColor: '#f7f7f5',
    // Written out here, not built elsewhere, so a static reviewer (electronegativity) sees each
    // one at the window (Electron security checklist 2–4, 6, 8–10; docs/electron-security-checklist.md).
    webPreferences: {
      preload, // eng-disable PRELOAD_JS_CHECK: reviewed; it exposes one function per declared channel (preload.test.ts)
      sandbox: true,
      contextIsolation: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      // A file dropped on the window must not replace the app with that file.
      navigateOnDragDrop: false,
      // Middle-click would open links in new windows; Custos opens none.
      disableBlinkFeatures: 'Auxclick',
      spellcheck: false,
      devTools: !production,
      safeDialogs: true,
    },
  });
  window.once('ready-to-show', () => window.show());
  void window.loadURL(APP_ENTRY);
  return window;
}

export function defaultShellPaths(mainDir: string): ShellPaths {
  return {
    rendererDir: join(mainDir, '../renderer'),
    preload: join(mainDir, '../preload/index.js'),
    rehearsal: join(mainDir, 'rehearsal.js'),
  };
}
