import type { ReactNode } from 'react';
import { useCustos } from '../store/context';
import type { ScreenId } from '../store/navigation-slice';

/** An empty state that says what to do next, with the way there one keypress away. */
export function NextStep({
  children,
  screen,
  page,
  action,
}: {
  children: ReactNode;
  screen: ScreenId;
  /** A page of that screen, when the next step is one of its actions rather than its list. */
  page?: string;
  action: string;
}) {
  const navigate = useCustos((s) => s.navigate);
  return (
    <div className="next-step">
      <p>{children}</p>
      <button type="button" onClick={() => navigate(screen, page)}>
        {action}
      </button>
    </div>
  );
}
