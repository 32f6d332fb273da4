import type { ErrorCode, WireError } from '../../../shared/errors';

/**
 * Codes whose own title is the only true one wherever they appear: a screen's title ("Nothing was changed", "Not
 * approved") would be false after the token did its part.
 */
const TITLES: Partial<Record<ErrorCode, string>> = {
  OPERATION_UNRECORDED: 'Done in the token, not yet on record',
};

/** The code's own title when it has one, else the one the place showing it gives. */
export const errorTitle = (code: ErrorCode, otherwise: string): string => TITLES[code] ?? otherwise;

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
        {errorTitle(error.code, title ?? 'Something needs your attention')}{' '}
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
