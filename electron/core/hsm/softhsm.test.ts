import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDataDir } from '../testing/softhsm-fixture';
import { prepareEmbeddedSoftHsm, softHsmPaths } from './softhsm';

let dataDir: string;
let cleanup: () => void;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => cleanup());

describe('embedded SoftHSM2 default', () => {
  it('creates its own private configuration and token directory inside the data directory', () => {
    const embedded = prepareEmbeddedSoftHsm(dataDir);
    expect(embedded.configPath.startsWith(dataDir)).toBe(true);
    expect(readFileSync(embedded.configPath, 'utf8')).toContain(`directories.tokendir = ${embedded.tokenDir}`);
    expect(statSync(embedded.configPath).mode & 0o777).toBe(0o600);
    expect(statSync(embedded.tokenDir).mode & 0o777).toBe(0o700);
    expect(process.env.SOFTHSM2_CONF).toBe(embedded.configPath);
  });

  it('refuses to recreate a token directory that has gone missing, and writes nothing', () => {
    const { tokenDir } = prepareEmbeddedSoftHsm(dataDir);
    renameSync(tokenDir, `${tokenDir}.moved`);
    expect(() => prepareEmbeddedSoftHsm(dataDir)).toThrow(
      expect.objectContaining({ code: 'SOFTHSM_TOKEN_DIR_MISSING' }),
    );
    expect(existsSync(softHsmPaths(dataDir).tokenDir)).toBe(false);
  });

  it('explains how to install SoftHSM2 or configure a real module when SoftHSM2 is absent', () => {
    let caught: unknown;
    try {
      prepareEmbeddedSoftHsm(dataDir, ['/nonexistent/libsofthsm2.so']);
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: 'SOFTHSM_NOT_INSTALLED' });
    const remedy = (caught as { remedy: string[] }).remedy.join('\n');
    expect(remedy).toMatch(/apt-get install softhsm2/);
    expect(remedy).toMatch(/OpenSC/);
    expect(existsSync(softHsmPaths(dataDir).configPath)).toBe(false);
  });
});
