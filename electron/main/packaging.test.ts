import { FuseV1Options } from '@electron/fuses';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';

const config = load(readFileSync(join(__dirname, '../../electron-builder.yml'), 'utf8')) as {
  electronFuses: Record<string, boolean>;
  asarUnpack: string[];
  linux: { target: string[] };
  mac: { target: string[] };
  win: { target: string[] };
  npmRebuild: boolean;
  extraResources: { from: string; to: string; filter: string[] }[];
};

const expected: Record<string, boolean> = {
  runAsNode: false,
  enableCookieEncryption: true,
  enableNodeOptionsEnvironmentVariable: false,
  enableNodeCliInspectArguments: false,
  enableEmbeddedAsarIntegrityValidation: true,
  onlyLoadAppFromAsar: true,
  loadBrowserProcessSpecificV8Snapshot: false,
  grantFileProtocolExtraPrivileges: false,
};

describe('electron-builder.yml', () => {
  it('sets every fuse Electron defines, explicitly', () => {
    const fuseNames = Object.keys(FuseV1Options)
      .filter((key) => Number.isNaN(Number(key)))
      .map((name) => name.charAt(0).toLowerCase() + name.slice(1));
    for (const fuse of fuseNames) expect(config.electronFuses, fuse).toHaveProperty(fuse);
    expect(config.electronFuses).toEqual(expected);
  });

  it('unpacks the native modules from the asar and rebuilds them for Electron', () => {
    expect(config.asarUnpack).toEqual(
      expect.arrayContaining(['**/node_modules/pkcs11js/**', '**/node_modules/better-sqlite3/**']),
    );
    expect(config.npmRebuild).toBe(true);
  });

  it('ships the ceremony templates beside the asar, where the core looks for them', () => {
    expect(config.extraResources).toContainEqual({ from: 'resources/ceremonies', to: 'ceremonies', filter: ['*.yml'] });
  });

  it('targets AppImage and deb, dmg, and nsis', () => {
    expect(config.linux.target).toEqual(['AppImage', 'deb']);
    expect(config.mac.target).toEqual(['dmg']);
    expect(config.win.target).toEqual(['nsis']);
  });
});
