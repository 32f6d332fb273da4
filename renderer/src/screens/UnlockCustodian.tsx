import { useState, type FormEvent } from 'react';
import type { CustodianSummary } from '../../../shared/custodians';
import { ErrorSummary, type Problem } from '../app/ErrorSummary';
import { approvalProblem, missingApprovals, OfficerApprovalFields, useOfficerApprovals } from '../app/OfficerApprovals';
import { useCustos } from '../store/context';
import { useFocusOnOpen } from '../app/focus-on-open';
import type { PersonFormProps } from './RetireCustodian';

const ID_PREFIX = 'unlock-approver';

/**
 * Who the core lets lift `person`'s lockout: a serving security officer other than them, free of a lockout. Only
 * when every such officer is locked out too are they offered: the next to prove their factors is let in (quorum.md).
 */
export function unlockingOfficers(person: CustodianSummary, everyone: readonly CustodianSummary[]): CustodianSummary[] {
  const others = everyone.filter(
    (c) => c.roles.includes('security-officer') && c.retiredAt === null && c.id !== person.id,
  );
  const free = others.filter((c) => !c.locked);
  return free.length > 0 ? free : others;
}

/** A security officer lifts a locked-out custodian's lockout with their passphrase and code. */
export function UnlockForm({ person, everyone, onDone, onClose }: PersonFormProps) {
  const unlock = useCustos((s) => s.unlockCustodian);
  const busy = useCustos((s) => s.custodianBusy);
  const error = useCustos((s) => (s.custodianErrorAt === `unlock:${person.id}` ? s.custodianError : null));
  const officers = unlockingOfficers(person, everyone);
  const approvals = useOfficerApprovals(1, officers);
  const [problems, setProblems] = useState<Problem[]>([]);
  const heading = useFocusOnOpen();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const missing = missingApprovals(approvals, ID_PREFIX);
    setProblems(missing);
    if (missing.length > 0 || officers.length === 0) return;
    const ok = await unlock(person.id, approvals.approvers[0]!);
    // Officers take turns at the same console: their factors never stay in the form.
    approvals.clearFactors();
    if (ok) onDone();
  };
  return (
    <form className="card inset" aria-labelledby="unlock-title" onSubmit={(e) => void submit(e)} noValidate>
      <ErrorSummary problems={problems} error={error} link={error && approvalProblem(error, approvals, ID_PREFIX)} />
      <h3 id="unlock-title" tabIndex={-1} ref={heading}>
        Unlock {person.name}
      </h3>
      <p>
        {person.name} is locked out after repeated failed attempts. A security officer unlocks them with their own
        passphrase and code (nobody unlocks themselves); {person.name}’s failed attempts then count from zero.
      </p>
      <p className="muted">
        Anyone at the console can cause a lockout by typing wrong factors under a name, and each try is in the audit
        log: ask {person.name} whether the attempts were theirs.
      </p>
      {officers.length === 0 ? (
        <p role="alert" className="bad">
          No other security officer is serving, so nobody can unlock {person.name} here. Enrol another security officer
          first.
        </p>
      ) : (
        <OfficerApprovalFields idPrefix={ID_PREFIX} approvals={approvals} officers={officers} />
      )}
      <div className="actions">
        <button type="submit" disabled={busy || officers.length === 0}>
          {busy ? 'Checking…' : `Unlock ${person.name}`}
        </button>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </form>
  );
}
