import { chmodSync, copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initSoftHsmToken, tempDataDir } from '../testing/softhsm-fixture';
import { prepareEmbeddedSoftHsm } from './softhsm';
import { ModuleHost } from './module-host';
import { describeToken } from './token-info';
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

  it('reports the library and each of its tokens as software, not a FIPS-validated HSM', () => {
    expect(module!.info()).toMatchObject({
      softwareToken: true,
      software: { product: 'SoftHSM2' },
      manufacturer: expect.stringMatching(/SoftHSM/),
    });
    expect(module!.info().notice).toMatch(/^Software token \(SoftHSM2\).*not a FIPS 140-3 validated HSM/);
    const found = module!.slots().find((s) => s.token?.serial === token.serial)?.token;
    expect(found?.software).toEqual({
      software: true,
      product: 'SoftHSM',
      reason: 'Known software token: SoftHSM (“SoftHSM project”, model “SoftHSM v2”); its slot is not a hardware slot.',
    });
  });

  it('recognises SoftHSM2 by its library maker when it is configured like a vendor module', () => {
    const copy = join(dataDir, 'vendor', 'libvendor-pkcs11.so');
    mkdirSync(join(dataDir, 'vendor'), { mode: 0o755 });
    copyFileSync(prepareEmbeddedSoftHsm(dataDir).modulePath, copy);
    chmodSync(copy, 0o644);
    const configured = TokenModule.open(copy, 'configured');
    try {
      expect(configured.info().software).toEqual({
        product: 'SoftHSM',
        reason: 'Known software library: SoftHSM (“SoftHSM Implementation of PKCS11”).',
      });
    } finally {
      configured.close();
    }
  });

  it('finds a token by serial and label and names what is missing', () => {
    expect(module!.findSlot(token)).toBeInstanceOf(Buffer);
    expect(() => module!.findSlot({ ...token, label: 'other' })).toThrow(
      expect.objectContaining({ code: 'TOKEN_NOT_FOUND' }),
    );
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
    // A sentinel session stays open throughout: it would stay logged in if withSession did not log out,
    // and SoftHSM2 only logs out by itself when the last session closes.
    const slot = module!.findSlot(token);
    const sentinel = module!.run('sentinel', (lib) => lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION));
    let inner: Buffer | null = null;
    expect(() =>
      module!.withSession(token, { login: { user: 'user', pin: '1234' } }, (session) => {
        inner = session;
        throw new Error('power cut mid-step');
      }),
    ).toThrow('power cut mid-step');
    const state = module!.run('state', (lib) => lib.C_GetSessionInfo(sentinel).state);
    expect(state).toBe(0); // CKS_RO_PUBLIC_SESSION: nobody logged in
    expect(() => module!.run('closed?', (lib) => lib.C_GetSessionInfo(inner!))).toThrow(
      expect.objectContaining({ code: 'SESSION_CLOSED' }),
    );
    module!.run('close sentinel', (lib) => lib.C_CloseSession(sentinel));
  });

  it('gives raw PKCS#11 failures inside a session the same stable codes', () => {
    expect(() =>
      module!.withSession(token, { write: true, login: { user: 'user', pin: '1234' } }, (session, lib) =>
        lib.C_DestroyObject(session, Buffer.from([0xff, 0xff, 0, 0, 0, 0, 0, 0])),
      ),
    ).toThrow(expect.objectContaining({ code: 'OBJECT_INVALID' }));
  });
});

describe('describeToken on the token info SoftHSM2 returns', () => {
  const CKF_HW_SLOT = 0x4;
  const raw = () =>
    module!.run('read', (lib) => {
      const slot = module!.findSlot(token);
      return { slot: lib.C_GetSlotInfo(slot), token: lib.C_GetTokenInfo(slot) };
    });
  const pad = (text: string, width: number) => text.padEnd(width, ' ');

  it('decides by the maker, and asks for mechanisms only when the maker and slot leave it open', () => {
    let asked = 0;
    const info = raw();
    expect(describeToken(info.slot, info.token, () => ++asked).software).toMatchObject({
      software: true,
      product: 'SoftHSM',
    });
    // A software maker wins over a slot that claims hardware, and the reason says so.
    expect(
      describeToken({ ...info.slot, flags: info.slot.flags | CKF_HW_SLOT }, info.token, () => ++asked).software.reason,
    ).toMatch(/claims to be hardware, but this maker’s token is software/);
    expect(asked).toBe(0);
  });

  it('never calls an unknown token software on its flags alone, but says when nothing shows hardware', () => {
    const info = raw();
    const unknown = { ...info.token, manufacturerID: pad('Acme Devices', 32), model: pad('Vault 9', 16) };
    expect(describeToken({ ...info.slot, flags: info.slot.flags | CKF_HW_SLOT }, unknown, () => 0).software).toEqual({
      software: false,
      product: null,
      reason: 'Not a known software token; its slot is a hardware slot.',
    });
    expect(describeToken(info.slot, unknown, () => 3).software.reason).toBe(
      'Not a known software token; 3 of its mechanisms run in hardware.',
    );
    expect(describeToken(info.slot, unknown, () => 0).software).toMatchObject({
      software: false,
      reason: expect.stringMatching(
        /“Acme Devices”, model “Vault 9”.*claims neither a hardware slot nor a hardware mechanism/,
      ),
    });
  });
});

describe('TokenModule.open', () => {
  it('refuses a relative path as MODULE_UNSAFE, before loading anything', () => {
    expect(() => TokenModule.open('libsofthsm2.so', 'configured')).toThrow(
      expect.objectContaining({ code: 'MODULE_UNSAFE' }),
    );
  });

  it('refuses a library that another user could replace (world-writable file or folder)', () => {
    const dir = join(dataDir, 'drop');
    mkdirSync(dir, { mode: 0o755 });
    const copy = join(dir, 'libsofthsm2.so');
    copyFileSync(prepareEmbeddedSoftHsm(dataDir).modulePath, copy);
    chmodSync(copy, 0o666);
    expect(() => TokenModule.open(copy, 'configured')).toThrow(expect.objectContaining({ code: 'MODULE_UNSAFE' }));
    chmodSync(copy, 0o644);
    chmodSync(dir, 0o777);
    expect(() => TokenModule.open(copy, 'configured')).toThrow(expect.objectContaining({ code: 'MODULE_UNSAFE' }));
  });

  it('names a missing library MODULE_NOT_FOUND', () => {
    expect(() => TokenModule.open(join(dataDir, 'nope.so'), 'configured')).toThrow(
      expect.objectContaining({ code: 'MODULE_NOT_FOUND' }),
    );
  });

  it('names a file that is not a PKCS#11 library MODULE_LOAD_FAILED', () => {
    const fake = join(dataDir, 'fake.so');
    writeFileSync(fake, 'not a shared object');
    expect(() => TokenModule.open(fake, 'configured')).toThrow(expect.objectContaining({ code: 'MODULE_LOAD_FAILED' }));
  });
});

describe('ModuleHost', () => {
  it('treats two spellings of one library (a symlink) as the same loaded module', () => {
    module?.close();
    module = undefined;
    const host = new ModuleHost();
    const real = prepareEmbeddedSoftHsm(dataDir).modulePath;
    const link = join(dataDir, 'softhsm-link.so');
    symlinkSync(real, link);
    const a = host.acquire(real, 'configured');
    const b = host.acquire(link, 'configured');
    expect(b).toBe(a);
    expect(host.users(link)).toBe(2);
    host.closeAll();
  });

  it('keeps a library initialised when its last user lets go, and finalises it only in closeAll', () => {
    module?.close();
    module = undefined;
    const host = new ModuleHost();
    const path = prepareEmbeddedSoftHsm(dataDir).modulePath;
    const first = host.acquire(path, 'embedded-softhsm');
    host.release(first);
    expect(host.users(path)).toBe(0);
    expect(host.isLoaded(path)).toBe(true);
    expect(first.slots().length).toBeGreaterThan(0);
    // Using it again is the same initialised library, not a second C_Initialize.
    expect(host.acquire(path, 'embedded-softhsm')).toBe(first);
    host.closeAll();
    expect(host.isLoaded(path)).toBe(false);
    expect(() => first.slots()).toThrow(expect.objectContaining({ code: 'MODULE_LOAD_FAILED' }));
  });
});

describe('session callbacks', () => {
  it('are synchronous by type: an async one would run its awaits after the session closed', () => {
    const uses = (module: TokenModule) => {
      const ref = { serial: 'x', label: 'y' };
      module.withSession(ref, {}, () => 1);
      // @ts-expect-error an async callback is refused by the type checker
      void module.withSession(ref, {}, async () => 1);
      // @ts-expect-error the same for a bare library call
      void module.run('reading', async () => 1);
    };
    expect(uses).toBeTypeOf('function');
  });
});
