import { renameSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../core/store/database';
import { softHsmPaths } from '../core/hsm/softhsm';
import { initSoftHsmToken, tempDataDir } from '../core/testing/softhsm-fixture';
import { EXIT, runCli } from './cli';

let dataDir: string;
let cleanup: () => void;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => cleanup());

async function custos(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['--data-dir', dataDir, ...args], { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env: {} }, 'test');
  return { code, stdout, stderr, json: () => JSON.parse(stdout) as { ok: boolean; value?: unknown; error?: { code: string } } };
}

describe('custos CLI', () => {
  it('token list --json shows the embedded SoftHSM2 token with its serial', async () => {
    const token = initSoftHsmToken(dataDir, 'cli-token');
    const run = await custos('token', 'list', '--json');
    expect(run.code).toBe(EXIT.ok);
    expect(JSON.stringify(run.json().value)).toContain(token.serial);
  });

  it('token mechanisms prints the probed mechanisms of a token given by serial and label', async () => {
    const token = initSoftHsmToken(dataDir, 'cli-token');
    const run = await custos('token', 'mechanisms', '--serial', token.serial, '--label', token.label);
    expect(run.code).toBe(EXIT.ok);
    expect(run.stdout).toMatch(/CKM_AES_KEY_WRAP_PAD\s+0x210a/);
  });

  it('token select then token mechanisms uses the selected token', async () => {
    const token = initSoftHsmToken(dataDir, 'cli-token');
    expect((await custos('token', 'select', '--serial', token.serial, '--label', token.label)).code).toBe(EXIT.ok);
    expect((await custos('token', 'mechanisms')).stdout).toContain('CKM_EDDSA');
  });

  it('exits 3 with MODULE_NOT_FOUND for a wrong module path and saves nothing', async () => {
    initSoftHsmToken(dataDir, 'cli-token');
    const run = await custos('module', 'set', '/nowhere/pkcs11.so');
    expect(run.code).toBe(EXIT.token);
    expect(run.stderr).toMatch(/^Error MODULE_NOT_FOUND: No PKCS#11 library exists at \/nowhere\/pkcs11.so/);
    expect((await custos('status', '--json')).json()).toMatchObject({ ok: true });
  });

  it('exits 3 with SOFTHSM_TOKEN_DIR_MISSING when the token directory was removed', async () => {
    initSoftHsmToken(dataDir, 'cli-token');
    const { tokenDir } = softHsmPaths(dataDir);
    renameSync(tokenDir, `${tokenDir}.gone`);
    const run = await custos('token', 'list', '--json');
    expect(run.code).toBe(EXIT.token);
    expect(run.json().error?.code).toBe('SOFTHSM_TOKEN_DIR_MISSING');
  });

  it('exits 4 with STORE_LOCKED while another Custos holds the data directory', async () => {
    const holder = Store.open(dataDir);
    try {
      const run = await custos('status', '--json');
      expect(run.code).toBe(EXIT.store);
      expect(run.json().error?.code).toBe('STORE_LOCKED');
    } finally {
      holder.close();
    }
  });

  it('exits 2 with usage on an unknown command', async () => {
    const run = await custos('token', 'explode');
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toContain('Usage: custos');
  });

  it('exits 5 when a token is selected without a serial', async () => {
    initSoftHsmToken(dataDir, 'cli-token');
    expect((await custos('token', 'select')).code).toBe(EXIT.invalidInput);
  });
});
