import { useEffect, useRef, useState, type FormEvent } from 'react';
import { ErrorSummary, factorIds, factorProblem, missingFactors, type Problem } from '../app/ErrorSummary';
import { emptyProof, FactorFields } from '../app/FactorFields';
import { useCustos } from '../store/context';
import { runPage } from './run-words';

/**
 * Aborting a run is final, so it has its own page: the reason first, then a confirmation that restates what stops and
 * why, where the administrator or a security officer gives both factors.
 */
export function AbortRunPage({ runId }: { runId: string }) {
  const run = useCustos((s) => s.runViews[runId]);
  const custodians = useCustos((s) => s.custodians) ?? [];
  const abort = useCustos((s) => s.abortRun);
  const navigate = useCustos((s) => s.navigate);
  const busy = useCustos((s) => s.runBusy);
  const error = useCustos((s) => (s.runErrorAt === 'abort' ? s.runError : null));
  const [reason, setReason] = useState('');
  const [confirming, setConfirming] = useState(false);
  const [proof, setProof] = useState(emptyProof());
  const [problems, setProblems] = useState<Problem[]>([]);
  const heading = useRef<HTMLHeadingElement>(null);
  // The confirmation replaces the reason's form: its heading takes focus, as a new page's title would.
  useEffect(() => {
    if (confirming) heading.current?.focus();
  }, [confirming]);
  if (!run) return null;
  const step = run.steps.find((s) => s.id === run.current);
  const done = run.steps.filter((s) => s.state === 'done').length;
  // The core decides who may abort (the administrator, or a security officer); the list offers those it would accept.
  const choices = custodians.filter((c) => c.name === run.startedBy || c.roles.includes('security-officer'));
  const toConfirm = (event: FormEvent) => {
    event.preventDefault();
    const missing = reason.trim() ? [] : [{ field: 'abort-reason', text: 'Say why the ceremony stops' }];
    setProblems(missing);
    if (missing.length === 0) setConfirming(true);
  };
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const missing = missingFactors(proof, 'abort', 'aborts it');
    setProblems(missing);
    if (missing.length > 0) return;
    const ok = await abort(run.id, proof, reason.trim());
    setProof(emptyProof());
    if (ok) navigate('ceremonies', runPage(run.id));
  };
  if (!confirming)
    return (
      <form className="card" aria-label="Why the ceremony stops" onSubmit={toConfirm} noValidate>
        <ErrorSummary problems={problems} error={null} link={null} />
        <label htmlFor="abort-reason">Why the ceremony stops</label>
        <input
          id="abort-reason"
          type="text"
          maxLength={500}
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          autoComplete="off"
          aria-describedby="abort-reason-hint"
        />
        <p id="abort-reason-hint" className="hint">
          One line, at most 500 characters. It is kept in the signed record of the run and in its report.
        </p>
        <div className="actions">
          <button type="submit">Continue</button>
          <button type="button" onClick={() => navigate('ceremonies', runPage(run.id))}>
            Back to the ceremony
          </button>
        </div>
      </form>
    );
  return (
    <form className="card" aria-label="Confirm the abort" onSubmit={(e) => void submit(e)} noValidate>
      <ErrorSummary problems={problems} error={error} link={error && factorProblem(error.code, factorIds('abort'))} />
      <h2 ref={heading} tabIndex={-1}>
        Check before you abort
      </h2>
      <dl className="facts">
        <dt>Ceremony</dt>
        <dd>
          {run.title} on “{run.token.label}”
        </dd>
        <dt>Where it stops</dt>
        <dd>
          After {done} of {run.steps.length} steps
          {step ? `: step ${step.index + 1}, “${step.title}”, and those after it will not be done` : ''}
        </dd>
        <dt>Why</dt>
        <dd>
          {reason.trim()}{' '}
          <button type="button" className="link" onClick={() => setConfirming(false)}>
            Change the reason
          </button>
        </dd>
      </dl>
      <p>
        <strong>This cannot be undone.</strong> What the finished steps did stays done (a key generated stays in the
        token); nothing more can be done in this run. To do the rest, write a new script, have it reviewed and run it.
      </p>
      <FactorFields
        id="abort"
        label="The administrator or a security officer"
        proof={proof}
        onChange={setProof}
        choices={choices}
      />
      <button type="submit" className="danger" disabled={busy}>
        {busy ? 'Aborting…' : 'Abort the ceremony'}
      </button>
    </form>
  );
}
