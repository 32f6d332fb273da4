import type { ErrorCode, WireError } from '../../../shared/errors';

/**
 * Codes whose own title is the only true one wherever they appear: a screen's title ("Nothing was changed", "Not
 * approved") would be false after the token did its part.
 */
const TITLES: Partial<Record<ErrorCode, string>> = {
  OPERATION_UNRECORDED: 'Done in the token, not yet on record',
};

/** An error as a custodian should see it: what happened, its stable code, and what to do. */
export function ErrorNotice({
  error,
  title,
}: {
  error: Pick<WireError, 'code' | 'message' | 'remedy'>;
  title?: string;
}) {
  return (
    <div className="notice notice-error" role="alert" data-error-code={error.code}>
      <p className="notice-title">
        {TITLES[error.code] ?? title ?? 'Something needs your attention'}{' '}
        <code className="error-code">{error.code}</code>
      </p>
      <p>{error.message}</p>
      {error.remedy.length > 0 && (
        <ul className="remedy">
          {error.remedy.map((step) => (
            <li key={step}>{step}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
