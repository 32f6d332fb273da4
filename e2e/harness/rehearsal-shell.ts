import { chromium } from 'playwright';
import { join } from 'node:path';
import { forkRehearsal } from '../../electron/core/ceremony/rehearsal-host';
import { startCoreInBackground } from '../../electron/core/custos-core';
import { resolveDataDir } from '../../electron/core/data-dir';
import { attachCore } from './attach';
import { serveRenderer } from './renderer-server';

/**
 * Runs Custos where no Electron binary can be installed (offline machines like the one Custos is
 * developed on): the real core and router in this Node process, the real renderer in Debian's
 * Chromium on loopback, joined exactly as in the end-to-end tests. For rehearsal only; the
 * hardened desktop app is the Electron build.
 */
async function main(): Promise<void> {
  const dataDir = resolveDataDir(process.argv[2], process.env);
  // Chromium has no main-process file dialog: the library an officer "picks" is the one named
  // in CUSTOS_REHEARSAL_MODULE when the shell started (still checked, loaded and recorded).
  const chosen = process.env.CUSTOS_REHEARSAL_MODULE ?? null;
  // Likewise the backup file "chosen" for Import a backup file: CUSTOS_REHEARSAL_BACKUP_FILE.
  const backupFile = process.env.CUSTOS_REHEARSAL_BACKUP_FILE ?? null;
  // The database's integrity check (seconds for a large log) runs on a worker while Chromium starts.
  const starting = startCoreInBackground({
    dataDir,
    version: process.env.npm_package_version ?? 'dev',
    production: false,
    moduleOverride: process.env.CUSTOS_PKCS11_MODULE,
    pickModule: () => Promise.resolve(chosen),
    pickBackupFile: () => Promise.resolve(backupFile),
    spawnRehearsal: forkRehearsal(join(__dirname, '../../out/main/rehearsal.js')),
  });
  const server = await serveRenderer(join(__dirname, '../../out/renderer'));
  const browser = await chromium.launch({
    headless: false,
    executablePath: process.env.CUSTOS_CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  const page = await browser.newPage({ viewport: null });
  const started = await starting;
  await attachCore(page, started.router, started.core?.events ?? null, server.origin);
  await page.goto(`${server.origin}/index.html`);
  console.info(
    `Custos (Chromium rehearsal shell) is running on data directory ${dataDir}. Close the browser window to quit.`,
  );
  await new Promise<void>((resolve) => {
    page.on('close', () => resolve());
    browser.on('disconnected', () => resolve());
  });
  await browser.close().catch(() => {});
  started.core?.close();
  await server.close();
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
