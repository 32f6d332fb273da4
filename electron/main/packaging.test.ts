import { FuseV1Options } from '@electron/fuses';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { minimatch } from 'minimatch';
import { describe, expect, it } from 'vitest';
import { FONT } from '../core/pdf';

const config = load(readFileSync(join(__dirname, '../../electron-builder.yml'), 'utf8')) as {
  electronFuses: Record<string, boolean>;
  asarUnpack: string[];
  linux: { target: string[] };
  mac: { target: string[] };
  win: { target: string[] };
  npmRebuild: boolean;
  extraResources: { from: string; to: string; filter: string[] }[];
  files: string[];
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

  it('keeps in the asar the three fonts every PDF embeds, with their licence, and leaves the rest of the family out', () => {
    // As electron-builder applies `files` (minimatch, as app-builder-lib does) to a production dependency's files:
    // a file stays unless an exclusion matches its path. A font left out would make every report and card PDF fail
    // in the packaged app only, where no test runs.
    const root = join(__dirname, '../../node_modules/dejavu-fonts-ttf');
    const exclusions = config.files.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
    const kept = readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => join('node_modules/dejavu-fonts-ttf', entry.parentPath.slice(root.length), entry.name))
      .filter((path) => !exclusions.some((pattern) => minimatch(path, pattern, { dot: true })));
    const fonts = Object.values(FONT).map((name) => `node_modules/dejavu-fonts-ttf/ttf/${name}.ttf`);
    expect(kept.filter((path) => path.endsWith('.ttf')).sort()).toEqual(fonts.sort());
    expect(kept).toContain('node_modules/dejavu-fonts-ttf/LICENSE');
  });

  it('targets AppImage and deb, dmg, and nsis', () => {
    expect(config.linux.target).toEqual(['AppImage', 'deb']);
    expect(config.mac.target).toEqual(['dmg']);
    expect(config.win.target).toEqual(['nsis']);
  });
});
