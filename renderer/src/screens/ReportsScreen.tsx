import { useEffect } from 'react';
import { MarkdownDocument } from '../app/MarkdownDocument';
import { Outcome } from '../app/Outcome';
import { ScreenFrame, useOpenPage, type ScreenPage } from '../app/SubPage';
import { useCustos } from '../store/context';
import { CompliancePage } from './CompliancePage';
import { SignedReportsPage } from './SignedReportsPage';

/**
 * Reports and compliance: a list of three pages, each with its state at a glance — the signed ceremony reports, the
 * compliance analysis, and the practice statement. Pages of one screen, not three screens: the sidebar and its
 * Alt+1…Alt+9 shortcuts stay as people learned them.
 */
export function ReportsScreen() {
  const load = useCustos((s) => s.loadReports);
  const loadQuorum = useCustos((s) => s.loadQuorum);
  const loadKeys = useCustos((s) => s.loadKeys);
  const error = useCustos((s) => s.reportError);
  const notice = useCustos((s) => s.reportNotice);
  useEffect(() => {
    void load();
    void loadQuorum();
    void loadKeys();
  }, [load, loadQuorum, loadKeys]);
  const pages = useReportPages();
  const open = useOpenPage([{ pages }]);
  return (
    <ScreenFrame
      title="Reports and compliance"
      page={open?.title ?? null}
      top={<Outcome error={error} errorTitle="That did not work" notice={notice} />}
    >
      {open ? open.render() : <ReportsList pages={pages} />}
    </ScreenFrame>
  );
}

function useReportPages(): ScreenPage[] {
  const compliance = useCustos((s) => s.compliance);
  const reports = useCustos((s) => s.reports);
  const ran = (useCustos((s) => s.proposals) ?? []).filter((p) => p.state === 'executed' || p.state === 'failed');
  const findings = compliance?.findings ?? [];
  const urgent = findings.filter((f) => f.severity === 'critical' || f.severity === 'high').length;
  return [
    {
      id: 'signed-reports',
      title: 'Signed reports',
      summary:
        `${reports?.length ?? 0} report(s) made; ${ran.length} ceremony(ies) ran. ` +
        'Make the signed report of a ceremony, or record a witness’s sign-off.',
      unavailable: null,
      render: () => <SignedReportsPage />,
    },
    {
      id: 'compliance',
      title: 'Compliance',
      summary: compliance
        ? `${findings.length === 0 ? 'No finding' : `${findings.length} finding(s)${urgent ? ` (${urgent} critical or high)` : ''}`} as of ` +
          `${compliance.asOf.slice(0, 10)}. Findings, keys at a glance, controls and module validation; sign a ` +
          'compliance report.'
        : 'Findings, keys at a glance, controls and module validation; sign a compliance report.',
      unavailable: null,
      render: () => <CompliancePage />,
    },
    {
      id: 'practice-statement',
      title: 'Practice statement',
      summary:
        'The Key Management Practice Statement drafted from what Custos enforces here; write it as Markdown and PDF.',
      unavailable: null,
      render: () => <PracticeStatement />,
    },
  ];
}

/** The list page: one card per page, its state in a line and the way in. */
function ReportsList({ pages }: { pages: ScreenPage[] }) {
  const navigate = useCustos((s) => s.navigate);
  return (
    <>
      {pages.map((p) => (
        <section key={p.id} className="card" aria-labelledby={`${p.id}-title`}>
          <h2 id={`${p.id}-title`}>{p.title}</h2>
          <p>{p.summary}</p>
          <button type="button" onClick={() => navigate('reports', p.id)}>
            Open {p.title.toLowerCase()}
          </button>
        </section>
      ))}
    </>
  );
}

/** The practice statement page: the draft itself, shown when the page opens, and writing it out as files. */
function PracticeStatement() {
  const text = useCustos((s) => s.practiceStatement);
  const show = useCustos((s) => s.showPracticeStatement);
  const write = useCustos((s) => s.writePracticeStatement);
  const busy = useCustos((s) => s.reportBusy);
  useEffect(() => {
    void show();
  }, [show]);
  return (
    <section className="card" aria-labelledby="kmps-title">
      <h2 id="kmps-title">Key Management Practice Statement (draft)</h2>
      <p className="muted">
        SP 800-57 Part 2’s sections, each saying what Custos enforces here (quorums, algorithms and their dates,
        cryptoperiods, waiting periods, modules and their validation) and highlighting what your organisation must
        decide. Write it as Markdown and PDF to edit and approve.
      </p>
      <button type="button" className="primary" disabled={busy} onClick={() => void write()}>
        Write Markdown and PDF files
      </button>
      {text ? (
        <MarkdownDocument source={text} topLevel={3} label="Practice statement draft" />
      ) : (
        busy && <p role="status">Drafting the statement…</p>
      )}
    </section>
  );
}
