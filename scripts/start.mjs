#!/usr/bin/env node
// `npm start`: builds Custos and runs the desktop app.
// 1. Electron binary installed (or downloadable): runs the Electron app, with better-sqlite3
//    rebuilt once for Electron's ABI into out/native (the Node build stays for the tests).
// 2. No Electron binary and none can be downloaded (offline machines): runs the same renderer
//    and core in Debian's Chromium through the rehearsal shell, and says so.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, cpSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules/.bin', name);
const run = (cmd, args, options = {}) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...options });

function electronBinary() {
  const dir = join(root, 'node_modules/electron');
  if (process.env.ELECTRON_OVERRIDE_DIST_PATH) {
    const p = join(process.env.ELECTRON_OVERRIDE_DIST_PATH, process.platform === 'win32' ? 'electron.exe' : 'electron');
    if (existsSync(p)) return p;
  }
  const pathFile = join(dir, 'path.txt');
  if (existsSync(pathFile)) {
    const p = join(dir, 'dist', readFileSync(pathFile, 'utf8').trim());
    if (existsSync(p)) return p;
  }
  return null;
}

if (run(bin('electron-vite'), ['build']).status !== 0) process.exit(1);

let electron = electronBinary();
if (!electron) {
  console.info('Electron binary not installed; trying to download it…');
  run(process.execPath, [join(root, 'node_modules/electron/install.js')], { stdio: 'ignore' });
  electron = electronBinary();
}

if (electron) {
  const electronVersion = JSON.parse(readFileSync(join(root, 'node_modules/electron/package.json'), 'utf8')).version;
  const nativeDir = join(root, 'out/native', `electron-${electronVersion}`);
  const binding = join(nativeDir, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node');
  if (!existsSync(binding)) {
    mkdirSync(join(nativeDir, 'node_modules'), { recursive: true });
    cpSync(join(root, 'node_modules/better-sqlite3'), join(nativeDir, 'node_modules/better-sqlite3'), {
      recursive: true,
    });
    const rebuilt = run(bin('electron-rebuild'), [
      '--version',
      electronVersion,
      '--module-dir',
      nativeDir,
      '--only',
      'better-sqlite3',
      '--force',
    ]);
    if (rebuilt.status !== 0) {
      console.error(
        'Could not rebuild better-sqlite3 for Electron (it needs Electron’s headers from the network once).',
      );
      process.exit(1);
    }
  }
  const result = run(electron, [root, ...process.argv.slice(2)], {
    env: { ...process.env, CUSTOS_SQLITE_BINDING: binding },
  });
  process.exit(result.status ?? 1);
}

console.warn(
  [
    '',
    'No Electron binary is available on this machine and it cannot be downloaded (offline).',
    'Starting Custos in the Chromium rehearsal shell instead: the same renderer and the same core,',
    'joined as in the end-to-end tests. Use the Electron build for real ceremonies.',
    '',
  ].join('\n'),
);
if (!process.env.DISPLAY && process.platform === 'linux') {
  console.error(
    'No display (DISPLAY is unset). Run from a desktop session, or under a virtual display: xvfb-run -a npm start',
  );
  process.exit(1);
}
const shell = run(process.execPath, [
  '--import',
  'tsx',
  join(root, 'e2e/harness/rehearsal-shell.ts'),
  ...process.argv.slice(2),
]);
process.exit(shell.status ?? 1);
