import type { ErrorCode, TokenFailureDetail } from '../../../shared/errors';
import { CustosError } from '../errors';
import { mechanismName } from './mechanisms';

interface Explanation {
  code: ErrorCode;
  message: string;
  remedy?: string[];
}

const REINSERT = ['Check that the token or smartcard is firmly attached, then press Refresh.'];

/**
 * Every CKR_* return value a token may give, in words a custodian understands. Values not listed
 * here fall back to TOKEN_ERROR with the raw name, so nothing is ever reported as success.
 */
const explanations: Record<string, Explanation> = {
  CKR_PIN_INCORRECT: {
    code: 'PIN_INCORRECT',
    message: 'The token refused the PIN: it is not correct. Each wrong attempt brings the token closer to locking.',
  },
  CKR_PIN_LOCKED: {
    code: 'PIN_LOCKED',
    message: 'The PIN of this token is locked after too many wrong attempts.',
    remedy: ['A security officer must unlock it with the SO PIN (a quorum action).'],
  },
  CKR_PIN_INVALID: {
    code: 'PIN_INVALID',
    message: 'The token does not accept a PIN of that form (characters or length).',
  },
  CKR_PIN_LEN_RANGE: { code: 'PIN_INVALID', message: 'The PIN is too short or too long for this token.' },
  CKR_PIN_EXPIRED: {
    code: 'PIN_EXPIRED',
    message: 'The token says its PIN has expired and must be changed before use.',
  },
  CKR_TOKEN_NOT_PRESENT: { code: 'TOKEN_NOT_PRESENT', message: 'No token is present in the slot.', remedy: REINSERT },
  CKR_TOKEN_NOT_RECOGNIZED: {
    code: 'TOKEN_NOT_RECOGNIZED',
    message: 'The reader does not recognise the token in the slot.',
    remedy: REINSERT,
  },
  CKR_DEVICE_REMOVED: {
    code: 'TOKEN_REMOVED',
    message: 'The token was removed while Custos was using it. The operation did not complete.',
    remedy: REINSERT,
  },
  CKR_DEVICE_ERROR: {
    code: 'TOKEN_DEVICE_ERROR',
    message: 'The token reported a hardware error.',
    remedy: ['Re-attach the token. If it happens again, stop the ceremony and contact the vendor.'],
  },
  CKR_DEVICE_MEMORY: { code: 'TOKEN_MEMORY_FULL', message: 'The token has no memory left for this operation.' },
  CKR_TOKEN_WRITE_PROTECTED: {
    code: 'TOKEN_WRITE_PROTECTED',
    message: 'The token is write-protected; nothing can be created or changed on it.',
  },
  CKR_SESSION_CLOSED: {
    code: 'SESSION_CLOSED',
    message: 'The session with the token was closed during the operation.',
    remedy: ['Press Refresh and repeat the step.'],
  },
  CKR_SESSION_HANDLE_INVALID: {
    code: 'SESSION_CLOSED',
    message: 'The session with the token is no longer valid (the token may have been removed and re-attached).',
    remedy: ['Press Refresh and repeat the step.'],
  },
  CKR_SESSION_COUNT: {
    code: 'SESSION_LIMIT',
    message: 'The token has no free sessions; another program may be using it.',
    remedy: ['Close other programs that use the token.'],
  },
  CKR_USER_NOT_LOGGED_IN: { code: 'NOT_LOGGED_IN', message: 'The token requires a login for this operation.' },
  CKR_USER_ALREADY_LOGGED_IN: {
    code: 'ALREADY_LOGGED_IN',
    message: 'Someone is already logged in to this token in another session.',
    remedy: ['Close other programs that use the token.'],
  },
  CKR_USER_ANOTHER_ALREADY_LOGGED_IN: {
    code: 'ALREADY_LOGGED_IN',
    message: 'Another user is already logged in to this token.',
    remedy: ['Close other programs that use the token.'],
  },
  CKR_USER_PIN_NOT_INITIALIZED: {
    code: 'TOKEN_NOT_INITIALIZED',
    message: 'The token has no user PIN yet: it has not been taken into custody.',
  },
  CKR_FUNCTION_NOT_SUPPORTED: { code: 'FUNCTION_NOT_SUPPORTED', message: 'The token does not support this operation.' },
  CKR_MECHANISM_INVALID: { code: 'MECHANISM_INVALID', message: 'The token does not support this algorithm or mode.' },
  CKR_MECHANISM_PARAM_INVALID: {
    code: 'MECHANISM_INVALID',
    message: 'The token rejected the parameters for this algorithm.',
  },
  CKR_KEY_HANDLE_INVALID: { code: 'KEY_OBJECTS_MISSING', message: 'The key no longer exists on the token.' },
  CKR_KEY_TYPE_INCONSISTENT: { code: 'TOKEN_KEY_REFUSED', message: 'This key cannot be used with this algorithm.' },
  CKR_KEY_FUNCTION_NOT_PERMITTED: { code: 'TOKEN_KEY_REFUSED', message: 'The key’s attributes do not allow this use.' },
  CKR_KEY_UNEXTRACTABLE: {
    code: 'TOKEN_KEY_REFUSED',
    message: 'The key is marked non-extractable and cannot be backed up.',
  },
  CKR_KEY_NOT_WRAPPABLE: { code: 'TOKEN_KEY_REFUSED', message: 'The key cannot be wrapped with this key.' },
  CKR_WRAPPING_KEY_HANDLE_INVALID: {
    code: 'KEY_OBJECTS_MISSING',
    message: 'The wrapping key no longer exists on the token.',
  },
  CKR_UNWRAPPING_KEY_HANDLE_INVALID: {
    code: 'KEY_OBJECTS_MISSING',
    message: 'The unwrapping key no longer exists on the token.',
  },
  CKR_KEY_SIZE_RANGE: { code: 'TOKEN_KEY_REFUSED', message: 'The token does not support this key size.' },
  CKR_ATTRIBUTE_VALUE_INVALID: {
    code: 'ATTRIBUTE_INVALID',
    message: 'The token rejected one of the key’s attributes.',
  },
  CKR_ATTRIBUTE_TYPE_INVALID: {
    code: 'ATTRIBUTE_INVALID',
    message: 'The token does not know one of the requested attributes.',
  },
  CKR_ATTRIBUTE_READ_ONLY: {
    code: 'ATTRIBUTE_INVALID',
    message: 'One of the attributes cannot be changed on this token.',
  },
  CKR_ATTRIBUTE_SENSITIVE: {
    code: 'ATTRIBUTE_INVALID',
    message: 'The token refuses to reveal a sensitive attribute (as it should).',
  },
  CKR_TEMPLATE_INCOMPLETE: {
    code: 'ATTRIBUTE_INVALID',
    message: 'The token needs more attributes to create this object.',
  },
  CKR_TEMPLATE_INCONSISTENT: {
    code: 'ATTRIBUTE_INVALID',
    message: 'The requested attributes contradict each other for this token.',
  },
  CKR_OBJECT_HANDLE_INVALID: { code: 'OBJECT_INVALID', message: 'The object no longer exists on the token.' },
  CKR_DATA_INVALID: { code: 'DATA_INVALID', message: 'The token rejected the data for this operation.' },
  CKR_DATA_LEN_RANGE: { code: 'DATA_INVALID', message: 'The data is too long or too short for this operation.' },
  CKR_ENCRYPTED_DATA_INVALID: {
    code: 'DATA_INVALID',
    message: 'The encrypted data is damaged or was made with another key.',
  },
  CKR_WRAPPED_KEY_INVALID: {
    code: 'DATA_INVALID',
    message: 'The wrapped key is damaged or was wrapped with another key.',
  },
  CKR_SIGNATURE_INVALID: { code: 'DATA_INVALID', message: 'The signature does not verify.' },
  CKR_SLOT_ID_INVALID: {
    code: 'TOKEN_NOT_PRESENT',
    message: 'The slot no longer exists; the reader or token may have been removed.',
    remedy: REINSERT,
  },
  CKR_CRYPTOKI_NOT_INITIALIZED: {
    code: 'MODULE_LOAD_FAILED',
    message: 'The token library is not initialised.',
    remedy: ['Restart Custos: it initialises each token library once, when it starts using it.'],
  },
  CKR_GENERAL_ERROR: {
    code: 'TOKEN_GENERAL_ERROR',
    message: 'The token library reported a general error.',
    remedy: ['For SoftHSM2, check that its token directory exists and is readable.', ...REINSERT],
  },
  CKR_HOST_MEMORY: { code: 'TOKEN_GENERAL_ERROR', message: 'The token library ran out of memory.' },
  CKR_FUNCTION_FAILED: { code: 'TOKEN_GENERAL_ERROR', message: 'The token could not complete the operation.' },
  CKR_OPERATION_ACTIVE: { code: 'TOKEN_GENERAL_ERROR', message: 'Another operation is still running on this session.' },
  CKR_RANDOM_NO_RNG: { code: 'FUNCTION_NOT_SUPPORTED', message: 'The token has no random number generator.' },
  CKR_CANCEL: { code: 'TOKEN_ERROR', message: 'The operation was cancelled at the token.' },
  CKR_FUNCTION_CANCELED: { code: 'TOKEN_ERROR', message: 'The operation was cancelled at the token.' },
  CKR_FUNCTION_REJECTED: {
    code: 'TOKEN_ERROR',
    message: 'The token (or the person at its keypad) rejected the operation.',
  },
  CKR_NO_EVENT: { code: 'TOKEN_ERROR', message: 'The token reported no slot event.' },
  CKR_NEED_TO_CREATE_THREADS: {
    code: 'MODULE_LOAD_FAILED',
    message: 'The token library needs to create its own threads and was not allowed to.',
  },
  CKR_CANT_LOCK: { code: 'MODULE_LOAD_FAILED', message: 'The token library cannot provide the locking Custos needs.' },
  CKR_CRYPTOKI_ALREADY_INITIALIZED: {
    code: 'MODULE_LOAD_FAILED',
    message: 'The token library is already in use by another part of this program.',
    remedy: ['Restart Custos.'],
  },
  CKR_LIBRARY_LOAD_FAILED: {
    code: 'MODULE_LOAD_FAILED',
    message: 'The token library failed to load one of its own components.',
    remedy: ['Reinstall the vendor’s PKCS#11 software.'],
  },
  CKR_MUTEX_BAD: { code: 'TOKEN_GENERAL_ERROR', message: 'The token library reported a locking error.' },
  CKR_MUTEX_NOT_LOCKED: { code: 'TOKEN_GENERAL_ERROR', message: 'The token library reported a locking error.' },
  CKR_FIPS_SELF_TEST_FAILED: {
    code: 'TOKEN_DEVICE_ERROR',
    message: 'The token failed its FIPS self-test and refuses to work.',
    remedy: ['Stop the ceremony. Do not use this token until the vendor has checked it.'],
  },
  CKR_ENCRYPTED_DATA_LEN_RANGE: {
    code: 'DATA_INVALID',
    message: 'The encrypted data has the wrong length; it is damaged or was made with another key.',
  },
  CKR_SIGNATURE_LEN_RANGE: { code: 'DATA_INVALID', message: 'The signature has the wrong length.' },
  CKR_WRAPPED_KEY_LEN_RANGE: {
    code: 'DATA_INVALID',
    message: 'The wrapped key has the wrong length; it is damaged or was wrapped differently.',
  },
  CKR_BUFFER_TOO_SMALL: {
    code: 'TOKEN_ERROR',
    message: 'The token’s answer did not fit the space Custos provided; nothing was changed.',
  },
  CKR_FUNCTION_NOT_PARALLEL: {
    code: 'FUNCTION_NOT_SUPPORTED',
    message: 'The token does not support parallel operations.',
  },
  CKR_SESSION_PARALLEL_NOT_SUPPORTED: {
    code: 'FUNCTION_NOT_SUPPORTED',
    message: 'The token does not support parallel sessions.',
  },
  CKR_OPERATION_NOT_INITIALIZED: {
    code: 'TOKEN_ERROR',
    message: 'The token was asked to continue an operation that was never started.',
  },
  CKR_SESSION_READ_ONLY: {
    code: 'TOKEN_ERROR',
    message: 'The session with the token is read-only; nothing was changed.',
  },
  CKR_SESSION_EXISTS: {
    code: 'ALREADY_LOGGED_IN',
    message: 'Sessions are already open on this token, so it cannot be initialised now.',
    remedy: ['Close other programs that use the token.'],
  },
  CKR_SESSION_READ_ONLY_EXISTS: {
    code: 'ALREADY_LOGGED_IN',
    message: 'A read-only session is open, so the security officer cannot log in.',
    remedy: ['Close other programs that use the token.'],
  },
  CKR_SESSION_READ_WRITE_SO_EXISTS: {
    code: 'ALREADY_LOGGED_IN',
    message: 'A security officer session is open on this token.',
    remedy: ['Close other programs that use the token.'],
  },
  CKR_USER_TYPE_INVALID: { code: 'TOKEN_ERROR', message: 'The token does not know this kind of user.' },
  CKR_USER_TOO_MANY_TYPES: {
    code: 'ALREADY_LOGGED_IN',
    message: 'Too many different users are logged in to this token.',
  },
  CKR_KEY_NOT_NEEDED: { code: 'TOKEN_KEY_REFUSED', message: 'The token did not expect a key for this step.' },
  CKR_KEY_CHANGED: { code: 'TOKEN_KEY_REFUSED', message: 'The key changed during the operation.' },
  CKR_KEY_NEEDED: { code: 'TOKEN_KEY_REFUSED', message: 'The token needs a key for this step.' },
  CKR_KEY_INDIGESTIBLE: { code: 'TOKEN_KEY_REFUSED', message: 'The token cannot digest this key.' },
  CKR_UNWRAPPING_KEY_SIZE_RANGE: {
    code: 'TOKEN_KEY_REFUSED',
    message: 'The unwrapping key has a size the token does not support.',
  },
  CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT: {
    code: 'TOKEN_KEY_REFUSED',
    message: 'The unwrapping key cannot be used with this algorithm.',
  },
  CKR_WRAPPING_KEY_SIZE_RANGE: {
    code: 'TOKEN_KEY_REFUSED',
    message: 'The wrapping key has a size the token does not support.',
  },
  CKR_WRAPPING_KEY_TYPE_INCONSISTENT: {
    code: 'TOKEN_KEY_REFUSED',
    message: 'The wrapping key cannot be used with this algorithm.',
  },
  CKR_PUBLIC_KEY_INVALID: { code: 'TOKEN_KEY_REFUSED', message: 'The public key is not valid.' },
  CKR_DOMAIN_PARAMS_INVALID: {
    code: 'ATTRIBUTE_INVALID',
    message: 'The token does not support these key parameters (curve or domain).',
  },
  CKR_INFORMATION_SENSITIVE: {
    code: 'ATTRIBUTE_INVALID',
    message: 'The token refuses to reveal sensitive information (as it should).',
  },
  CKR_RANDOM_SEED_NOT_SUPPORTED: {
    code: 'FUNCTION_NOT_SUPPORTED',
    message: 'The token does not accept an external random seed.',
  },
  CKR_SAVED_STATE_INVALID: { code: 'TOKEN_ERROR', message: 'The token rejected a saved operation state.' },
  CKR_STATE_UNSAVEABLE: {
    code: 'FUNCTION_NOT_SUPPORTED',
    message: 'The token cannot save the state of this operation.',
  },
  CKR_NEW_PIN_MODE: { code: 'PIN_EXPIRED', message: 'The token asks for a new PIN to be set.' },
  CKR_NEXT_OTP: { code: 'PIN_INCORRECT', message: 'The token asks for the next one-time password.' },
  CKR_EXCEEDED_MAX_ITERATIONS: { code: 'TOKEN_ERROR', message: 'The token gave up after too many iterations.' },
  CKR_PIN_TOO_WEAK: { code: 'PIN_INVALID', message: 'The token refuses this PIN as too weak.' },
  CKR_ARGUMENTS_BAD: {
    code: 'TOKEN_ERROR',
    message: 'Custos passed the token an invalid argument; nothing was changed.',
  },
};

export function explainPkcs11(ckrName: string): Explanation {
  return explanations[ckrName] ?? { code: 'TOKEN_ERROR', message: `The token returned ${ckrName}.` };
}

/** Turns whatever pkcs11js threw into a CustosError with a stable code, keeping the CKR_ name and the step. */
export function tokenError(error: unknown, context?: string): CustosError {
  if (error instanceof CustosError) return error;
  const name = error instanceof Error ? error.message : String(error);
  const detail = tokenFailureDetail(error);
  const options = { cause: error, ...(detail ? { detail } : {}) };
  if (CKR_NAME.test(name)) {
    const { code, message, remedy } = explainPkcs11(name);
    return new CustosError(code, context ? `${context}: ${message}` : message, remedy ?? [], options);
  }
  const message = context ? `${context}: the token library failed.` : 'The token library failed.';
  return new CustosError('TOKEN_ERROR', message, [], options);
}

const CKR_NAME = /^CKR_[A-Z0-9_]+$/;

/**
 * PKCS#11 2.40 return values pkcs11js 2.1 does not name: it throws "CKR_VENDOR_DEFINED" with the value in the error's
 * `code` (2.1.7, measured: C_DestroyObject of a CKA_DESTROYABLE false object), or "CKR_VENDOR_DEFINED:27".
 */
const UNNAMED_CKR: Record<number, string> = { 0x1b: 'CKR_ACTION_PROHIBITED' };

/** The CKR_ name of a token's refusal, with the 2.40 names pkcs11js lacks; undefined for any other error. */
export function refusalName(error: unknown): string | undefined {
  const match = error instanceof Error ? /^(CKR_[A-Z0-9_]+)(?::(\d+))?$/.exec(error.message) : null;
  if (!match) return undefined;
  const value = match[2] ?? (error as { code?: unknown }).code;
  return (match[1] === 'CKR_VENDOR_DEFINED' && UNNAMED_CKR[Number(value)]) || match[1];
}
const STEP_NAME = /^C_[A-Za-z]+$/;

/** What pkcs11js throws when a token returns an error: an Error whose message is the raw CKR_ name. */
export function isTokenRefusal(error: unknown): error is Error {
  return error instanceof Error && CKR_NAME.test(error.message);
}

/** The PKCS#11 call an error came from and what it was asked to use; the error itself stays as it was. */
const asked = new WeakMap<object, Omit<TokenFailureDetail, 'ckr'>>();

/**
 * Runs one PKCS#11 call and, if the token refuses it, remembers the step (pkcs11js names the C_
 * function only for some calls) and the mechanism or attribute it was given, so the failure can
 * name them. The raw error is rethrown unchanged: callers that branch on its CKR_ name (a fallback
 * template, a clearer message) still can.
 */
export function tokenStep<T>(
  step: `C_${string}`,
  what: { mechanism?: number | string; attribute?: string },
  call: () => T,
): T {
  try {
    return call();
  } catch (error) {
    if (typeof error === 'object' && error !== null && !asked.has(error)) {
      const mechanism = typeof what.mechanism === 'number' ? mechanismName(what.mechanism) : what.mechanism;
      const attribute = what.attribute;
      asked.set(error, { step, ...(mechanism ? { mechanism } : {}), ...(attribute ? { attribute } : {}) });
    }
    throw error;
  }
}

/**
 * The CKR_ name, the step and what the step was asked to use, for an error from pkcs11js or one
 * that wraps it as its cause; undefined when no token call is behind it.
 */
export function tokenFailureDetail(error: unknown): TokenFailureDetail | undefined {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 8; depth++, current = current.cause) {
    if (current instanceof CustosError && current.detail) return current.detail;
    if (!CKR_NAME.test(current.message)) continue;
    const method = (current as { method?: unknown }).method;
    return {
      ckr: current.message,
      ...(typeof method === 'string' && STEP_NAME.test(method) ? { step: method } : {}),
      ...asked.get(current),
    };
  }
  return undefined;
}

export const knownPkcs11Results = Object.keys(explanations);
