import pkcs11js from 'pkcs11js';
import { describe, expect, it } from 'vitest';
import { CustosError } from '../errors';
import { knownPkcs11Results, refusalName, tokenError, tokenFailureDetail, tokenStep } from './pkcs11-errors';

describe('tokenError', () => {
  it.each([
    ['CKR_PIN_INCORRECT', 'PIN_INCORRECT'],
    ['CKR_PIN_LOCKED', 'PIN_LOCKED'],
    ['CKR_TOKEN_NOT_PRESENT', 'TOKEN_NOT_PRESENT'],
    ['CKR_DEVICE_REMOVED', 'TOKEN_REMOVED'],
    ['CKR_SESSION_CLOSED', 'SESSION_CLOSED'],
    ['CKR_SESSION_HANDLE_INVALID', 'SESSION_CLOSED'],
    ['CKR_FUNCTION_NOT_SUPPORTED', 'FUNCTION_NOT_SUPPORTED'],
    ['CKR_MECHANISM_INVALID', 'MECHANISM_INVALID'],
    ['CKR_GENERAL_ERROR', 'TOKEN_GENERAL_ERROR'],
  ])('maps %s to %s with a sentence, not the raw name', (ckr, code) => {
    const error = tokenError(Object.assign(new Error(ckr), { code: 1 }), 'Logging in');
    expect(error.code).toBe(code);
    expect(error.message).toMatch(/^Logging in: [A-Z]/);
    expect(error.message).not.toContain('CKR_');
  });

  it('keeps an unknown CKR name visible rather than pretending it is something else', () => {
    expect(tokenError(new Error('CKR_VENDOR_SPECIFIC_THING'))).toMatchObject({
      code: 'TOKEN_ERROR',
      message: expect.stringContaining('CKR_VENDOR_SPECIFIC_THING'),
    });
  });
});

describe('refusalName', () => {
  it('names a 2.40 return value pkcs11js 2.1.7 throws as CKR_VENDOR_DEFINED, its value in the error’s code', () => {
    // As C_DestroyObject of a CKA_DESTROYABLE false object throws it on SoftHSM2 2.6.1.
    const prohibited = new pkcs11js.Pkcs11Error('CKR_VENDOR_DEFINED', 0x1b, 'C_DestroyObject');
    expect(refusalName(prohibited)).toBe('CKR_ACTION_PROHIBITED');
    expect(refusalName(new Error('CKR_VENDOR_DEFINED:27'))).toBe('CKR_ACTION_PROHIBITED');
    expect(refusalName(new pkcs11js.Pkcs11Error('CKR_VENDOR_DEFINED', 0x8000_0001, 'C_Sign'))).toBe(
      'CKR_VENDOR_DEFINED',
    );
  });
});

describe('the detail of a token failure', () => {
  // What pkcs11js throws: the CKR_ name as the message, the C_ function as the method.
  const refusal = () => new pkcs11js.Pkcs11Error('CKR_MECHANISM_INVALID:112', 0, 'C_SignInit');

  it('keeps the CKR_ name and the step that tokenError would otherwise turn into a sentence only', () => {
    const detail = { ckr: 'CKR_MECHANISM_INVALID', step: 'C_SignInit' };
    expect(tokenError(refusal())).toMatchObject({ code: 'MECHANISM_INVALID', detail });
  });

  it('names the mechanism the step was given, and leaves the raw error as it was for callers that branch on it', () => {
    const raw = refusal();
    const refused = () => {
      throw raw;
    };
    expect(() => tokenStep('C_SignInit', { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS }, refused)).toThrow(raw);
    expect(raw.message).toBe('CKR_MECHANISM_INVALID');
    const detail = { ckr: 'CKR_MECHANISM_INVALID', step: 'C_SignInit', mechanism: 'CKM_SHA256_RSA_PKCS' };
    expect(tokenError(raw).detail).toEqual(detail);
  });

  it('finds the detail behind an error that wraps the token’s refusal as its cause', () => {
    const raw = refusal();
    const refused = () => {
      throw raw;
    };
    const asked = { mechanism: 'CKM_AES_KEY_WRAP_PAD', attribute: 'CKA_EXTRACTABLE' };
    expect(() => tokenStep('C_WrapKey', asked, refused)).toThrow(raw);
    // As key-wrap.ts does: a clearer sentence, with the token's refusal as the cause.
    const wrapped = new CustosError('TOKEN_KEY_REFUSED', 'The token refuses to wrap this key.', [], { cause: raw });
    expect(tokenFailureDetail(wrapped)).toEqual({ ckr: 'CKR_MECHANISM_INVALID', step: 'C_WrapKey', ...asked });
    expect(tokenFailureDetail(new Error('disk full'))).toBeUndefined();
  });
});

describe('the CKR_* table', () => {
  it('explains every return value PKCS#11 defines (other than CKR_OK and vendor-defined)', () => {
    const defined = Object.keys(pkcs11js).filter(
      (name) => name.startsWith('CKR_') && name !== 'CKR_OK' && name !== 'CKR_VENDOR_DEFINED',
    );
    expect(defined.filter((name) => !knownPkcs11Results.includes(name))).toEqual([]);
  });
});
