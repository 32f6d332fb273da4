import { useEffect, type ReactNode } from 'react';
import { useCustos } from '../store/context';
import { Outcome } from './Outcome';
import { ScreenFrame } from './SubPage';

/**
 * The frame of the ceremony screens: loads custody, proposals and custodians, and shows the last outcome, on the
 * screen's list or on one of its pages (`page`, its title).
 */
export function QuorumScreen({
  title,
  page = null,
  errorTitle,
  children,
}: {
  title: string;
  page?: string | null;
  errorTitle: string;
  children: ReactNode;
}) {
  const loadQuorum = useCustos((s) => s.loadQuorum);
  const loadCustodians = useCustos((s) => s.loadCustodians);
  // An error that belongs to one form is shown in that form, beside the fields that fix it.
  const errorHere = useCustos((s) => (s.quorumErrorAt === null ? s.quorumError : null));
  const notice = useCustos((s) => s.quorumNotice);
  useEffect(() => {
    void loadQuorum();
    void loadCustodians();
  }, [loadQuorum, loadCustodians]);
  return (
    <ScreenFrame
      title={title}
      page={page}
      top={
        <Outcome
          error={errorHere}
          errorTitle={errorTitle}
          notice={notice?.text ?? null}
          failed={notice?.tone === 'failed'}
        />
      }
    >
      {children}
    </ScreenFrame>
  );
}
