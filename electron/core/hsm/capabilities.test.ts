import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initSoftHsmToken, tempDataDir } from '../testing/softhsm-fixture';
import { BACKUP_NEEDS, restoreNeeds } from '../backup/key-wrap';
import { offers, readCapabilities, requireCapabilities, unmet } from './capabilities';
import { CKM_EDDSA } from './mechanisms';
import { prepareEmbeddedSoftHsm } from './softhsm';
import { TokenModule } from './token-module';

let dataDir: string;
let cleanup: () => void;
let module: TokenModule;
let token: { serial: string; label: string };

beforeEach(() => {
  ({ dataDir, cleanup } = tempDataDir());
  token = initSoftHsmToken(dataDir, 'capabilities');
  module = TokenModule.open(prepareEmbeddedSoftHsm(dataDir).modulePath, 'embedded-softhsm');
});
afterEach(() => {
  module.close();
  cleanup();
});

describe('token capabilities, read from a real SoftHSM2 token without a login', () => {
  it('checks the function and the key size the token reports, in its own units', () => {
    const { mechanisms } = readCapabilities(module, token, false);
    expect(offers(mechanisms, { type: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN, fn: 'generate-key-pair', size: 3072 })).toBe(
      true,
    );
    // Key pairs are generated, never "generate": the function must match too.
    expect(offers(mechanisms, { type: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN, fn: 'generate', size: 3072 })).toBe(false);
    // AES sizes are in bytes: 32 is AES-256, 64 is beyond what the token offers.
    expect(offers(mechanisms, { type: pkcs11js.CKM_AES_KEY_GEN, fn: 'generate', size: 32 })).toBe(true);
    expect(offers(mechanisms, { type: pkcs11js.CKM_AES_KEY_GEN, fn: 'generate', size: 64 })).toBe(false);
  });

  it('finds that SoftHSM2 keeps CKA_WRAP_WITH_TRUSTED, trying it on a throwaway public session key', () => {
    expect(readCapabilities(module, token, true).wrapWithTrusted).toBe(true);
    // Nothing is left behind in the token.
    const left = module.withSession(token, {}, (session, lib) => {
      lib.C_FindObjectsInit(session, []);
      const found = lib.C_FindObjects(session, 10);
      lib.C_FindObjectsFinal(session);
      return found.length;
    });
    expect(left).toBe(0);
  });

  it('refuses what the token lacks, naming each mechanism, and accepts what it offers', () => {
    const vendorWrap = 0x80000171; // a vendor's AES key wrap code, which SoftHSM2 does not offer
    let error: unknown;
    try {
      requireCapabilities(module, token, 'key.restore', [
        { kind: 'mechanism', purpose: 'Unwrapping the backup', anyOf: [{ type: vendorWrap, fn: 'unwrap' }] },
      ]);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'TOKEN_CAPABILITY_MISSING' });
    expect((error as { remedy: string[] }).remedy[0]).toBe(
      'Unwrapping the backup: the token offers none of 0x80000171 (unwrap).',
    );
    expect(() =>
      requireCapabilities(module, token, 'key.generate', [
        { kind: 'mechanism', purpose: 'x', anyOf: [{ type: pkcs11js.CKM_ECDSA, fn: 'sign' }] },
      ]),
    ).not.toThrow();
    expect(
      unmet({ mechanisms: [], wrapWithTrusted: null }, [
        { kind: 'wrap-with-trusted', purpose: 'A backup-able key' },
      ])[0],
    ).toContain('could not be checked');
  });

  it('asks for one wrap mechanism that both wraps and unwraps, and for what proves each restored key', () => {
    const real = readCapabilities(module, token, false).mechanisms;
    expect(unmet({ mechanisms: real, wrapWithTrusted: true }, BACKUP_NEEDS)).toEqual([]);
    // A token whose RFC 5649 mechanism only wraps cannot verify a backup (nor restore one): refused.
    const wrapOnly = real.map((m) =>
      m.type === 0x210a ? { ...m, functions: m.functions.filter((f) => f !== 'unwrap') } : m,
    );
    expect(unmet({ mechanisms: wrapOnly, wrapWithTrusted: true }, BACKUP_NEEDS)[0]).toContain(
      'CKM_AES_KEY_WRAP_PAD (wrap and unwrap)',
    );
    // Restoring an Ed25519 key onto a token without EdDSA, or backup-able keys onto one without CKA_WRAP_WITH_TRUSTED.
    const needs = restoreNeeds({ type: 0x210a, name: 'CKM_AES_KEY_WRAP_PAD' }, [
      { algorithm: 'Ed25519', label: 'root', backupable: true },
      { algorithm: 'AES-256', label: 'data', backupable: true },
    ]);
    const noEddsa = real.filter((m) => m.type !== CKM_EDDSA);
    const missing = unmet({ mechanisms: noEddsa, wrapWithTrusted: false }, needs);
    expect(missing).toHaveLength(2);
    expect(missing[0]).toContain('Proving “root” (Ed25519)');
    expect(missing[1]).toContain('CKA_WRAP_WITH_TRUSTED');
    expect(unmet({ mechanisms: real, wrapWithTrusted: true }, needs)).toEqual([]);
  });
});
