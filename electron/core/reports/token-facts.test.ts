import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ModuleStatus } from '../../../shared/tokens';
import { prepareEmbeddedSoftHsm } from '../hsm/softhsm';
import { TokenModule } from '../hsm/token-module';
import { initSoftHsmToken, tempDataDir } from '../testing/softhsm-fixture';
import { tokenFacts } from './token-facts';

let dataDir: string;
let cleanup: () => void;
let module: TokenModule | undefined;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => {
  module?.close();
  cleanup();
});

const statusOf = (m: TokenModule): ModuleStatus => {
  const slots = m.slots();
  return { state: 'ready', module: m.info(slots), slots };
};
const certificate = {
  modulePath: '/x',
  standard: 'FIPS 140-3' as const,
  certificate: '4711',
  level: 3,
  recordedAt: '2027-01-02T00:00:00Z',
};

describe('what a report says about the token a ceremony ran on', () => {
  it('calls a SoftHSM2 token a software token, not validated, even when a certificate is recorded for its library', () => {
    const token = initSoftHsmToken(dataDir, 'vault');
    // Configured like a vendor module, so only its name and its tokens tell what it is.
    const library = join(dataDir, 'vendor', 'libvendor-pkcs11.so');
    mkdirSync(join(dataDir, 'vendor'), { mode: 0o755 });
    copyFileSync(prepareEmbeddedSoftHsm(dataDir).modulePath, library);
    chmodSync(library, 0o644);
    module = TokenModule.open(library, 'configured');
    expect(tokenFacts(statusOf(module), token, certificate)).toEqual({
      ...token,
      manufacturer: 'SoftHSM project',
      model: 'SoftHSM v2',
      kind: 'software token',
      module: module.path,
      validation: 'none: software token (SoftHSM), not a FIPS 140-3 validated HSM',
    });
  });

  it('gives the recorded certificate for a token that is not software, and says when the module is down', () => {
    const token = initSoftHsmToken(dataDir, 'vault');
    module = TokenModule.open(prepareEmbeddedSoftHsm(dataDir).modulePath, 'configured');
    const status = statusOf(module);
    if (status.state !== 'ready') throw new Error('not ready');
    // The same real listing, as a hardware HSM from an unknown maker would report itself.
    const hardware: ModuleStatus = {
      ...status,
      module: { ...status.module, softwareToken: false, software: null, notice: null },
      slots: status.slots.map((s) =>
        s.token
          ? {
              ...s,
              token: {
                ...s.token,
                software: {
                  software: false,
                  product: null,
                  reason: 'Not a known software token; its slot is a hardware slot.',
                },
              },
            }
          : s,
      ),
    };
    expect(tokenFacts(hardware, token, certificate)).toMatchObject({
      kind: 'hardware token',
      validation: 'FIPS 140-3 certificate #4711, level 3 (recorded 2027-01-02)',
    });
    expect(tokenFacts(hardware, token, undefined)).toMatchObject({ validation: 'none recorded' });
    expect(
      tokenFacts(
        { state: 'unavailable', code: 'MODULE_NOT_FOUND', message: 'gone', remedy: [], path: null },
        token,
        certificate,
      ),
    ).toEqual({ ...token, validation: 'unknown (token module unavailable)' });
  });
});
