import type { ErrorCode, TokenFailureDetail } from '../../shared/errors';

/**
 * A failure the user can act on. The message is shown as is, so it is written for a custodian
 * under ceremony stress and never contains a secret.
 */
export class CustosError extends Error {
  override readonly name = 'CustosError';
  /** For a token's refusal: which CKR_, at which step, for which mechanism or attribute. */
  readonly detail: TokenFailureDetail | undefined;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly remedy: readonly string[] = [],
    options?: { cause?: unknown; detail?: TokenFailureDetail },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.detail = options?.detail;
  }
}

export function isCustosError(error: unknown): error is CustosError {
  return error instanceof CustosError;
}
