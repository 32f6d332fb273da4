// shared/ may import only zod (the layer rule), so the test of its formatter sits with the quorum it describes.
import { describe, expect, it } from 'vitest';
import { describeFailure, outcomeSchema } from '../../../shared/quorum';

describe('a failed outcome in words (app and CLI)', () => {
  it('gives the custodian’s sentence, then the CKR_ name, the step and the mechanism the token refused', () => {
    const outcome = {
      status: 'failed',
      code: 'MECHANISM_INVALID',
      message: 'The token does not support this algorithm or mode.',
      detail: { ckr: 'CKR_MECHANISM_INVALID', step: 'C_SignInit', mechanism: 'CKM_SHA256_RSA_PKCS' },
    } as const;
    expect(describeFailure(outcome)).toBe(
      'Failed: The token does not support this algorithm or mode (CKR_MECHANISM_INVALID at C_SignInit, mechanism CKM_SHA256_RSA_PKCS).',
    );
  });

  it('names an attribute, and says only what is known', () => {
    expect(
      describeFailure({
        status: 'failed',
        code: 'ATTRIBUTE_INVALID',
        message: 'The token rejected one of the key’s attributes.',
        detail: { ckr: 'CKR_ATTRIBUTE_VALUE_INVALID', attribute: 'CKA_WRAP_WITH_TRUSTED' },
      }),
    ).toBe(
      'Failed: The token rejected one of the key’s attributes (CKR_ATTRIBUTE_VALUE_INVALID, attribute CKA_WRAP_WITH_TRUSTED).',
    );
    expect(
      describeFailure({
        status: 'failed',
        code: 'KEY_OBJECTS_MISSING',
        message: 'The token no longer holds this key.',
      }),
    ).toBe('Failed: The token no longer holds this key.');
  });

  it('still reads an outcome recorded before sentences and details were kept: the code alone', () => {
    const old = outcomeSchema('key.generate').parse({ status: 'failed', code: 'OPERATION_INTERRUPTED' });
    expect(old?.status === 'failed' && describeFailure(old)).toBe(
      'Failed: The operation failed (OPERATION_INTERRUPTED).',
    );
  });
});
