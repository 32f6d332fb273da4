import pkcs11js from 'pkcs11js';
import { describe, expect, it } from 'vitest';
import { knownPkcs11Results, tokenError } from './pkcs11-errors';

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
    expect(tokenError(new Error('CKR_VENDOR_SPECIFIC_THING'))).toMatchObject({ code: 'TOKEN_ERROR', message: expect.stringContaining('CKR_VENDOR_SPECIFIC_THING') });
  });
});

describe('the CKR_* table', () => {
  it('explains every return value PKCS#11 defines (other than CKR_OK and vendor-defined)', () => {
    const defined = Object.keys(pkcs11js).filter((name) => name.startsWith('CKR_') && name !== 'CKR_OK' && name !== 'CKR_VENDOR_DEFINED');
    expect(defined.filter((name) => !knownPkcs11Results.includes(name))).toEqual([]);
  });
});
