import { beforeAll, expect, it } from 'vitest';
import {
  describeOnOpencryptoki,
  initOpencryptokiToken,
  OPENCRYPTOKI_MODULE,
  resetOpencryptoki,
} from '../testing/opencryptoki-fixture';
import { readCapabilities } from './capabilities';
import { TokenModule } from './token-module';

describeOnOpencryptoki('opencryptoki software token through TokenModule', () => {
  let token: { serial: string; label: string };
  beforeAll(() => {
    resetOpencryptoki();
    token = initOpencryptokiToken('custos-test probe', '12345678');
  });

  it('lists its software token by serial and label, with its PIN limits', () => {
    const module = TokenModule.open(OPENCRYPTOKI_MODULE, 'configured');
    const info = module.slots().find((slot) => slot.token?.model === 'IBM SoftTok')?.token;
    expect(info).toMatchObject({
      serial: '123',
      label: 'custos-test probe',
      initialized: true,
      minPinLength: 4,
      maxPinLength: 8,
      blankInitNeedsSoPin: true,
    });

    // What Custos reads before a proposal: no EC, no CKM_SHA256_RSA_PKCS, no RFC 5649 wrap, and
    // CKA_WRAP_WITH_TRUSTED refused on a throwaway key (found without any login).
    const capabilities = readCapabilities(module, token, true);
    const names = capabilities.mechanisms.map((m) => m.name);
    expect(names).toEqual(
      expect.arrayContaining(['CKM_RSA_PKCS', 'CKM_RSA_PKCS_KEY_PAIR_GEN', 'CKM_AES_KEY_GEN', 'CKM_AES_ECB']),
    );
    for (const missing of ['CKM_EC_KEY_PAIR_GEN', 'CKM_ECDSA', 'CKM_SHA256_RSA_PKCS', 'CKM_AES_KEY_WRAP_PAD'])
      expect(names).not.toContain(missing);
    expect(capabilities.wrapWithTrusted).toBe(false);
  });
});
