import { renameSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ModuleStatus } from '../../shared/tokens';
import { CustosCore } from './custos-core';
import { softHsmPaths } from './hsm/softhsm';
import { silentLog } from './log';
import { initSoftHsmToken, tempDataDir } from './testing/softhsm-fixture';

let dataDir: string;
let cleanup: () => void;
let core: CustosCore | undefined;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => {
  core?.close();
  core = undefined;
  cleanup();
});
const openCore = (moduleOverride?: string) => (core = CustosCore.open({ dataDir, version: 'test', production: true, log: silentLog, moduleOverride }));

describe('CustosCore through its router', () => {
  it('shows the embedded SoftHSM2 token, its serial and its mechanisms', async () => {
    const token = initSoftHsmToken(dataDir, 'rehearsal');
    const router = openCore().router;
    const snapshot = await router.dispatch('app.snapshot', {});
    expect(snapshot.ok).toBe(true);
    const status = (snapshot as { value: { tokens: ModuleStatus } }).value.tokens;
    expect(status.state).toBe('ready');
    if (status.state !== 'ready') return;
    expect(status.module.kind).toBe('embedded-softhsm');
    expect(status.slots.map((s) => s.token?.serial)).toContain(token.serial);
    const mechanisms = await router.dispatch('tokens.mechanisms', token);
    expect(mechanisms).toMatchObject({ ok: true, value: { mechanisms: expect.arrayContaining([expect.objectContaining({ name: 'CKM_AES_KEY_WRAP_PAD' })]) } });
  });

  it('remembers the selected token across restarts', async () => {
    const token = initSoftHsmToken(dataDir, 'rehearsal');
    expect(await openCore().router.dispatch('tokens.select', token)).toEqual({ ok: true, value: token });
    core!.close();
    expect(openCore().snapshot().selectedToken).toEqual(token);
  });

  it('refuses to select a token that is not attached', async () => {
    initSoftHsmToken(dataDir, 'rehearsal');
    const result = await openCore().router.dispatch('tokens.select', { serial: 'deadbeef', label: 'ghost' });
    expect(result).toMatchObject({ ok: false, error: { code: 'TOKEN_NOT_FOUND' } });
    expect(core!.snapshot().selectedToken).toBeNull();
  });

  it('keeps the working module when a wrong module path is entered, and saves nothing', async () => {
    initSoftHsmToken(dataDir, 'rehearsal');
    const router = openCore().router;
    const result = await router.dispatch('settings.setModule', { path: '/usr/lib/does-not-exist/pkcs11.so' });
    expect(result).toMatchObject({ ok: false, error: { code: 'MODULE_NOT_FOUND', remedy: expect.any(Array) } });
    expect(core!.settings.get('token.modulePath')).toBeNull();
    expect(core!.tokens.status().state).toBe('ready');
  });

  it('reports a removed token directory as SOFTHSM_TOKEN_DIR_MISSING instead of crashing', async () => {
    initSoftHsmToken(dataDir, 'rehearsal');
    const router = openCore().router;
    const { tokenDir } = softHsmPaths(dataDir);
    renameSync(tokenDir, `${tokenDir}.gone`);
    const status = await router.dispatch('tokens.status', {});
    expect(status).toMatchObject({ ok: true, value: { state: 'unavailable', code: 'SOFTHSM_TOKEN_DIR_MISSING' } });
    expect(await router.dispatch('tokens.mechanisms', { serial: 'x', label: 'y' })).toMatchObject({ ok: false, error: { code: 'SOFTHSM_TOKEN_DIR_MISSING' } });
  });

  it('reports a configured module that does not exist as MODULE_NOT_FOUND', async () => {
    const status = await openCore('/opt/vendor/missing-pkcs11.so').router.dispatch('tokens.status', {});
    expect(status).toMatchObject({ ok: true, value: { state: 'unavailable', code: 'MODULE_NOT_FOUND', path: '/opt/vendor/missing-pkcs11.so' } });
  });

  it('pushes the token status to subscribers when it changes', async () => {
    initSoftHsmToken(dataDir, 'rehearsal');
    const seen: string[] = [];
    openCore().events.subscribe((event) => seen.push(event));
    await core!.router.dispatch('tokens.status', {});
    expect(seen).toContain('tokens.changed');
  });
});
