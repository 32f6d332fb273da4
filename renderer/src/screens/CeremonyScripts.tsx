import { useEffect } from 'react';
import type { PlannedCeremony, RunSummary, RunView } from '../../../shared/ceremony-script';
import type { ScreenPage } from '../app/SubPage';
import { useCustos } from '../store/context';
import { AbortRunPage } from './AbortRunPage';
import { RunnerPage } from './RunnerPage';
import { CHECK_SCRIPT_PAGE, REHEARSAL_CUSTODY_PAGE, REHEARSAL_RESULT_PAGE } from '../store/navigation-slice';
import { EndRehearsalPage, RehearsalCustodyPage, RehearsalResultPage } from './RehearsalPages';
import { actNowVerb, abortPage, cardsAwaited, END_REHEARSAL_PAGE, RUN_CHIPS, runPage, whoActsNow } from './run-words';
import { ScriptCheckPage } from './ScriptCheckPage';

/**
 * The pages of ceremony scripts: checking one, each run (with its abort confirmation), and a rehearsal's own pages.
 * Runs are not listed among the ad-hoc actions: they open from the "Ceremony scripts" section.
 */
export function useScriptPages(): { title: string; pages: ScreenPage[] } {
  const page = useCustos((s) => s.page);
  const runViews = useCustos((s) => s.runViews);
  const { active, last } = useCustos((s) => s.rehearsal);
  const pages: ScreenPage[] = [
    {
      id: CHECK_SCRIPT_PAGE,
      title: 'Check a script',
      summary: 'Lint a ceremony script, print it for signing, rehearse it and start it.',
      unavailable: null,
      render: () => <ScriptCheckPage />,
    },
    {
      id: REHEARSAL_CUSTODY_PAGE,
      title: 'Before the rehearsal: the holders take the scratch token',
      summary: '',
      unavailable: active?.custody && !active.custody.taken ? null : 'No rehearsal waits for its token to be taken.',
      render: () => <RehearsalCustodyPage />,
    },
    {
      id: END_REHEARSAL_PAGE,
      title: 'End the rehearsal',
      summary: '',
      unavailable: active ? null : 'No rehearsal is open.',
      render: () => <EndRehearsalPage />,
    },
    {
      id: REHEARSAL_RESULT_PAGE,
      title: 'How the rehearsal went',
      summary: '',
      unavailable: last ? null : 'No rehearsal has ended since Custos opened.',
      render: () => <RehearsalResultPage />,
    },
  ];
  const runId = page?.replace(/^(run|abort):/, '');
  if (runId && runId !== page) {
    const run = runViews[runId];
    const title = run?.title ?? 'Ceremony run';
    pages.push(
      { id: runPage(runId), title, summary: '', unavailable: null, render: () => <RunnerPage runId={runId} /> },
      {
        id: abortPage(runId),
        title: `Abort “${title}”`,
        summary: '',
        unavailable: run && run.state !== 'in-progress' ? 'This ceremony is closed: there is nothing to abort.' : null,
        render: () => <AbortRunPage runId={runId} />,
      },
    );
  }
  return { title: 'Ceremony scripts', pages };
}

/** The list's section: runs in progress with who must act now, closed runs with their report, and checking a script. */
export function CeremonyScriptsSection() {
  const runs = useCustos((s) => s.runs);
  const loadRuns = useCustos((s) => s.loadRuns);
  const navigate = useCustos((s) => s.navigate);
  useEffect(() => {
    void loadRuns();
  }, [loadRuns]);
  const planned = useCustos((s) => s.planned) ?? [];
  const open = (runs ?? []).filter((r) => r.state === 'in-progress');
  const closed = (runs ?? []).filter((r) => r.state !== 'in-progress');
  return (
    <section className="card" aria-labelledby="scripts-title">
      <h2 id="scripts-title">Ceremony scripts</h2>
      {runs && runs.length === 0 && planned.length === 0 && (
        <p>
          No ceremony has been run from a script yet. Write one from a template in <code>resources/ceremonies/</code>{' '}
          (see docs/ceremonies.md), then check it here — or with <code>custos ceremony lint FILE</code> — print it and
          have it signed before the ceremony.
        </p>
      )}
      {planned.length > 0 && <PlannedList planned={planned} />}
      {open.length > 0 && (
        <>
          <h3>In progress</h3>
          <ul className="runs">
            {open.map((r) => (
              <RunLine key={r.id} run={r} />
            ))}
          </ul>
        </>
      )}
      {closed.length > 0 && (
        <>
          <h3>Closed</h3>
          <ul className="runs">
            {closed.map((r) => (
              <RunLine key={r.id} run={r} />
            ))}
          </ul>
        </>
      )}
      <button type="button" onClick={() => navigate('ceremonies', CHECK_SCRIPT_PAGE)}>
        Check a script
      </button>
    </section>
  );
}

/** Scripts kept as planned: each can be checked (and started, or rehearsed) from here, or withdrawn. */
function PlannedList({ planned }: { planned: PlannedCeremony[] }) {
  const checkPlanned = useCustos((s) => s.checkPlanned);
  const withdraw = useCustos((s) => s.withdrawPlan);
  const error = useCustos((s) => s.plannedError);
  const navigate = useCustos((s) => s.navigate);
  const at = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;
  return (
    <>
      <h3>Planned</h3>
      {error && (
        <p role="alert" className="notice notice-failed">
          {error.message}
        </p>
      )}
      <ul className="runs">
        {planned.map((p) => (
          <li key={p.sha256}>
            <button
              type="button"
              className="link"
              onClick={() => void checkPlanned(p).then(() => navigate('ceremonies', CHECK_SCRIPT_PAGE))}
            >
              {p.title}
            </button>{' '}
            <span className="chip">planned</span>{' '}
            <span className="muted">
              {at(p.window.opens)} to {at(p.window.closes)}, {p.location}; script {p.sha256.slice(0, 8)}…
            </span>{' '}
            <button type="button" onClick={() => void withdraw(p.sha256)} aria-label={`Withdraw the plan “${p.title}”`}>
              Withdraw
            </button>
          </li>
        ))}
      </ul>
    </>
  );
}

function RunLine({ run }: { run: RunSummary }) {
  const view = useCustos((s) => s.runViews[run.id]);
  const navigate = useCustos((s) => s.navigate);
  const chip = RUN_CHIPS[run.state];
  return (
    <li>
      <button type="button" className="link" onClick={() => navigate('ceremonies', runPage(run.id))}>
        {run.title}
      </button>{' '}
      on “{run.token.label}” <span className={chip.chip}>{chip.text}</span>
      {run.rehearsal && <span className="chip">rehearsal</span>}{' '}
      <span className="muted">
        {run.state === 'in-progress' && view ? (
          <NowLine run={view} />
        ) : run.state === 'done' ? (
          `finished ${run.finishedAt?.slice(0, 16).replace('T', ' ') ?? ''} UTC; signed report ${run.reportId ?? 'not made'}`
        ) : (
          `aborted ${run.finishedAt?.slice(0, 16).replace('T', ' ') ?? ''} UTC`
        )}
      </span>
    </li>
  );
}

/** Who must act now on a run, in one line; with the step it is at, where the step is not already shown. */
export function NowLine({ run, withStep = true }: { run: RunView; withStep?: boolean }) {
  const proposals = useCustos((s) => s.proposals) ?? [];
  const custodians = useCustos((s) => s.custodians) ?? [];
  const step = run.steps.find((s) => s.id === run.current);
  if (!step) return null;
  const nameOf = (id: string) => custodians.find((c) => c.id === id)?.name ?? id;
  const proposal = proposals.find((p) => p.id === step.proposalId);
  const where = withStep && `step ${step.index + 1} of ${run.steps.length}, “${step.title}”: `;
  // Approved, the restore waits for cards, not for anyone's approval: the holders type theirs in turn.
  const cards = step.state === 'proposed' && proposal ? cardsAwaited(proposal) : [];
  if (cards.length > 0)
    return (
      <>
        {where}the card holders type their cards, one after another ({cards.join('; ')}).
      </>
    );
  const who = whoActsNow(step, proposal, nameOf);
  return (
    <>
      {where}
      {who.join(', ')} {actNowVerb(step, who.length)}.
    </>
  );
}
