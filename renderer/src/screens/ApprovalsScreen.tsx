import { useState, type FormEvent } from 'react';
import { actionTitle, describeProposal, describeResult } from '../../../shared/actions';
import { describeFailure, type ProposalView } from '../../../shared/quorum';
import { emptyProof, FactorFields } from '../app/FactorFields';
import { useProposalLookups } from '../app/proposal-lookups';
import { QuorumScreen } from '../app/QuorumScreen';
import { useCustos } from '../store/context';
import { CardPrinter, ShareEntryForm } from './BackupPanels';

export function ApprovalsScreen() {
  const proposals = useCustos((s) => s.proposals);
  return (
    <QuorumScreen title="Approvals" errorTitle="Not approved">
      <CardPrinter />
      <ProposeDrill />
      {proposals?.map((p) => <Proposal key={p.id} proposal={p} />)}
      {proposals?.length === 0 && <p>No proposals yet.</p>}
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
  if (custodies.length === 0) return <p className="muted">Take a token into custody (Ceremonies) before proposing anything.</p>;
  return (
    <form className="card" aria-labelledby="propose-title" onSubmit={(e) => void submit(e)}>
      <h2 id="propose-title">Propose a quorum drill</h2>
      <p className="muted">A drill proves that the holders can open the token together. It changes nothing on the token.</p>
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
  const approve = useCustos((s) => s.approveProposal);
  const busy = useCustos((s) => s.quorumBusy);
  const [fingerprint, setFingerprint] = useState('');
  const [proof, setProof] = useState(emptyProof());
  const lookups = useProposalLookups();
  const name = (id: string) => lookups.person(id) ?? id;
  const described = describeProposal(proposal.action, proposal.params, lookups);
  const held = proposal.approvals.filter((a) => a.held).length;
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    await approve(proposal.id, fingerprint, proof);
    setProof({ ...proof, passphrase: '', code: '' });
  };
  return (
    <section className="card" aria-labelledby={`proposal-${proposal.id}`} data-proposal={proposal.id}>
      <h2 id={`proposal-${proposal.id}`}>
        {actionTitle(proposal.action)} on “{proposal.token.label}” — {proposal.state}
      </h2>
      <p>
        Fingerprint to read aloud: <code className="fingerprint">{proposal.shortFingerprint}</code>
      </p>
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
        <dd>
          {held} of {proposal.threshold} held{proposal.approvals.length > 0 && ` (${proposal.approvals.map((a) => `${name(a.custodianId)}${a.held ? '' : ' — expired'}`).join(', ')})`}
        </dd>
        {proposal.securityOfficersRequired > 0 && (
          <>
            <dt>Policy</dt>
            <dd>
              Besides {proposal.threshold} share holders (the cryptographic floor), {proposal.securityOfficersRequired} security officer
              {proposal.securityOfficersRequired === 1 ? '' : 's'} must approve: {proposal.securityOfficersApproved} so far. One person
              counts once: a security officer who holds a share counts as the officer only when {proposal.threshold} other share holders
              have also approved; otherwise they count as a holder.
            </dd>
          </>
        )}
        {proposal.holdersToConfirm.length > 0 && (
          <>
            <dt>New holders still to confirm</dt>
            <dd>{proposal.holdersToConfirm.map(name).join(', ')}</dd>
          </>
        )}
        {proposal.waitingFor.length > 0 && (
          <>
            <dt>Also waiting for</dt>
            <dd>{proposal.waitingFor.join('; ')}</dd>
          </>
        )}
        <dt>Expires</dt>
        <dd>{proposal.expiresAt.replace('T', ' ').slice(0, 19)} UTC</dd>
        {proposal.outcome?.status === 'ok' && (
          <>
            <dt>Outcome</dt>
            <dd>{describeResult(proposal.action, proposal.outcome.result, lookups).join(' ')}</dd>
          </>
        )}
        {proposal.outcome?.status === 'failed' && (
          <>
            <dt>Outcome</dt>
            <dd data-error-code={proposal.outcome.code}>
              {describeFailure(proposal.outcome)}
              {proposal.outcome.remedy?.map((step) => <span key={step} className="remedy">{` → ${step}`}</span>)}
            </dd>
          </>
        )}
      </dl>
      {proposal.action === 'key.backup' && proposal.state === 'executed' && <PrintCardsButton proposal={proposal} />}
      {proposal.action === 'key.restore' && proposal.state === 'open' && <ShareEntryForm proposal={proposal} />}
      {proposal.state === 'open' && (
        <form onSubmit={(e) => void submit(e)} aria-label={`Approve proposal ${proposal.shortFingerprint}`}>
          <label htmlFor={`fp-${proposal.id}`}>Fingerprint as read aloud to you</label>
          <input id={`fp-${proposal.id}`} type="text" value={fingerprint} onChange={(e) => setFingerprint(e.target.value)} autoComplete="off" spellCheck={false} />
          <FactorFields id={`approver-${proposal.id}`} label="Approver" proof={proof} onChange={setProof} choices={custodians.filter((c) => c.id !== proposal.requestedBy || proposal.holdersToConfirm.includes(c.id))} />
          <button type="submit" disabled={busy}>
            {busy ? 'Checking the factors; the operation runs once the quorum is met…' : proposal.holdersToConfirm.length > 0 ? 'Approve or confirm' : 'Approve'}
          </button>
        </form>
      )}
    </section>
  );
}

function PrintCardsButton({ proposal }: { proposal: ProposalView }) {
  const show = useCustos((s) => s.showCards);
  const setId = proposal.action === 'key.backup' && proposal.outcome?.status === 'ok' ? proposal.outcome.result.setId : undefined;
  if (!setId) return null;
  return (
    <button type="button" onClick={() => void show(setId)}>
      Print the share cards
    </button>
  );
}
