import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Finds an installed Electron binary without `require('electron')`, which would try to download
 * one (and fail offline). Returns why there is none, for the skip message.
 */
export function electronBinary(): { path: string | null; reason: string } {
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  const packageDir = join(__dirname, '../../node_modules/electron');
  const candidates: string[] = [];
  if (override) candidates.push(join(override, executableName()));
  const pathFile = join(packageDir, 'path.txt');
  if (existsSync(pathFile)) candidates.push(join(packageDir, 'dist', readFileSync(pathFile, 'utf8').trim()));
  candidates.push(join(packageDir, 'dist', executableName()));
  const found = candidates.find((candidate) => existsSync(candidate)) ?? null;
  return {
    path: found,
    reason: found
      ? ''
      : 'No Electron binary is installed (node_modules/electron/dist is empty and ELECTRON_OVERRIDE_DIST_PATH is unset); it cannot be downloaded on this offline machine. The harness project covers the same renderer and router in Chromium.',
  };
}

function executableName(): string {
  if (process.platform === 'win32') return 'electron.exe';
  if (process.platform === 'darwin') return 'Electron.app/Contents/MacOS/Electron';
  return 'electron';
}
