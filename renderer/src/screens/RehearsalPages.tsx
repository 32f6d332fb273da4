import { useState, type FormEvent } from 'react';
import { fingerprintInGroups } from '../../../shared/backups';
import type { LintReport } from '../../../shared/ceremony-script';
import { ErrorSummary, missingFactors, type Problem } from '../app/ErrorSummary';
import { emptyProof, FactorFields } from '../app/FactorFields';
import { NextStep } from '../app/NextStep';
import { useCustos } from '../store/context';
import { CHECK_SCRIPT_PAGE } from '../store/navigation-slice';
import type { Proof } from '../store/quorum-slice';
import { rehearsalRun } from '../store/rehearsal-slice';
import { runPage, utc } from './run-words';

/**
 * Rehearsing a script in the app: offering it beside the real run, the scratch token taken first where the script
 * takes none, ending it (with a confirmation when its run is not finished), and how it went.
 */

/** On "Check a script", beside the real run: what a rehearsal does, what the policy asks, and the button. */
export function RehearseSection({ report, primary }: { report: LintReport; primary: boolean }) {
  const start = useCustos((s) => s.startRehearsal);
  const busy = useCustos((s) => s.rehearsalBusy === 'start');
  const error = useCustos((s) => (s.rehearsalErrorAt === 'start' ? s.rehearsalError : null));
  const need = report.rehearsal;
  if (need && need.limits.length > 0) return <CannotRehearse report={report} />;
  return (
    <section className="card no-print" aria-labelledby="rehearse-title">
      <h2 id="rehearse-title">Rehearse this script</h2>
      <ErrorSummary problems={[]} error={error} link={null} />
      <p>
        A rehearsal runs every step of this script with the same people and their own factors on a scratch token
        labelled REHEARSAL, beside this installation: no real token or key is touched, and its report says REHEARSAL on
        every page.
      </p>
      {need?.required && (
        <p>
          <strong>The policy asks for a passed rehearsal of this exact file before the real run</strong>
          {need.lastPassed ? `: one passed ${utc(need.lastPassed)}.` : ', and there is none yet: rehearse it first.'}
        </p>
      )}
      {need && !need.required && need.lastPassed && (
        <p>A rehearsal of this exact file passed {utc(need.lastPassed)}.</p>
      )}
      <button type="button" className={primary ? 'primary' : undefined} onClick={() => void start()} disabled={busy}>
        {busy ? 'Opening the rehearsal…' : 'Rehearse this script'}
      </button>
    </section>
  );
}

/** A script a stand-in cannot rehearse: why, and what the policy then means for it. No button that would fail. */
function CannotRehearse({ report }: { report: LintReport }) {
  const need = report.rehearsal!;
  return (
    <section className="card no-print" aria-labelledby="rehearse-title">
      <h2 id="rehearse-title">This script cannot be rehearsed</h2>
      <p>
        A rehearsal runs the script on a scratch token, on stand-ins for the real keys it names. Some steps act on what
        only the real installation has:
      </p>
      <ul>
        {need.limits.map((limit) => (
          <li key={limit}>{limit}</li>
        ))}
      </ul>
      {need.required && !need.lastPassed && (
        <p>
          <strong>The policy asks for a passed rehearsal before a real run, so this script cannot be run.</strong> Carry
          out its steps as single quorum actions (Approvals), or a security officer turns the policy off at the console
          (<code>custos ceremony policy --require-rehearsal off</code>, recorded).
        </p>
      )}
    </section>
  );
}

/**
 * For a script that acts on a token already in custody: the rehearsal's scratch token is taken into custody first, by
 * the same holders, each giving both factors. Nobody types an SO PIN (the rehearsal hands the scratch token's over).
 */
export function RehearsalCustodyPage() {
  const active = useCustos((s) => s.rehearsal.active);
  const custodians = useCustos((s) => s.custodians) ?? [];
  const take = useCustos((s) => s.takeRehearsalCustody);
  const busy = useCustos((s) => s.rehearsalBusy === 'custody');
  const error = useCustos((s) => (s.rehearsalErrorAt === 'custody' ? s.rehearsalError : null));
  const names = active?.custody?.holders ?? [];
  const idOf = (name: string) => custodians.find((c) => c.name === name)?.id ?? '';
  const [typed, setTyped] = useState<Proof[]>(() => names.map(() => emptyProof()));
  // Each holder is chosen already: the list of people may arrive after the page opened.
  const proofs = names.map((name, i) => {
    const proof = typed[i] ?? emptyProof();
    return { ...proof, custodianId: proof.custodianId || idOf(name) };
  });
  const [problems, setProblems] = useState<Problem[]>([]);
  if (!active?.custody) return null;
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    // Several people's fields on one page: each problem says whose.
    const missing = proofs.flatMap((p, i) =>
      missingFactors(p, `rehearsal-holder-${i}`, 'this holder is').map((problem) => ({
        ...problem,
        text: `${names[i]}: ${problem.text.charAt(0).toLowerCase()}${problem.text.slice(1)}`,
      })),
    );
    setProblems(missing);
    if (missing.length > 0) return;
    await take(proofs);
    // Every holder's factors are gone after the submit, whatever the answer.
    setTyped(names.map(() => emptyProof()));
  };
  return (
    <form
      className="card"
      aria-label="The holders take the rehearsal token"
      onSubmit={(e) => void submit(e)}
      noValidate
    >
      <ErrorSummary problems={problems} error={error} link={null} />
      <p>
        “{active.title}” acts on a token that is already in custody, so the rehearsal first puts its own token in
        custody: the scratch token {active.token.label} (serial <code>{active.token.serial}</code>). Its holders are the
        real token’s — {names.join(', ')} — and each gives their passphrase and code in turn; any{' '}
        {active.custody.threshold} of them open it during the rehearsal. Nobody types an SO PIN, and the real token is
        not touched.
      </p>
      {active.standIns && (
        <p>
          The script also acts on real keys — {active.standIns.keys.map((k) => `“${k}”`).join(', ')}. Once the token is
          taken, {active.standIns.by} (who performs the first step on them) proposes stand-ins for them, with both
          factors: new keys in the rehearsal token with the same ids, labels, algorithms, usages and states. They are
          not copies, and nothing of the real keys leaves their token. The other holders approve that proposal on
          Approvals before the run starts, so at least {active.custody.threshold} holders other than{' '}
          {active.standIns.by} take the token now.
        </p>
      )}
      {names.map((name, i) => (
        <FactorFields
          key={name}
          id={`rehearsal-holder-${i}`}
          label={`${name} (holder)`}
          proof={proofs[i]!}
          onChange={(p) => setTyped(proofs.map((q, j) => (j === i ? p : q)))}
          choices={custodians.filter((c) => c.name === name)}
        />
      ))}
      <button type="submit" disabled={busy}>
        {busy ? 'Setting the rehearsal token’s PINs…' : 'Take the rehearsal token'}
      </button>
    </form>
  );
}

/** Ending the rehearsal: at once when its run is complete; otherwise a confirmation that it counts as incomplete. */
export function EndRehearsalPage() {
  const active = useCustos((s) => s.rehearsal.active);
  const run = useCustos(rehearsalRun);
  const view = useCustos((s) => (run ? s.runViews[run.id] : undefined));
  const end = useCustos((s) => s.endRehearsal);
  const navigate = useCustos((s) => s.navigate);
  const busy = useCustos((s) => s.rehearsalBusy === 'end');
  const error = useCustos((s) => (s.rehearsalErrorAt === 'end' ? s.rehearsalError : null));
  if (!active) return null;
  const finished = run?.state === 'done';
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void end();
  };
  const step = view?.steps.find((s) => s.id === view.current);
  const where = !run
    ? 'Its run has not started.'
    : run.state === 'aborted'
      ? 'Its run was aborted.'
      : finished
        ? 'Its run is complete.'
        : `Its run is in progress${step && view ? `, at step ${step.index + 1} of ${view.steps.length}, “${step.title}”` : ''}.`;
  return (
    <form className="card" aria-labelledby="end-check-title" onSubmit={submit} noValidate>
      <ErrorSummary problems={[]} error={error} link={null} />
      <h2 id="end-check-title">{finished ? 'Finish the rehearsal' : 'Check before you end it'}</h2>
      <dl className="facts">
        <dt>Rehearsal</dt>
        <dd>“{active.title}”</dd>
        <dt>Token</dt>
        <dd>
          {active.token.label} (serial <code>{active.token.serial}</code>), a scratch token
        </dd>
        <dt>Opened</dt>
        <dd>{utc(active.startedAt)}</dd>
        <dt>Where it is</dt>
        <dd>{where}</dd>
      </dl>
      {finished ? (
        <p>
          Finishing writes the rehearsal’s report, which says REHEARSAL on every page, records that the rehearsal
          passed, and gives the real installation back.
        </p>
      ) : (
        <p>
          <strong>The rehearsal will be recorded as incomplete.</strong> It will not count as a passed rehearsal of this
          script, and no rehearsal report is written. The scratch installation closes and every screen shows the real
          installation again. Nothing real was touched.
        </p>
      )}
      <div className="actions">
        <button type="submit" className={finished ? undefined : 'danger'} disabled={busy}>
          {busy ? 'Ending the rehearsal…' : finished ? 'Finish the rehearsal' : 'End the rehearsal as incomplete'}
        </button>
        <button type="button" onClick={() => navigate('ceremonies', run ? runPage(run.id) : CHECK_SCRIPT_PAGE)}>
          Back to the rehearsal
        </button>
      </div>
    </form>
  );
}

/** How the rehearsal that ended last went, where its report is, and that the real installation is back. */
export function RehearsalResultPage() {
  const last = useCustos((s) => s.rehearsal.last);
  if (!last) return null;
  const passed = last.outcome === 'passed';
  const said = passed
    ? `The rehearsal of “${last.title}” passed: every step was done and witnessed on the scratch token.`
    : last.how === 'stopped'
      ? `The rehearsal of “${last.title}” stopped on its own: its process ended before anyone ended it. It is recorded as incomplete.`
      : `The rehearsal of “${last.title}” ended before its run finished. It is recorded as incomplete.`;
  return (
    <div className="card rehearsal-result">
      <p role="status" className={`notice ${passed ? 'notice-ok' : 'notice-warning'}`}>
        {said}
      </p>
      <dl className="facts">
        <dt>Outcome</dt>
        <dd>
          <span className={passed ? 'chip chip-executed' : 'chip chip-failed'}>{passed ? 'passed' : 'incomplete'}</span>
          {last.how === 'stopped' && <span className="chip">stopped on its own</span>}
        </dd>
        <dt>Ended</dt>
        <dd>{utc(last.endedAt)}</dd>
        <dt>Script SHA-256</dt>
        <dd>
          <code>{fingerprintInGroups(last.scriptSha256.slice(0, 16))}…</code>
        </dd>
        <dt>Report folder</dt>
        <dd>
          {last.reportDir ? (
            <>
              <code className="report-dir">{last.reportDir}</code>
              <br />
              Its report.pdf says REHEARSAL on every page.
            </>
          ) : (
            'None: a rehearsal report is written only when its run finished.'
          )}
        </dd>
        {last.reportSha256 && (
          <>
            <dt>Report SHA-256</dt>
            <dd>
              <code>{fingerprintInGroups(last.reportSha256.slice(0, 16))}…</code>
            </dd>
          </>
        )}
        <dt>Scratch installation</dt>
        <dd>
          <code>{last.dir}</code>
        </dd>
      </dl>
      <p>
        <strong>The real installation is back:</strong> every screen shows it again, and the rehearsal is recorded in
        its audit log. Nothing real was touched.
      </p>
      <NextStep
        screen="ceremonies"
        page={CHECK_SCRIPT_PAGE}
        action={passed ? 'Check the script for the real run' : 'Check a script'}
      >
        {passed
          ? 'Next: the real run, from the same file. Its fingerprints are the ones on the printed script.'
          : 'Rehearse it again from Check a script, with the same file.'}
      </NextStep>
    </div>
  );
}
