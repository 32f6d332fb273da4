import { useEffect } from 'react';
import { fingerprintInGroups } from '../../../shared/backups';
import type { RunStepView, RunView } from '../../../shared/ceremony-script';
import { ErrorSummary } from '../app/ErrorSummary';
import { NextStep } from '../app/NextStep';
import { Outcome } from '../app/Outcome';
import { useCustos } from '../store/context';
import { NowLine } from './CeremonyScripts';
import { StepAction } from './RunStepActions';
import { abortPage, RUN_CHIPS, STEP_CHIPS } from './run-words';

/**
 * The ceremony runner: one step at a time. The run at a glance (token, steps and their states), then the current step —
 * what it does, who must act now and the one thing to do — then what comes next, and how to pause or abort.
 */
export function RunnerPage({ runId }: { runId: string }) {
  const run = useCustos((s) => s.runViews[runId]);
  const loadRun = useCustos((s) => s.loadRun);
  const proposals = useCustos((s) => s.proposals);
  const error = useCustos((s) => (s.runErrorAt === null ? s.runError : null));
  const notice = useCustos((s) => s.runNotice);
  // A proposal approved or a card entered changes the step: read the run again.
  useEffect(() => {
    void loadRun(runId);
  }, [loadRun, runId, proposals]);
  if (!run)
    return (
      <>
        <Outcome error={error} errorTitle="This ceremony cannot be shown" notice={null} />
        <p role="status">Reading the run…</p>
      </>
    );
  const step = run.steps.find((s) => s.id === run.current);
  return (
    <div className="runner">
      <RunHeader run={run} />
      <Outcome error={error} notice={notice?.text ?? null} failed={notice?.tone === 'failed'} />
      <StepList run={run} />
      {run.state === 'done' && <RunDone run={run} />}
      {run.state === 'aborted' && (
        <p className="notice notice-error card">
          Aborted {run.finishedAt?.slice(0, 16).replace('T', ' ')} UTC. Why: {run.abortReason}
        </p>
      )}
      {run.state === 'in-progress' && !step && <FinishRun run={run} />}
      {run.state === 'in-progress' && step && (
        <>
          <CurrentStep run={run} step={step} />
          <WhatComesNext run={run} step={step} />
          <PauseOrAbort run={run} />
        </>
      )}
    </div>
  );
}

/**
 * Every step is done, but the run did not finish: its report could not be made when the last step was confirmed (it
 * was refused, the disk was full, Custos stopped in between). Making it again is safe: nothing is done twice.
 */
function FinishRun({ run }: { run: RunView }) {
  const finish = useCustos((s) => s.finishRun);
  const busy = useCustos((s) => s.runBusy);
  // Its own refusal, or the last sign-off's: recorded, but its report could not be made then.
  const error = useCustos((s) =>
    s.runErrorAt === 'finish' || s.runErrorAt === 'witness' || s.runErrorAt === 'perform' ? s.runError : null,
  );
  return (
    <section className="card current-step" aria-labelledby="finish-title">
      <h2 id="finish-title">Every step is done: the report is still to be made</h2>
      <ErrorSummary problems={[]} error={error} link={null} />
      <p>
        All {run.steps.length} steps of “{run.title}” are done and recorded, but the ceremony’s signed report was not
        made when the last one was confirmed. Nothing of the ceremony is lost. Make the report now; if it is refused
        again, the reason shows here, and your security officer decides what to do.
      </p>
      <button type="button" className="primary" disabled={busy} onClick={() => void finish(run.id)}>
        {busy ? 'Signing the report…' : 'Make the report and finish'}
      </button>
    </section>
  );
}

function RunHeader({ run }: { run: RunView }) {
  const chip = RUN_CHIPS[run.state];
  return (
    <dl className="facts run-facts">
      <dt>State</dt>
      <dd>
        <span className={chip.chip}>{chip.text}</span>
        {run.rehearsal && <span className="chip"> rehearsal</span>}
      </dd>
      <dt>Token</dt>
      <dd>
        {run.token.label} (serial <code>{run.token.serial}</code>)
      </dd>
      <dt>Started</dt>
      <dd>
        {run.startedAt.slice(0, 16).replace('T', ' ')} UTC by {run.startedBy}
      </dd>
      <dt>Script SHA-256</dt>
      <dd>
        <code>{fingerprintInGroups(run.scriptSha256.slice(0, 16))}…</code>
      </dd>
    </dl>
  );
}

/** Every step with its state as a chip; the current one marked. */
function StepList({ run }: { run: RunView }) {
  const done = run.steps.filter((s) => s.state === 'done').length;
  return (
    <nav className="card step-list" aria-labelledby="steps-title">
      <h2 id="steps-title">
        Steps: {done} of {run.steps.length} done
      </h2>
      <ol>
        {run.steps.map((s) => (
          <li key={s.id} aria-current={s.id === run.current ? 'step' : undefined}>
            {s.title} <span className={STEP_CHIPS[s.state].chip}>{STEP_CHIPS[s.state].text}</span>
          </li>
        ))}
      </ol>
    </nav>
  );
}

function CurrentStep({ run, step }: { run: RunView; step: RunStepView }) {
  return (
    <section className="card current-step" aria-labelledby="current-title">
      <h2 id="current-title">
        Step {step.index + 1} of {run.steps.length}: {step.title}{' '}
        <span className={STEP_CHIPS[step.state].chip}>{STEP_CHIPS[step.state].text}</span>
      </h2>
      <div className="step-words">
        {step.words.map((line) => (
          <p key={line}>{line}</p>
        ))}
      </div>
      <p className="act-now">
        <strong>Now:</strong> <NowLine run={run} withStep={false} />
      </p>
      {/* A new step or state starts from empty forms: nothing typed for one step carries to the next. */}
      <StepAction key={`${step.id}:${step.state}`} run={run} step={step} />
    </section>
  );
}

function WhatComesNext({ run, step }: { run: RunView; step: RunStepView }) {
  const next = run.steps[step.index + 1];
  return (
    <section className="card" aria-labelledby="next-title">
      <h2 id="next-title">What comes next</h2>
      <p>
        {next
          ? `Step ${next.index + 1}: ${next.title}, by ${next.by}.`
          : 'This is the last step. Once it is witnessed, Custos signs the ceremony report.'}
      </p>
    </section>
  );
}

function PauseOrAbort({ run }: { run: RunView }) {
  const navigate = useCustos((s) => s.navigate);
  return (
    <section className="card no-print" aria-labelledby="pause-title">
      <h2 id="pause-title">Pause or abort</h2>
      {run.rehearsal ? (
        <p>
          To pause, leave this page; the run resumes here (Ceremonies → Ceremony scripts). Ending the rehearsal before
          its run is complete, or closing Custos, records it as incomplete.
        </p>
      ) : (
        <p>
          To pause, leave this page. You can close Custos: every step is recorded as it happens, and the run resumes
          here (Ceremonies → Ceremony scripts).
        </p>
      )}
      <button type="button" className="danger" onClick={() => navigate('ceremonies', abortPage(run.id))}>
        Abort this ceremony…
      </button>
    </section>
  );
}

function RunDone({ run }: { run: RunView }) {
  if (run.rehearsal) return <RehearsalRunDone />;
  return (
    <section className="card" aria-labelledby="done-title">
      <h2 id="done-title">The ceremony is complete</h2>
      <p>
        Every step was done and witnessed. Custos signed the ceremony report <code>{run.reportId ?? '(not made)'}</code>
        : it holds the script, its SHA-256, every step with who did and witnessed it, and the closing checkpoint.
      </p>
      <NextStep screen="reports" page="signed-reports" action="Go to Signed reports">
        The report and its PDF are written to the data directory’s reports/{run.reportId ?? '…'}/ folder, to print and
        sign, and listed on Reports → Signed reports, under Reports made, with its SHA-256.
      </NextStep>
    </section>
  );
}

/** A rehearsal's run is complete: finishing the rehearsal writes its report and gives the real installation back. */
function RehearsalRunDone() {
  const end = useCustos((s) => s.endRehearsal);
  const busy = useCustos((s) => s.rehearsalBusy === 'end');
  const open = useCustos((s) => s.rehearsal.active !== null);
  return (
    <section className="card" aria-labelledby="done-title">
      <h2 id="done-title">The rehearsal run is complete</h2>
      <p>
        Every step was done and witnessed on the scratch token. Finishing the rehearsal writes its report, which says
        REHEARSAL on every page, records that it passed, and gives the real installation back.
      </p>
      {open && (
        <button type="button" className="primary" onClick={() => void end()} disabled={busy}>
          {busy ? 'Finishing…' : 'Finish the rehearsal'}
        </button>
      )}
    </section>
  );
}
