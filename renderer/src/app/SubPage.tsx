import { useEffect, useRef, type ReactNode } from 'react';
import { useCustos } from '../store/context';
import { screens, type ScreenId } from '../store/navigation-slice';
import { NextStep } from './NextStep';

/** The id of a page's h1: a form that is the whole page is named by it. */
export const PAGE_TITLE_ID = 'page-title';

/** One page of a screen: its title, whether it can be used now (null) or why not, and what it shows. */
export interface ScreenPage {
  id: string;
  title: string;
  /** One line on the screen's list saying what the page is for. */
  summary: string;
  unavailable: string | null;
  render(): ReactNode;
}

/**
 * The frame of a screen: its list under the screen's title, or one of its pages under a breadcrumb back to that list.
 * `top` (the outcome of the last action, for example) is shown on both, right under the title.
 */
export function ScreenFrame({
  title,
  page,
  top,
  children,
}: {
  title: string;
  page: string | null;
  top?: ReactNode;
  children: ReactNode;
}) {
  if (page !== null)
    return (
      <SubPage title={page}>
        {top}
        {children}
      </SubPage>
    );
  return (
    <section aria-labelledby="screen-title">
      <h1 id="screen-title">{title}</h1>
      {top}
      {children}
    </section>
  );
}

/**
 * One page of the current screen: a breadcrumb back to the screen's list, the page's title as its h1, then the page.
 * Focus moves to the title when the page opens, so that the next Tab continues in the page, not in the sidebar.
 */
export function SubPage({ title, children }: { title: string; children: ReactNode }) {
  const screen = useCustos((s) => s.screen);
  const navigate = useCustos((s) => s.navigate);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    heading.current?.focus();
  }, [title]);
  return (
    <section aria-labelledby={PAGE_TITLE_ID}>
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <ol>
          <li>
            <button type="button" className="link" onClick={() => navigate(screen)}>
              {titleOf(screen)}
            </button>
          </li>
          <li aria-current="page">{title}</li>
        </ol>
      </nav>
      <h1 id={PAGE_TITLE_ID} tabIndex={-1} ref={heading}>
        {title}
      </h1>
      {children}
    </section>
  );
}

/** The pages of a screen as its list shows them, in groups: each a button to its page, or why it cannot be used yet. */
export function PageLinks({
  title,
  id,
  groups,
}: {
  title: string;
  id: string;
  groups: readonly { title: string; pages: readonly ScreenPage[] }[];
}) {
  const screen = useCustos((s) => s.screen);
  const navigate = useCustos((s) => s.navigate);
  return (
    <section className="card" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {groups.map((group) => (
        <div key={group.title}>
          <h3>{group.title}</h3>
          <ul className="page-links">
            {group.pages.map((p) => (
              <li key={p.id}>
                {p.unavailable === null ? (
                  <button type="button" onClick={() => navigate(screen, p.id)}>
                    {p.title}
                  </button>
                ) : (
                  <span className="unavailable">{p.title}</span>
                )}{' '}
                <span className="muted">{p.unavailable ?? p.summary}</span>
              </li>
            ))}
          </ul>
        </div>
      ))}
    </section>
  );
}

/** The page the store has open on this screen, or null for the list (also when the page is not known here). */
export function useOpenPage(groups: readonly { pages: readonly ScreenPage[] }[]): ScreenPage | null {
  const page = useCustos((s) => s.page);
  return groups.flatMap((g) => g.pages).find((p) => p.id === page) ?? null;
}

/** The open page itself, or, when its state changed since it was offered, why it cannot be used now. */
export function PageBody({ page }: { page: ScreenPage }) {
  return page.unavailable === null ? page.render() : <PageUnavailable reason={page.unavailable} />;
}

/** A page opened while it cannot be used (its state changed since): why, and the way back. */
export function PageUnavailable({ reason }: { reason: string }) {
  const screen = useCustos((s) => s.screen);
  return (
    <NextStep screen={screen} action={`Back to ${titleOf(screen)}`}>
      {reason}
    </NextStep>
  );
}

const titleOf = (screen: ScreenId) => screens.find((s) => s.id === screen)?.title ?? screen;
