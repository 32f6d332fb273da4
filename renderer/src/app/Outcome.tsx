import { useEffect, useRef } from 'react';
import type { WireError } from '../../../shared/errors';
import { ErrorNotice } from './ErrorNotice';

/** The control or form of the person's last click or submit (Enter on a button is a click): what an outcome answers. */
let lastAction: Element | null = null;
if (typeof document !== 'undefined')
  for (const type of ['click', 'submit'])
    document.addEventListener(
      type,
      (event) => {
        if (event.target instanceof Element) lastAction = event.target;
      },
      true,
    );

/**
 * Whether the focus is still where the person's last action left it: on nothing, or in the form (or on the control)
 * they used. Once they have moved on (another control, another page), an outcome that arrives late must not take the
 * focus from there, or the key they press next goes to the outcome instead.
 */
function focusStayed(): boolean {
  const active = document.activeElement;
  if (!active || active === document.body || !lastAction) return true;
  return (lastAction.closest('form') ?? lastAction).contains(active);
}

/**
 * What the last submit did, error or result, given focus when it appears so that a keyboard or
 * screen-reader user lands on it instead of the top of the page; shown and announced (a live region)
 * without taking the focus when the person has moved on meanwhile.
 */
export function Outcome({
  error,
  errorTitle,
  notice,
  failed = false,
}: {
  error: WireError | null;
  errorTitle?: string;
  notice: string | null;
  failed?: boolean;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if ((error || notice) && focusStayed()) ref.current?.focus();
  }, [error, notice]);
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
