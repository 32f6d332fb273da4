import type { ErrorCode } from '../../shared/errors';

/**
 * A failure the user can act on. The message is shown as is, so it is written for a custodian
 * under ceremony stress and never contains a secret.
 */
export class CustosError extends Error {
  override readonly name = 'CustosError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly remedy: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isCustosError(error: unknown): error is CustosError {
  return error instanceof CustosError;
}
