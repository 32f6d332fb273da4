import { useEffect, useState } from 'react';

/**
 * "Go to" links for a long screen: only to parts that are on it now, and following one moves focus
 * there (not only the scroll position), so the next Tab continues from the part chosen.
 */
export function JumpLinks({ label, targets }: { label: string; targets: { id: string; text: string }[] }) {
  const [present, setPresent] = useState<string[]>([]);
  const ids = targets.map((t) => t.id).join(' ');
  useEffect(() => {
    // Parts come and go with the state of the ceremonies: watch the page rather than repeat their conditions.
    const update = () => {
      const now = ids.split(' ').filter((id) => document.getElementById(id));
      setPresent((before) => (before.join() === now.join() ? before : now));
    };
    const frame = requestAnimationFrame(update);
    const observer = new MutationObserver(update);
    observer.observe(document.body, { childList: true, subtree: true });
    return () => {
      cancelAnimationFrame(frame);
      observer.disconnect();
    };
  }, [ids]);
  const shown = targets.filter((t) => present.includes(t.id));
  if (shown.length < 2) return null;
  return (
    <nav aria-label={label} className="jump">
      Go to:{' '}
      {shown.map((t, i) => (
        <span key={t.id}>
          {i > 0 && ' · '}
          <a
            href={`#${t.id}`}
            onClick={(event) => {
              event.preventDefault();
              const target = document.getElementById(t.id);
              if (!target) return;
              target.tabIndex = -1;
              target.focus();
            }}
          >
            {t.text}
          </a>
        </span>
      ))}
    </nav>
  );
}
