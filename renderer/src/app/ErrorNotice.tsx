import type { WireError } from '../../../shared/errors';

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
        {title ?? 'Something needs your attention'} <code className="error-code">{error.code}</code>
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
