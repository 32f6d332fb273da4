import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initSoftHsmToken, tempDataDir } from '../testing/softhsm-fixture';
import { prepareEmbeddedSoftHsm } from './softhsm';
import { TokenModule } from './token-module';

let dataDir: string;
let cleanup: () => void;
let module: TokenModule | undefined;
let token: { serial: string; label: string };
beforeEach(() => {
  ({ dataDir, cleanup } = tempDataDir());
  token = initSoftHsmToken(dataDir, 'custody-a');
  module = TokenModule.open(prepareEmbeddedSoftHsm(dataDir).modulePath, 'embedded-softhsm');
});
afterEach(() => {
  module?.close();
  cleanup();
});

describe('TokenModule on SoftHSM2', () => {
  it('lists the token with its serial, label, model and PIN state', () => {
    const tokens = module!.slots().flatMap((s) => (s.token ? [s.token] : []));
    const found = tokens.find((t) => t.serial === token.serial);
    expect(found).toMatchObject({ label: 'custody-a', model: 'SoftHSM v2', initialized: true, hasRng: true });
    expect(found?.userPin).toMatchObject({ initialized: true, locked: false, finalTry: false });
    // SoftHSM2 always keeps one blank slot for the next token.
    expect(tokens.some((t) => !t.initialized)).toBe(true);
  });

  it('reports the library as a software token that is not FIPS-validated', () => {
    expect(module!.info()).toMatchObject({ softwareToken: true, manufacturer: expect.stringMatching(/SoftHSM/) });
    expect(module!.info().notice).toMatch(/not FIPS/);
  });

  it('finds a token by serial and label and names what is missing', () => {
    expect(module!.findSlot(token)).toBeInstanceOf(Buffer);
    expect(() => module!.findSlot({ ...token, label: 'other' })).toThrow(expect.objectContaining({ code: 'TOKEN_NOT_FOUND' }));
  });

  it('probes mechanisms with their names, including the ones pkcs11js has no constant for', () => {
    const mechanisms = module!.mechanisms(token);
    const kwp = mechanisms.find((m) => m.type === 0x210a);
    expect(kwp).toMatchObject({ name: 'CKM_AES_KEY_WRAP_PAD', functions: expect.arrayContaining(['wrap', 'unwrap']) });
    expect(mechanisms.find((m) => m.type === 0x1057)?.name).toBe('CKM_EDDSA');
    expect(mechanisms.find((m) => m.type === pkcs11js.CKM_ECDSA)?.functions).toContain('sign');
  });

  it('maps a wrong PIN to PIN_INCORRECT and shows the PIN counter afterwards', () => {
    expect(() => module!.withSession(token, { login: { user: 'user', pin: 'wrong-pin' } }, () => 1)).toThrow(
      expect.objectContaining({ code: 'PIN_INCORRECT' }),
    );
    const info = module!.slots().find((s) => s.token?.serial === token.serial)?.token;
    expect(info?.userPin.countLow).toBe(true);
    expect(info?.warnings.join(' ')).toMatch(/closer to locking/);
  });

  it('logs out and closes the session even when the work inside throws', () => {
    expect(() =>
      module!.withSession(token, { login: { user: 'user', pin: '1234' } }, () => {
        throw new Error('power cut mid-step');
      }),
    ).toThrow('power cut mid-step');
    // Had the first session stayed logged in, this login would fail with ALREADY_LOGGED_IN.
    expect(module!.withSession(token, { login: { user: 'user', pin: '1234' } }, () => 'second login ok')).toBe('second login ok');
  });
});

describe('TokenModule.open', () => {
  it('names a missing library MODULE_NOT_FOUND', () => {
    expect(() => TokenModule.open(join(dataDir, 'nope.so'), 'configured')).toThrow(expect.objectContaining({ code: 'MODULE_NOT_FOUND' }));
  });

  it('names a file that is not a PKCS#11 library MODULE_LOAD_FAILED', () => {
    const fake = join(dataDir, 'fake.so');
    writeFileSync(fake, 'not a shared object');
    expect(() => TokenModule.open(fake, 'configured')).toThrow(expect.objectContaining({ code: 'MODULE_LOAD_FAILED' }));
  });
});
