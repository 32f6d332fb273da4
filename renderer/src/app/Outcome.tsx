import { useEffect, useRef } from 'react';
import type { WireError } from '../../../shared/errors';
import { ErrorNotice } from './ErrorNotice';

/**
 * What the last submit did, error or result, given focus when it appears so that a keyboard or
 * screen-reader user lands on it instead of the top of the page. A `quiet` notice (its action was
 * taken on another page, which the person has left) is shown and announced but leaves the focus
 * where it is.
 */
export function Outcome({
  error,
  errorTitle,
  notice,
  failed = false,
  quiet = false,
}: {
  error: WireError | null;
  errorTitle?: string;
  notice: string | null;
  failed?: boolean;
  quiet?: boolean;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (error || (notice && !quiet)) ref.current?.focus();
  }, [error, notice, quiet]);
  if (!error && !notice) return null;
  return (
    <div ref={ref} tabIndex={-1} className="outcome">
      {error && <ErrorNotice error={error} title={errorTitle} />}
      {notice && (
        <p role={failed ? 'alert' : 'status'} className={`notice ${failed ? 'notice-error' : 'notice-ok'}`}>
          {notice}
        </p>
      )}
    </div>
  );
}
