import { useState, type FormEvent } from 'react';
import type { BackupSummary } from '../../../shared/backups';
import type { ProposalView } from '../../../shared/quorum';
import { ErrorSummary, factorIds, factorProblem, missingFactors, type Problem } from '../app/ErrorSummary';
import { emptyProof, FactorFields } from '../app/FactorFields';
import { NextStep } from '../app/NextStep';
import { useCustos } from '../store/context';
import { CARD_DESTROYED_FORM, RETIRE_FORM } from '../store/quorum-slice';
import { PAGE_TITLE_ID } from '../app/SubPage';

/** Where a backup set stands: live (restorable), a retirement waiting for its quorum, or retired for good. */
export type BackupState =
  | { kind: 'live' }
  | { kind: 'retirement-proposed'; proposal: ProposalView }
  | { kind: 'retired'; retirement: NonNullable<BackupSummary['retirement']> };

export function backupState(backup: BackupSummary, proposals: readonly ProposalView[]): BackupState {
  if (backup.retirement) return { kind: 'retired', retirement: backup.retirement };
  const proposal = proposals.find(
    (p) => p.state === 'open' && p.action === 'backup.retire' && p.params.setId === backup.setId,
  );
  return proposal ? { kind: 'retirement-proposed', proposal } : { kind: 'live' };
}

/** A set as people pick it from a list: when, from which token, what it holds, who has its cards. */
export const backupChoice = (b: BackupSummary) =>
  `${b.createdAt.slice(0, 16).replace('T', ' ')} from ${b.token.label}: ${b.keys.map((k) => k.label).join(', ')} ` +
  `(cards with ${b.holders.map((h) => h.name).join(', ')})`;

/** The state column of the Backups list: a chip, then what it means and who must act. */
export function BackupStateCell({ state, threshold }: { state: BackupState; threshold: number }) {
  if (state.kind === 'live')
    return (
      <>
        <span className="chip chip-executed">Live</span>
        <p>Any {threshold} of its cards restore it.</p>
      </>
    );
  if (state.kind === 'retirement-proposed')
    return (
      <>
        <span className="chip chip-open">Retirement proposed</span>
        <p>
          Waiting for approval on the Approvals screen (fingerprint <code>{state.proposal.shortFingerprint}</code>).
          Until then it can still be restored.
        </p>
      </>
    );
  const { retirement } = state;
  const recorded = retirement.cards.filter((c) => c.destroyedAt).length;
  return (
    <>
      <span className="chip chip-cancelled">Retired</span> {retirement.retiredAt.slice(0, 10)}
      {retirement.status === 'tampered' ? (
        <p className="warnings" role="note">
          It cannot be restored, but {retirement.reason}.
        </p>
      ) : (
        <p>
          “{retirement.reason}”. It can never be restored. Cards recorded as destroyed: {recorded} of{' '}
          {retirement.cards.length}.
        </p>
      )}
      <ul className="card-fates">
        {retirement.cards.map((c) => (
          <li key={c.index}>
            {c.name}:{' '}
            {c.destroyedAt ? `destroyed ${c.destroyedAt.slice(0, 10)}` : <strong>not yet recorded as destroyed</strong>}
          </li>
        ))}
      </ul>
    </>
  );
}

/**
 * Retiring a set, step one: a custodian proposes it with a reason; the quorum of a token in custody approves it on
 * Approvals. Nothing changes before then.
 */
export function RetireForm() {
  const backups = useCustos((s) => s.backups) ?? [];
  const proposals = useCustos((s) => s.proposals) ?? [];
  const custodies = (useCustos((s) => s.custodies) ?? []).filter((c) => c.state === 'active');
  const custodians = useCustos((s) => s.custodians) ?? [];
  const propose = useCustos((s) => s.proposeRetire);
  const busy = useCustos((s) => s.quorumBusy);
  const error = useCustos((s) => (s.quorumErrorAt === RETIRE_FORM ? s.quorumError : null));
  const [setId, setSetId] = useState('');
  const [custodyId, setCustodyId] = useState('');
  const [reason, setReason] = useState('');
  const [proof, setProof] = useState(emptyProof());
  const [problems, setProblems] = useState<Problem[]>([]);
  const live = backups.filter((b) => backupState(b, proposals).kind === 'live');
  const backup = live.find((b) => b.setId === setId) ?? live[0];
  if (!backup || custodies.length === 0) return null;
  // The quorum of the set's own token decides by default; any token in custody may.
  const custody =
    custodies.find((c) => c.id === custodyId) ??
    custodies.find((c) => c.token.serial === backup.token.serial && c.token.label === backup.token.label) ??
    custodies[0]!;
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const missing = [
      ...(reason.trim() === ''
        ? [{ field: 'retire-reason', text: 'Say why the set is retired' }]
        : reason.trim().length > 200
          ? [{ field: 'retire-reason', text: 'Say why in at most 200 characters' }]
          : []),
      ...missingFactors(proof, 'retire-requester', 'proposes it'),
    ];
    setProblems(missing);
    if (missing.length > 0) return;
    const ok = await propose(custody.id, backup.setId, reason.trim(), proof);
    setProof(ok ? emptyProof() : { ...proof, passphrase: '', code: '' });
    if (ok) {
      setReason('');
      setSetId('');
    }
  };
  const fromCore =
    error?.code === 'PROPOSAL_INVALID' || error?.code === 'IPC_INVALID_PAYLOAD'
      ? { field: 'retire-reason', text: 'Say why on one line, in at most 200 characters' }
      : error
        ? factorProblem(error.code, factorIds('retire-requester'))
        : null;
  return (
    <form className="card" aria-labelledby={PAGE_TITLE_ID} onSubmit={(e) => void submit(e)} noValidate>
      <ErrorSummary problems={problems} error={error} link={fromCore} />
      <p>
        A retired set can <strong>never be restored again</strong>, by anyone. Retire a set when its keys are destroyed
        or replaced, or when too many of its cards are lost or exposed. Nothing changes until the quorum approves on the
        Approvals screen; then each card holder destroys their card and records it (Ceremonies › Record that a card is
        destroyed).
      </p>
      <label htmlFor="retire-set">Backup set to retire</label>
      <select
        id="retire-set"
        value={backup.setId}
        onChange={(e) => {
          setSetId(e.target.value);
          setCustodyId('');
        }}
      >
        {live.map((b) => (
          <option key={b.setId} value={b.setId}>
            {backupChoice(b)}
          </option>
        ))}
      </select>
      <label htmlFor="retire-custody">Approved by the holders of</label>
      <select id="retire-custody" value={custody.id} onChange={(e) => setCustodyId(e.target.value)}>
        {custodies.map((c) => (
          <option key={c.id} value={c.id}>
            {c.token.label} ({c.threshold} of {c.holders.length}: {c.holders.map((h) => h.name).join(', ')})
          </option>
        ))}
      </select>
      <label htmlFor="retire-reason">Why retire it</label>
      <input
        id="retire-reason"
        type="text"
        value={reason}
        onChange={(e) => setReason(e.target.value)}
        autoComplete="off"
        aria-describedby="retire-reason-hint"
      />
      <p id="retire-reason-hint" className="hint">
        For example “its keys are being destroyed”. One line, at most 200 characters: the approvers read it, and it is
        kept in the signed record and the reports.
      </p>
      <FactorFields
        id="retire-requester"
        label="Proposed by"
        proof={proof}
        onChange={setProof}
        choices={custodians.filter((c) => c.roles.some((r) => r !== 'auditor'))}
      />
      <button type="submit" disabled={busy}>
        Propose retiring this set
      </button>
    </form>
  );
}

/**
 * Retiring a set, last step: each holder destroys their card and records it with both factors. The form serves one
 * holder at a time and is cleared after each.
 */
export function CardDestroyedForm() {
  const backups = useCustos((s) => s.backups) ?? [];
  const custodians = useCustos((s) => s.custodians) ?? [];
  const record = useCustos((s) => s.recordCardDestroyed);
  const busy = useCustos((s) => s.quorumBusy);
  const error = useCustos((s) => (s.quorumErrorAt === CARD_DESTROYED_FORM ? s.quorumError : null));
  const [setId, setSetId] = useState('');
  const [proof, setProof] = useState(emptyProof());
  const [destroyed, setDestroyed] = useState(false);
  const [problems, setProblems] = useState<Problem[]>([]);
  const waiting = backups.filter((b) => b.retirement?.cards.some((c) => !c.destroyedAt));
  const backup = waiting.find((b) => b.setId === setId) ?? waiting[0];
  if (!backup?.retirement) return null;
  const pending = backup.retirement.cards.filter((c) => !c.destroyedAt);
  const holders = custodians.filter((c) => pending.some((p) => p.id === c.id));
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const missing = [
      ...missingFactors(proof, 'destroyed-holder', 'destroyed the card'),
      ...(destroyed ? [] : [{ field: 'destroyed-confirm', text: 'Confirm that your card is destroyed' }]),
    ];
    setProblems(missing);
    if (missing.length > 0) return;
    const ok = await record(backup.setId, proof);
    // The next holder starts from an empty form.
    setProof(ok ? emptyProof() : { ...proof, passphrase: '', code: '' });
    setDestroyed(false);
  };
  const fromCore = error ? factorProblem(error.code, factorIds('destroyed-holder')) : null;
  return (
    <form className="card" aria-labelledby={PAGE_TITLE_ID} onSubmit={(e) => void submit(e)} noValidate>
      <ErrorSummary problems={problems} error={error} link={fromCore} />
      <p>
        This set is retired. Each card holder destroys their card — shred or burn the paper, and delete any copy or
        photo of it — then records it here with their passphrase and code. Each person records only their own card.
      </p>
      <label htmlFor="destroyed-set">Retired backup set</label>
      <select id="destroyed-set" value={backup.setId} onChange={(e) => setSetId(e.target.value)}>
        {waiting.map((b) => (
          <option key={b.setId} value={b.setId}>
            {backupChoice(b)}
          </option>
        ))}
      </select>
      <p>Still to record their card: {pending.map((c) => c.name).join(', ')}.</p>
      <FactorFields id="destroyed-holder" label="Card holder" proof={proof} onChange={setProof} choices={holders} />
      <p>
        <label className="checkbox">
          <input
            id="destroyed-confirm"
            type="checkbox"
            checked={destroyed}
            onChange={(e) => setDestroyed(e.target.checked)}
          />{' '}
          I have destroyed my card of this set, and no copy of it is left
        </label>
      </p>
      <button type="submit" disabled={busy}>
        Record my card as destroyed
      </button>
    </form>
  );
}

/** On a retirement the quorum carried out: who still has to destroy their card, and where to record it. */
export function CardsToDestroy({ setId }: { setId: string }) {
  const pending = (useCustos((s) => s.backups) ?? [])
    .find((b) => b.setId === setId)
    ?.retirement?.cards.filter((c) => !c.destroyedAt);
  if (!pending?.length) return null;
  return (
    <NextStep screen="ceremonies" page="card-destroyed" action="Go to Ceremonies">
      Next, each card holder destroys their card and records it on the Ceremonies screen. Still to record their card:{' '}
      {pending.map((c) => c.name).join(', ')}.
    </NextStep>
  );
}
