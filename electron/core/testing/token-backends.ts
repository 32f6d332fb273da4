import { prepareEmbeddedSoftHsm } from '../hsm/softhsm';
import {
  initOpencryptokiToken,
  OPENCRYPTOKI_FACTORY_SO_PIN,
  OPENCRYPTOKI_MODULE,
  resetOpencryptoki,
} from './opencryptoki-fixture';
import { initSoftHsmToken } from './softhsm-fixture';
import type { TokenBackend } from './token-suite';

/** SoftHSM2 2.6 (Debian): a token directory per test, any SO PIN on a blank slot, every mechanism Custos uses. */
export const softHsm: TokenBackend = {
  name: 'SoftHSM2',
  module: (dataDir) => ({ path: prepareEmbeddedSoftHsm(dataDir).modulePath, kind: 'embedded-softhsm' }),
  blankToken: () => ({ serial: '', label: '' }),
  initialisedToken: (dataDir) => ({
    token: initSoftHsmToken(dataDir, 'custos-test owner', { so: '87654321', user: '123456' }),
    soPin: '87654321',
  }),
  factorySoPin: null,
  secondBlankToken: { serial: '', label: '' },
  expect: {
    // 32 characters of 62 letters and digits.
    pinBits: 190,
    generates: ['AES-256', 'RSA-3072', 'RSA-4096', 'EC-P256', 'EC-P384', 'Ed25519'],
    refusedBecause: {},
    rsaSignMechanism: 'CKM_SHA256_RSA_PKCS',
    wrapWithTrusted: true,
    backup: true,
  },
};

/**
 * opencryptoki 3.8's software token (Debian): one machine-wide token that wants its factory SO PIN
 * in C_InitToken, PINs of at most 8 characters, no EC or EdDSA, no CKM_SHA256_RSA_PKCS, no
 * CKA_WRAP_WITH_TRUSTED and no AES key wrap with padding.
 */
export const opencryptoki: TokenBackend = {
  name: 'opencryptoki',
  module: () => ({ path: OPENCRYPTOKI_MODULE, kind: 'configured' }),
  blankToken: () => resetOpencryptoki(),
  initialisedToken: () => {
    resetOpencryptoki();
    return { token: initOpencryptokiToken('custos-test owner', '12345678'), soPin: OPENCRYPTOKI_FACTORY_SO_PIN };
  },
  factorySoPin: OPENCRYPTOKI_FACTORY_SO_PIN,
  secondBlankToken: null,
  expect: {
    // 8 characters of 62 letters and digits: the token's cap.
    pinBits: 47,
    generates: ['AES-256', 'RSA-3072', 'RSA-4096'],
    refusedBecause: {
      'EC-P256': 'CKM_EC_KEY_PAIR_GEN',
      'EC-P384': 'CKM_EC_KEY_PAIR_GEN',
      Ed25519: 'CKM_EC_EDWARDS_KEY_PAIR_GEN',
    },
    rsaSignMechanism: 'CKM_RSA_PKCS',
    wrapWithTrusted: false,
    backup: false,
  },
};
