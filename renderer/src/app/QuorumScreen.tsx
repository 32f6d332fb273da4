import { useEffect, type ReactNode } from 'react';
import { useCustos } from '../store/context';
import { ErrorNotice } from './ErrorNotice';

/** The frame of the ceremony screens: loads custody, proposals and custodians, and shows the last outcome. */
export function QuorumScreen({ title, errorTitle, children }: { title: string; errorTitle: string; children: ReactNode }) {
  const loadQuorum = useCustos((s) => s.loadQuorum);
  const loadCustodians = useCustos((s) => s.loadCustodians);
  const error = useCustos((s) => s.quorumError);
  const notice = useCustos((s) => s.quorumNotice);
  useEffect(() => {
    void loadQuorum();
    void loadCustodians();
  }, [loadQuorum, loadCustodians]);
  return (
    <section aria-labelledby="screen-title">
      <h1 id="screen-title">{title}</h1>
      {error && <ErrorNotice error={error} title={errorTitle} />}
      {notice && (
        <p
          role={notice.tone === 'failed' ? 'alert' : 'status'}
          className={`notice ${notice.tone === 'failed' ? 'notice-error' : 'notice-ok'}`}
        >
          {notice.text}
        </p>
      )}
      {children}
    </section>
  );
}
