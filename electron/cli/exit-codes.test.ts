import { describe, expect, it } from 'vitest';
import { ERROR_CLASSES, ErrorCode } from '../../shared/errors';
import { EXIT, exitCodeFor } from './cli';

describe('exit codes, derived from each error code’s class in shared/errors.ts', () => {
  it('puts every error code in exactly one class', () => {
    const listed = Object.values(ERROR_CLASSES).flat();
    for (const code of ErrorCode.options)
      expect(
        listed.filter((c) => c === code),
        code,
      ).toHaveLength(1);
    expect(listed).toHaveLength(ErrorCode.options.length);
  });

  it('gives every code one of the documented exit codes, following the families of names', () => {
    const documented = new Set<number>([
      EXIT.failure,
      EXIT.token,
      EXIT.store,
      EXIT.invalidInput,
      EXIT.verification,
      EXIT.refused,
    ]);
    for (const code of ErrorCode.options) {
      const exit = exitCodeFor(code);
      expect(documented.has(exit), code).toBe(true);
      if (code.startsWith('STORE_')) expect(exit, code).toBe(EXIT.store);
      if (code.startsWith('IPC_')) expect(exit, code).toBe(EXIT.invalidInput);
      if (code.endsWith('_TAMPERED')) expect(exit, code).toBe(EXIT.verification);
      if (/^(PIN|SESSION|SOFTHSM)_/.test(code)) expect(exit, code).toBe(EXIT.token);
    }
  });

  it('no longer calls a refusal or a forged file a token problem', () => {
    expect(exitCodeFor('SELF_APPROVAL')).toBe(EXIT.refused);
    expect(exitCodeFor('TOTP_REPLAYED')).toBe(EXIT.refused);
    expect(exitCodeFor('NOT_AUTHORIZED')).toBe(EXIT.refused);
    expect(exitCodeFor('BACKUP_INVALID')).toBe(EXIT.verification);
    expect(exitCodeFor('AUDIT_VERIFY_FAILED')).toBe(EXIT.verification);
    expect(exitCodeFor('PIN_INCORRECT')).toBe(EXIT.token);
    expect(exitCodeFor('INTERNAL')).toBe(EXIT.failure);
  });

  it('gives what KEY_INVALID used to cover the class of what happened', () => {
    expect(exitCodeFor('KEY_NOT_FOUND')).toBe(EXIT.invalidInput);
    expect(exitCodeFor('KEY_TYPE_UNSUITED')).toBe(EXIT.invalidInput);
    for (const code of [
      'KEY_STATE_FORBIDS',
      'ALGORITHM_DISALLOWED',
      'DESTRUCTION_WAITING',
      'DESTRUCTION_NOT_SCHEDULED',
      'CLOCK_BACKWARDS',
      'KEY_ALREADY_IN_TOKEN',
    ] as const) {
      expect(exitCodeFor(code), code).toBe(EXIT.refused);
    }
    expect(exitCodeFor('RESTORE_MISMATCH')).toBe(EXIT.verification);
    expect(exitCodeFor('TOKEN_KEY_REFUSED')).toBe(EXIT.token);
  });
});
