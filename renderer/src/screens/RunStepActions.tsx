import { useRef, useState, type FormEvent, type ReactNode } from 'react';
import type { RunStepView, RunView } from '../../../shared/ceremony-script';
import type { CustodianSummary } from '../../../shared/custodians';
import type { WireError } from '../../../shared/errors';
import type { ProposalView } from '../../../shared/quorum';
import { ErrorSummary, factorIds, factorProblem, missingFactors, type Problem } from '../app/ErrorSummary';
import { emptyProof, FactorFields } from '../app/FactorFields';
import { useCustos } from '../store/context';
import type { RunForm } from '../store/ceremony-runs-slice';
import type { Proof } from '../store/quorum-slice';
import { CardPrinter, ShareEntryForm } from './BackupPanels';
import { cardsAwaited } from './run-words';

/** The people a step names, as enrolled (a name not enrolled is simply absent: the core refuses it with its reason). */
function usePeople(names: readonly string[]): CustodianSummary[] {
  const custodians = useCustos((s) => s.custodians) ?? [];
  return names.flatMap((n) => custodians.filter((c) => c.name === n));
}

/** A form's own refusal, with the factor field it is about. */
function useFormError(form: RunForm, prefix: string) {
  const error = useCustos((s) => (s.runErrorAt === form ? s.runError : null));
  return { error, link: error && factorProblem(error.code, factorIds(prefix)) };
}

/**
 * A form that people use in turn. Each person's factors leave it as soon as they submit; it is made ready for the next
 * person only if nobody started typing in it while that submit ran — whoever did keeps what they typed.
 */
function useTurns() {
  const edits = useRef(0);
  return {
    edited:
      <T,>(set: (value: T) => void) =>
      (value: T) => {
        edits.current += 1;
        set(value);
      },
    mark: () => edits.current,
    untouchedSince: (mark: number) => edits.current === mark,
  };
}

/** The one action the current step's state asks for. */
export function StepAction({ run, step }: { run: RunView; step: RunStepView }) {
  const proposal = useCustos((s) => (s.proposals ?? []).find((p) => p.id === step.proposalId));
  switch (step.state) {
    case 'waiting':
    case 'failed':
      if (step.custody) return <CustodyAction run={run} step={step} />;
      return <PerformAction run={run} step={step} />;
    case 'proposed':
      return proposal ? <ApproveAction run={run} step={step} proposal={proposal} /> : null;
    case 'performed':
      return (
        <>
          <PerformedResult step={step} proposal={proposal} />
          <WitnessAction run={run} step={step} />
        </>
      );
    case 'done':
      return null;
  }
}

/**
 * Custody: the performer, then every other holder, each gives both factors; then the token's current SO PIN — except in
 * a rehearsal, which hands over its scratch token's own.
 */
function CustodyAction({ run, step }: { run: RunView; step: RunStepView }) {
  const perform = useCustos((s) => s.performStep);
  const busy = useCustos((s) => s.runBusy);
  const names = [step.by, ...(step.custody?.holders ?? []).filter((n) => n !== step.by)];
  const people = usePeople(names);
  const fresh = () => names.map((n) => emptyProof(people.find((p) => p.name === n)?.id));
  const [proofs, setProofs] = useState<Proof[]>(fresh);
  const [soPin, setSoPin] = useState('');
  const [problems, setProblems] = useState<Problem[]>([]);
  const { error } = useFormError('perform', 'holder-0');
  const submit = async () => {
    const missing = [
      ...proofs.flatMap((p, i) => missingFactors(p, `holder-${i}`, 'this holder is')),
      ...(soPin || run.rehearsal ? [] : [{ field: 'so-pin', text: 'Type the token’s current SO PIN' }]),
    ];
    setProblems(missing);
    if (missing.length > 0) return;
    const [by, ...holders] = proofs;
    await perform({
      runId: run.id,
      stepId: step.id,
      by: by!,
      holders,
      ...(run.rehearsal ? {} : { currentSoPin: soPin }),
    });
    // Every holder's factors and the SO PIN are gone after the submit, whatever the answer.
    setProofs(fresh());
    setSoPin('');
  };
  return (
    <StepForm
      label={`Do step ${step.index + 1}: ${step.title}`}
      onSubmit={submit}
      summary={{ problems, error, link: null }}
    >
      <p>
        Each holder in turn types their passphrase and code; any {step.custody?.threshold} of them will open the token
        together. Nobody sees the new PINs.
      </p>
      {proofs.map((proof, i) => (
        <FactorFields
          key={names[i]}
          id={`holder-${i}`}
          label={i === 0 ? `${names[i]} (performs the step)` : `${names[i]} (holder)`}
          proof={proof}
          onChange={(p) => setProofs(proofs.map((q, j) => (j === i ? p : q)))}
          choices={people.filter((c) => c.name === names[i])}
        />
      ))}
      {run.rehearsal ? (
        <p className="hint">Nobody types an SO PIN in a rehearsal: Custos hands over the scratch token’s own.</p>
      ) : (
        <>
          <label htmlFor="so-pin">The token’s current SO PIN</label>
          <input
            id="so-pin"
            type="password"
            value={soPin}
            onChange={(e) => setSoPin(e.target.value)}
            autoComplete="off"
            aria-describedby="so-pin-hint"
          />
          <p id="so-pin-hint" className="hint">
            Replaced at once by one that nobody knows.
          </p>
        </>
      )}
      <button type="submit" disabled={busy}>
        {busy ? 'Setting the new PINs…' : 'Take the token into custody'}
      </button>
    </StepForm>
  );
}

const PERFORM_BUTTON: Record<RunStepView['kind'], string> = {
  action: 'Propose it',
  custody: 'Take the token into custody',
  checkpoint: 'Sign the checkpoint',
  manual: 'Record that it is done',
};

/** A quorum step's proposal, a checkpoint or a manual task: its performer's factors (and a manual step's value). */
function PerformAction({ run, step }: { run: RunView; step: RunStepView }) {
  const perform = useCustos((s) => s.performStep);
  const busy = useCustos((s) => s.runBusy);
  const people = usePeople([step.by]);
  const [proof, setProof] = useState(emptyProof(people[0]?.id));
  const [value, setValue] = useState('');
  const [problems, setProblems] = useState<Problem[]>([]);
  const { error, link } = useFormError('perform', 'performer');
  const submit = async () => {
    const missing = [
      ...(step.record && !value.trim()
        ? [{ field: 'record-value', text: `Type the ${step.record} as read aloud` }]
        : []),
      ...missingFactors(proof, 'performer', 'performs it'),
    ];
    setProblems(missing);
    if (missing.length > 0) return;
    const ok = await perform({
      runId: run.id,
      stepId: step.id,
      by: proof,
      ...(step.record ? { value: value.trim() } : {}),
    });
    setProof(emptyProof(people[0]?.id));
    if (ok) setValue('');
  };
  return (
    <StepForm label={`Do step ${step.index + 1}: ${step.title}`} onSubmit={submit} summary={{ problems, error, link }}>
      {step.state === 'failed' && (
        <p className="notice notice-warning">
          The last attempt did not go through: {step.outcome} {step.by} proposes it again; the fingerprint is the same.
        </p>
      )}
      {step.record && (
        <>
          <label htmlFor="record-value">{capitalised(step.record)}, as read aloud</label>
          <input
            id="record-value"
            type="text"
            value={value}
            onChange={(e) => setValue(e.target.value)}
            autoComplete="off"
            spellCheck={false}
          />
        </>
      )}
      <FactorFields
        id="performer"
        label={`${step.by} (performs the step)`}
        proof={proof}
        onChange={setProof}
        choices={people}
      />
      <button type="submit" disabled={busy}>
        {busy ? 'Working…' : step.state === 'failed' ? 'Propose it again' : PERFORM_BUTTON[step.kind]}
      </button>
    </StepForm>
  );
}

/** The approvers the script names, one after the other: the fingerprint as read from the paper, then both factors. */
function ApproveAction({ run, step, proposal }: { run: RunView; step: RunStepView; proposal: ProposalView }) {
  const approve = useCustos((s) => s.approveStep);
  const busy = useCustos((s) => s.runBusy);
  const custodians = useCustos((s) => s.custodians) ?? [];
  const approvers = usePeople(step.approvers);
  const held = proposal.approvals.filter((a) => a.held);
  const remaining = approvers.filter((c) => !held.some((a) => a.custodianId === c.id));
  const [proof, setProof] = useState(emptyProof(remaining[0]?.id));
  const [fingerprint, setFingerprint] = useState('');
  const [problems, setProblems] = useState<Problem[]>([]);
  const { error, link: factorLink } = useFormError('approve', 'approver');
  const nameOf = (id: string) => custodians.find((c) => c.id === id)?.name ?? id;
  const turns = useTurns();
  const submit = async () => {
    const missing = [
      ...(fingerprint.trim()
        ? []
        : [{ field: 'approve-fingerprint', text: 'Type the fingerprint printed on the script' }]),
      ...missingFactors(proof, 'approver', 'approves'),
    ];
    setProblems(missing);
    if (missing.length > 0) return;
    const mark = turns.mark();
    setProof(emptyProof(proof.custodianId));
    const ok = await approve(run.id, proposal.id, fingerprint, proof);
    // The next approver starts from an empty form: nothing typed under one person's name counts for another.
    const next = remaining.find((c) => c.id !== proof.custodianId);
    if (ok && turns.untouchedSince(mark)) {
      setProof(emptyProof(next?.id));
      setFingerprint('');
    }
  };
  const link =
    error?.code === 'FINGERPRINT_MISMATCH'
      ? { field: 'approve-fingerprint', text: 'Compare the fingerprint aloud again and type it as printed' }
      : factorLink;
  // Approved, a restore waits for its cards: nobody compares or approves any more.
  const cards = cardsAwaited(proposal);
  return (
    <>
      {cards.length === 0 ? (
        <div className="compare">
          <p>Compare this fingerprint aloud with the printed script:</p>
          <p>
            <code className="fingerprint fingerprint-large">{step.shortFingerprint}</code>
          </p>
          <p className="muted">If it differs from the paper, stop: do not approve, and abort the ceremony.</p>
        </div>
      ) : (
        <p>
          Every approval is held: nobody else approves. The card holders now type their share cards, one after the
          other.
        </p>
      )}
      <p>
        Approvals so far:{' '}
        <strong>
          {held.length} of {proposal.threshold}
        </strong>
        {held.length > 0 && ` (${held.map((a) => nameOf(a.custodianId)).join(', ')})`}.
        {proposal.waitingFor.length > 0 && ` Also waiting for: ${proposal.waitingFor.join('; ')}.`}
      </p>
      {cards.length > 0 ? (
        <ShareEntryForm proposal={proposal} />
      ) : (
        <StepForm
          label={`Approve step ${step.index + 1}: ${step.title}`}
          onSubmit={submit}
          summary={{ problems, error, link }}
        >
          <label htmlFor="approve-fingerprint">Fingerprint as read from your printed script</label>
          <input
            id="approve-fingerprint"
            type="text"
            className="fingerprint-input"
            value={fingerprint}
            onChange={(e) => turns.edited(setFingerprint)(e.target.value)}
            autoComplete="off"
            spellCheck={false}
            aria-describedby="approve-fingerprint-hint"
          />
          <p id="approve-fingerprint-hint" className="hint">
            Four groups of four, for example 1a2b-3c4d-5e6f-7a8b
          </p>
          <FactorFields
            id="approver"
            label="Approver"
            proof={proof}
            onChange={turns.edited(setProof)}
            choices={remaining}
          />
          <button type="submit" disabled={busy}>
            {busy ? 'Checking the factors; the operation runs once the quorum is met…' : 'Approve'}
          </button>
        </StepForm>
      )}
    </>
  );
}

/** Prints the checkpoint alone (print CSS: body.printing-checkpoint), not the run page around it. */
function printCheckpoint() {
  document.body.classList.add('printing-checkpoint');
  try {
    window.print();
  } finally {
    document.body.classList.remove('printing-checkpoint');
  }
}

/** What a performed step produced, to print or hand over before the witnesses confirm it. */
function PerformedResult({ step, proposal }: { step: RunStepView; proposal: ProposalView | undefined }) {
  const show = useCustos((s) => s.showCards);
  const printing = useCustos((s) => s.printing);
  let result: ReactNode = null;
  if (step.checkpoint)
    result = (
      <>
        <p>The signed checkpoint of the audit log. Print it and give it to the auditor, away from this machine:</p>
        <section className="printed-checkpoint" aria-label="Signed checkpoint">
          <h3 className="print-only">Signed checkpoint of the Custos audit log — {step.title}</h3>
          <pre className="checkpoint-note">{step.checkpoint}</pre>
        </section>
        <button type="button" className="no-print" onClick={printCheckpoint}>
          Print the checkpoint
        </button>
      </>
    );
  else if (step.value)
    result = (
      <p>
        Recorded: <strong>{step.value}</strong>
      </p>
    );
  else if (proposal?.action === 'key.backup' && proposal.outcome?.status === 'ok') {
    const setId = proposal.outcome.result.setId;
    result = printing ? (
      <CardPrinter />
    ) : (
      <p>
        The backup is made. Each card holder prints their own card now:{' '}
        <button type="button" onClick={() => void show(setId)}>
          Print the share cards
        </button>
      </p>
    );
  }
  return result && <div className="step-result">{result}</div>;
}

/** Each witness the script names for the step, one after the other, with both factors. */
function WitnessAction({ run, step }: { run: RunView; step: RunStepView }) {
  const witness = useCustos((s) => s.witnessStep);
  const busy = useCustos((s) => s.runBusy);
  const waiting = usePeople(step.witnesses.filter((w) => w.signedAt === null).map((w) => w.name));
  const [proof, setProof] = useState(emptyProof(waiting[0]?.id));
  const [problems, setProblems] = useState<Problem[]>([]);
  const { error, link } = useFormError('witness', 'witness');
  const turns = useTurns();
  const submit = async () => {
    const missing = missingFactors(proof, 'witness', 'witnessed it');
    setProblems(missing);
    if (missing.length > 0) return;
    const mark = turns.mark();
    setProof(emptyProof(proof.custodianId));
    const ok = await witness(run.id, step.id, proof);
    const next = waiting.find((c) => c.id !== proof.custodianId);
    if (ok && turns.untouchedSince(mark)) setProof(emptyProof(next?.id));
  };
  return (
    <StepForm
      label={`Witness step ${step.index + 1}: ${step.title}`}
      onSubmit={submit}
      summary={{ problems, error, link }}
    >
      <h3>Witness sign-off</h3>
      <ul className="witnesses">
        {step.witnesses.map((w) => (
          <li key={w.name}>
            {w.name}: {w.signedAt ? `confirmed at ${w.signedAt.slice(11, 16)} UTC` : 'not yet'}
          </li>
        ))}
      </ul>
      <FactorFields id="witness" label="Witness" proof={proof} onChange={turns.edited(setProof)} choices={waiting} />
      <button type="submit" disabled={busy}>
        {busy ? 'Checking the factors…' : 'I witnessed this step'}
      </button>
    </StepForm>
  );
}

const capitalised = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** A step's form, named for the step: what is missing, or what the core refused, summarised at its top. */
function StepForm({
  label,
  onSubmit,
  summary,
  children,
}: {
  label: string;
  onSubmit: () => Promise<void>;
  summary: { problems: Problem[]; error: WireError | null; link: Problem | null };
  children: ReactNode;
}) {
  const submit = (event: FormEvent) => {
    event.preventDefault();
    void onSubmit();
  };
  return (
    <form className="step-form" aria-label={label} onSubmit={submit} noValidate>
      <ErrorSummary problems={summary.problems} error={summary.error} link={summary.link} />
      {children}
    </form>
  );
}
