import { useEffect, useState, type FormEvent } from 'react';
import { actionTitle, describeProposal, describeResult, type ProposalLookups } from '../../../shared/actions';
import type { CustodianSummary } from '../../../shared/custodians';
import { approvalsComplete, describeFailure, reasonProblem, type ProposalView } from '../../../shared/quorum';
import { ErrorSummary, factorIds, factorProblem, missingFactors, type Problem } from '../app/ErrorSummary';
import { emptyProof, FactorFields } from '../app/FactorFields';
import { NextStep } from '../app/NextStep';
import { useProposalLookups } from '../app/proposal-lookups';
import { QuorumScreen } from '../app/QuorumScreen';
import { useCustos } from '../store/context';
import { approveFormOf, isCertificateCeremony, stopFormOf } from '../store/quorum-slice';
import { CardPrinter, ShareEntryForm } from './BackupPanels';
import { CardsToDestroy } from './BackupRetirement';

const CLOSED_AS: Record<Exclude<ProposalView['state'], 'open'>, string> = {
  executed: 'Carried out once the quorum was met.',
  failed: 'The quorum was met, but the operation did not complete.',
  rejected: 'Rejected by an approver: nothing was done.',
  cancelled: 'Cancelled by its proposer, or voided by a change of custody: nothing was done.',
  expired: 'Expired before enough approvals: nothing was done.',
};

/** The inbox first (what waits for someone now), then the proposal form, then the record of closed proposals. */
export function ApprovalsScreen() {
  const proposals = useCustos((s) => s.proposals);
  const loadKeys = useCustos((s) => s.loadKeys);
  useEffect(() => {
    void loadKeys();
  }, [loadKeys]);
  const open = (proposals ?? []).filter((p) => p.state === 'open');
  const closed = (proposals ?? []).filter((p) => p.state !== 'open');
  return (
    <QuorumScreen title="Approvals" errorTitle="Not approved">
      <CardPrinter />
      <section aria-labelledby="inbox-title">
        <h2 id="inbox-title">Waiting for approval ({open.length})</h2>
        {proposals && open.length === 0 && (
          <p className="muted">
            Nothing waits for approval. Proposals made here, on Keys or on Ceremonies appear here.
          </p>
        )}
        {open.map((p) => (
          <Proposal key={p.id} proposal={p} />
        ))}
      </section>
      <ProposeDrill />
      {closed.length > 0 && (
        <section aria-labelledby="closed-title">
          <h2 id="closed-title">Closed proposals ({closed.length})</h2>
          <p className="muted">Kept for the record: nobody can approve them any more.</p>
          {closed.map((p) => (
            <Proposal key={p.id} proposal={p} />
          ))}
        </section>
      )}
    </QuorumScreen>
  );
}

function ProposeDrill() {
  const custodies = (useCustos((s) => s.custodies) ?? []).filter((c) => c.state === 'active');
  const custodians = useCustos((s) => s.custodians) ?? [];
  const propose = useCustos((s) => s.proposeDrill);
  const busy = useCustos((s) => s.quorumBusy);
  const [custodyId, setCustodyId] = useState('');
  const [proof, setProof] = useState(emptyProof());
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    await propose(custodyId || custodies[0]?.id || '', proof);
    setProof({ ...proof, passphrase: '', code: '' });
  };
  if (custodies.length === 0) {
    return (
      <NextStep screen="ceremonies" action="Go to Ceremonies">
        No token is in custody yet, so there is nothing to propose. Take a token into custody on the Ceremonies screen
        first.
      </NextStep>
    );
  }
  return (
    <form className="card" aria-labelledby="propose-title" onSubmit={(e) => void submit(e)}>
      <h2 id="propose-title">Propose a quorum drill</h2>
      <p className="muted">
        A drill proves that the holders can open the token together. It changes nothing on the token.
      </p>
      <label htmlFor="propose-custody">Token</label>
      <select id="propose-custody" value={custodyId} onChange={(e) => setCustodyId(e.target.value)}>
        {custodies.map((c) => (
          <option key={c.id} value={c.id}>
            {c.token.label} ({c.threshold} of {c.holders.length})
          </option>
        ))}
      </select>
      <FactorFields id="requester" label="Proposed by" proof={proof} onChange={setProof} choices={custodians} />
      <button type="submit" disabled={busy}>
        Propose
      </button>
    </form>
  );
}

function Proposal({ proposal }: { proposal: ProposalView }) {
  const custodians = useCustos((s) => s.custodians) ?? [];
  const lookups = useProposalLookups();
  const open = proposal.state === 'open';
  const approvers = custodians.filter((c) => c.id !== proposal.requestedBy || proposal.holdersToConfirm.includes(c.id));
  return (
    <section
      className={`card proposal proposal-${proposal.state}`}
      aria-labelledby={`proposal-${proposal.id} fp-label-${proposal.id}`}
      data-proposal={proposal.id}
    >
      <h3 id={`proposal-${proposal.id}`}>
        {actionTitle(proposal.action)} on “{proposal.token.label}” —{' '}
        <span className={`chip chip-${proposal.state}`}>{proposal.state}</span>
      </h3>
      {proposal.state === 'open' ? (
        <p id={`fp-label-${proposal.id}`}>
          Fingerprint to read aloud: <code className="fingerprint">{proposal.shortFingerprint}</code>
        </p>
      ) : (
        <p className="muted" id={`fp-label-${proposal.id}`}>
          {CLOSED_AS[proposal.state]} Fingerprint <code>{proposal.shortFingerprint}</code>
        </p>
      )}
      <ProposalFacts proposal={proposal} lookups={lookups} />
      {proposal.action === 'key.backup' && proposal.state === 'executed' && <PrintCardsButton proposal={proposal} />}
      {open && approvalsComplete(proposal) && (
        <p>
          Every approval it needs is held: nobody else approves.
          {proposal.action === 'key.restore' && ' The card holders type their share cards below, one after the other.'}
        </p>
      )}
      {proposal.action === 'key.restore' && open && <ShareEntryForm proposal={proposal} />}
      {proposal.action === 'backup.retire' && proposal.state === 'executed' && (
        <CardsToDestroy setId={proposal.params.setId} />
      )}
      {isCertificateCeremony(proposal.action) && proposal.state === 'executed' && (
        <NextStep screen="certificates" action="Go to Certificates">
          {proposal.action === 'crl.issue'
            ? 'The list is on the Certificates screen, as PEM text to publish.'
            : 'The certificate is on the Certificates screen, as PEM text to copy or print.'}
        </NextStep>
      )}
      {open && !approvalsComplete(proposal) && <ApproveForm proposal={proposal} choices={approvers} />}

      {open && (
        <StopForm proposal={proposal} choices={custodians.filter((c) => c.roles.some((r) => r !== 'auditor'))} />
      )}
    </section>
  );
}

function ProposalFacts({ proposal, lookups }: { proposal: ProposalView; lookups: ProposalLookups }) {
  const name = (id: string) => lookups.person(id) ?? id;
  const described = describeProposal(proposal.action, proposal.params, lookups);
  const held = proposal.approvals.filter((a) => a.held).length;
  const open = proposal.state === 'open';
  return (
    <dl className="facts">
      <dt>What exactly</dt>
      <dd>
        <p className="proposal-sentence">{described.sentence}</p>
        {described.lines.map((line) => (
          <span key={line} className="muted">
            {line}
            <br />
          </span>
        ))}
      </dd>
      <dt>Proposed by</dt>
      <dd>{name(proposal.requestedBy)}</dd>
      <dt>Approvals</dt>
      {open ? (
        <dd>
          {held} of {proposal.threshold} held
          {proposal.approvals.length > 0 &&
            ` (${proposal.approvals.map((a) => `${name(a.custodianId)}${a.held ? '' : ' — expired'}`).join(', ')})`}
        </dd>
      ) : (
        <dd>
          {proposal.approvals.length > 0
            ? `Approved by ${proposal.approvals
                .toSorted((a, b) => a.approvedAt.localeCompare(b.approvedAt))
                .map((a) => name(a.custodianId))
                .join(', ')}`
            : 'None'}
        </dd>
      )}
      {open && proposal.securityOfficersRequired > 0 && (
        <>
          <dt>Policy</dt>
          <dd>
            Besides {proposal.threshold} share holders (the cryptographic floor), {proposal.securityOfficersRequired}{' '}
            security officer
            {proposal.securityOfficersRequired === 1 ? '' : 's'} must approve: {proposal.securityOfficersApproved} so
            far. One person counts once: a security officer who holds a share counts as the officer only when{' '}
            {proposal.threshold} other share holders have also approved; otherwise they count as a holder.
          </dd>
        </>
      )}
      {open && proposal.holdersToConfirm.length > 0 && (
        <>
          <dt>New holders still to confirm</dt>
          <dd>{proposal.holdersToConfirm.map(name).join(', ')}</dd>
        </>
      )}
      {open && proposal.waitingFor.length > 0 && (
        <>
          <dt>Also waiting for</dt>
          <dd>{proposal.waitingFor.join('; ')}</dd>
        </>
      )}
      <Decision proposal={proposal} name={name} />
      {(open || proposal.state === 'expired') && (
        <>
          <dt>{open ? 'Expires' : 'Expired'}</dt>
          <dd>{proposal.expiresAt.replace('T', ' ').slice(0, 19)} UTC</dd>
        </>
      )}
      {proposal.outcome?.status === 'ok' && (
        <>
          <dt>Outcome</dt>
          <dd>{describeResult(proposal.action, proposal.outcome.result, lookups).join(' ')}</dd>
        </>
      )}
      {proposal.outcome?.status === 'failed' && (
        <>
          <dt>Outcome</dt>
          <dd data-error-code={proposal.outcome.code}>{describeFailure(proposal.outcome)}</dd>
          {proposal.outcome.remedy && proposal.outcome.remedy.length > 0 && (
            <>
              <dt>What to do</dt>
              <dd>{proposal.outcome.remedy.join(' ')}</dd>
            </>
          )}
        </>
      )}
    </dl>
  );
}

/** Who rejected or cancelled it and why, as the signed record shows it; a tampered record is said to be so. */
function Decision({ proposal, name }: { proposal: ProposalView; name: (id: string) => string }) {
  const decision = proposal.decision;
  if (!decision) return null;
  const verb = proposal.state === 'rejected' ? 'Rejected by' : 'Cancelled by';
  if (decision.status === 'tampered')
    return (
      <>
        <dt>{verb}</dt>
        <dd className="tampered">
          <strong>Not shown:</strong> {decision.message}
        </dd>
      </>
    );
  return (
    <>
      <dt>{verb}</dt>
      <dd>
        {name(decision.by)}, {decision.at.replace('T', ' ').slice(0, 16)} UTC
      </dd>
      <dt>Why</dt>
      <dd className="decision-reason">
        {decision.reason ??
          (proposal.state === 'rejected' ? 'Not recorded: rejected before Custos kept reasons.' : 'No reason given.')}
      </dd>
    </>
  );
}

function ApproveForm({ proposal, choices }: { proposal: ProposalView; choices: CustodianSummary[] }) {
  const approve = useCustos((s) => s.approveProposal);
  const busy = useCustos((s) => s.quorumBusy);
  const error = useCustos((s) => (s.quorumErrorAt === approveFormOf(proposal.id) ? s.quorumError : null));
  const [fingerprint, setFingerprint] = useState('');
  const [proof, setProof] = useState(emptyProof());
  const [problems, setProblems] = useState<Problem[]>([]);
  const prefix = `approver-${proposal.id}`;
  const fingerprintId = `fp-${proposal.id}`;
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const missing = [
      ...(fingerprint.trim() ? [] : [{ field: fingerprintId, text: 'Type the fingerprint read aloud to you' }]),
      ...missingFactors(proof, prefix, 'approves'),
    ];
    setProblems(missing);
    if (missing.length > 0) return;
    const ok = await approve(proposal.id, fingerprint, proof);
    // The next approver starts from an empty form: nothing typed under one person's name counts for another.
    setProof(ok ? emptyProof() : { ...proof, passphrase: '', code: '' });
    if (ok) setFingerprint('');
  };
  const fromCore =
    error?.code === 'FINGERPRINT_MISMATCH'
      ? { field: fingerprintId, text: 'Compare the fingerprint aloud again and type it as read' }
      : error
        ? factorProblem(error.code, factorIds(prefix))
        : null;
  return (
    <form onSubmit={(e) => void submit(e)} aria-label={`Approve proposal ${proposal.shortFingerprint}`} noValidate>
      <ErrorSummary problems={problems} error={error} link={fromCore} />
      <label htmlFor={fingerprintId}>Fingerprint as read aloud to you</label>
      <input
        id={fingerprintId}
        type="text"
        value={fingerprint}
        onChange={(e) => setFingerprint(e.target.value)}
        autoComplete="off"
        spellCheck={false}
        aria-describedby={`fp-hint-${proposal.id}`}
      />
      <p id={`fp-hint-${proposal.id}`} className="hint">
        Four groups of four, for example 1a2b-3c4d-5e6f-7a8b
      </p>
      <FactorFields id={prefix} label="Approver" proof={proof} onChange={setProof} choices={choices} />
      <button type="submit" disabled={busy}>
        {busy
          ? 'Checking the factors; the operation runs once the quorum is met…'
          : proposal.holdersToConfirm.length > 0
            ? 'Approve or confirm'
            : 'Approve'}
      </button>
    </form>
  );
}

/** Reject (an approver who heard a mismatch) or cancel (the proposer): either closes the proposal for everyone. */
function StopForm({ proposal, choices }: { proposal: ProposalView; choices: CustodianSummary[] }) {
  const reject = useCustos((s) => s.rejectProposal);
  const cancel = useCustos((s) => s.cancelProposal);
  const busy = useCustos((s) => s.quorumBusy);
  const error = useCustos((s) => (s.quorumErrorAt === stopFormOf(proposal.id) ? s.quorumError : null));
  const [proof, setProof] = useState(emptyProof());
  const [reason, setReason] = useState('');
  const [problems, setProblems] = useState<Problem[]>([]);
  const prefix = `stop-${proposal.id}`;
  const reasonId = `reason-${proposal.id}`;
  const byProposer = proof.custodianId === proposal.requestedBy;
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    // A proposer may cancel without saying why; a rejection always says why.
    const problem = byProposer && reason.trim() === '' ? null : reasonProblem(reason);
    const missing = [
      ...(problem ? [{ field: reasonId, text: reason.trim() ? problem : 'Say why it should not go ahead' }] : []),
      ...missingFactors(proof, prefix, 'stops it'),
    ];
    setProblems(missing);
    if (missing.length > 0) return;
    const ok = byProposer
      ? await cancel(proposal.id, proof, reason.trim() || undefined)
      : await reject(proposal.id, proof, reason);
    setProof(ok ? emptyProof() : { ...proof, passphrase: '', code: '' });
    if (ok) setReason('');
  };
  const fromCore =
    error?.code === 'PROPOSAL_INVALID' || error?.code === 'IPC_INVALID_PAYLOAD'
      ? { field: reasonId, text: 'Say why on one line, in at most 500 characters' }
      : error
        ? factorProblem(error.code, factorIds(prefix))
        : null;
  return (
    <details className="stop">
      <summary>Reject or cancel this proposal</summary>
      <form
        onSubmit={(e) => void submit(e)}
        aria-label={`Reject or cancel proposal ${proposal.shortFingerprint}`}
        noValidate
      >
        <ErrorSummary problems={problems} error={error} link={fromCore} />
        <p>
          Reject it if the fingerprint read aloud does not match or this is not what was agreed; its proposer cancels it
          instead. Either way{' '}
          <strong>
            {actionTitle(proposal.action)} on “{proposal.token.label}” ({proposal.shortFingerprint})
          </strong>{' '}
          closes for everyone, nothing is done, and it cannot be reopened: propose again if it is still wanted.
        </p>
        <label htmlFor={reasonId}>Why it should not go ahead</label>
        <input
          id={reasonId}
          type="text"
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          autoComplete="off"
          aria-describedby={`reason-hint-${proposal.id}`}
        />
        <p id={`reason-hint-${proposal.id}`} className="hint">
          Required to reject; its proposer may cancel without one. One line, at most 500 characters: it is kept in the
          signed audit record and shown with the proposal.
        </p>
        <FactorFields id={prefix} label="Who stops it" proof={proof} onChange={setProof} choices={choices} />
        <button type="submit" className="danger" disabled={busy}>
          {byProposer ? 'Cancel my proposal' : 'Reject this proposal'}
        </button>
      </form>
    </details>
  );
}

function PrintCardsButton({ proposal }: { proposal: ProposalView }) {
  const show = useCustos((s) => s.showCards);
  const setId =
    proposal.action === 'key.backup' && proposal.outcome?.status === 'ok' ? proposal.outcome.result.setId : undefined;
  if (!setId) return null;
  return (
    <button type="button" onClick={() => void show(setId)}>
      Print the share cards
    </button>
  );
}
