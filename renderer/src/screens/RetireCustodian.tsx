import { useState, type FormEvent } from 'react';
import type { CustodianSummary } from '../../../shared/custodians';
import { ErrorSummary, type Problem } from '../app/ErrorSummary';
import { approvalProblem, missingApprovals, OfficerApprovalFields, useOfficerApprovals } from '../app/OfficerApprovals';
import { useCustos } from '../store/context';
import { useFocusOnOpen } from '../app/focus-on-open';

const ID_PREFIX = 'retire-approver';

/**
 * Who must approve retiring this person, as the core decides it: one security officer for a custodian or auditor
 * (never themselves); two other officers for an officer, or the only other one with the leaving officer (a handover).
 * Locked-out officers count, as they do for enrolments. Null: nobody can (the last serving officer).
 */
export function retirementApprovers(
  person: CustodianSummary,
  everyone: readonly CustodianSummary[],
): { others: number; leaving: boolean } | null {
  const serving = everyone.filter(
    (c) => c.roles.includes('security-officer') && c.retiredAt === null && c.id !== person.id,
  );
  if (!person.roles.includes('security-officer')) return { others: 1, leaving: false };
  if (serving.length === 0) return null;
  return serving.length === 1 ? { others: 1, leaving: true } : { others: 2, leaving: false };
}

/** What a Custodians form about one person (retire, unlock) is given. */
export interface PersonFormProps {
  person: CustodianSummary;
  everyone: readonly CustodianSummary[];
  /** After it did what it says (the screen's notice takes focus). */
  onDone: () => void;
  /** Closed unused (focus goes back to the button that opened it). */
  onClose: () => void;
}

/** Retiring someone who left: restates what it does, then takes the approving officers' factors. */
export function RetireForm({ person, everyone, onDone, onClose }: PersonFormProps) {
  const retire = useCustos((s) => s.retireCustodian);
  const busy = useCustos((s) => s.custodianBusy);
  const error = useCustos((s) => (s.custodianErrorAt === `retire:${person.id}` ? s.custodianError : null));
  const [problems, setProblems] = useState<Problem[]>([]);
  const need = retirementApprovers(person, everyone);
  const officers = everyone.filter(
    (c) => c.roles.includes('security-officer') && c.retiredAt === null && !c.locked && c.id !== person.id,
  );
  const heading = useFocusOnOpen();
  const approvals = useOfficerApprovals(need?.others ?? 0, officers, need?.leaving ? person : undefined);
  const { approvers, sameOfficer } = approvals;
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const missing = missingApprovals(approvals, ID_PREFIX);
    setProblems(missing);
    if (!need || sameOfficer || missing.length > 0) return;
    const ok = await retire(person.id, approvers);
    // Officers type in turn at the same console: their factors never stay in the form.
    approvals.clearFactors();
    if (ok) onDone();
  };
  return (
    <form className="card inset" aria-labelledby="retire-title" onSubmit={(e) => void submit(e)} noValidate>
      <ErrorSummary
        problems={problems}
        error={error}
        // A refusal of one officer's factors names them, and links to that officer's field.
        link={error && approvalProblem(error, approvals, ID_PREFIX, need?.leaving ? person : undefined)}
      />
      <h3 id="retire-title" tabIndex={-1} ref={heading}>
        Retire {person.name}
      </h3>
      <p>Retire someone who has left the organisation. Once {person.name} is retired:</p>
      <ul>
        <li>their passphrase and codes approve nothing, anywhere, from then on;</li>
        <li>their name stays in the records and the audit log, and no one else can be enrolled under it;</li>
        <li>this cannot be undone. If they come back, enrol them again under a different name.</li>
      </ul>
      <p className="muted">
        Custos refuses while they still hold a share of a token, a card of a backup set, or take part in an open
        proposal or a ceremony run in progress: change the holders (turnover), retire the backup set, or finish or abort
        the run first.
      </p>
      {need === null ? (
        <p role="alert" className="bad">
          {person.name} is the last security officer. Enrol another security officer first, then retire this one.
        </p>
      ) : (
        <p>
          {need.leaving
            ? `${person.name} hands over: the other security officer and ${person.name} each give both factors.`
            : need.others === 2
              ? 'Two other security officers approve, each with their passphrase and code.'
              : `A security officer approves with their passphrase and code (${person.name} cannot approve this).`}
        </p>
      )}
      {need !== null && officers.length < need.others && (
        <p role="alert" className="bad">
          Not enough security officers can approve: one is locked out. Another security officer unlocks them first.
        </p>
      )}
      <OfficerApprovalFields
        idPrefix={ID_PREFIX}
        approvals={approvals}
        officers={officers}
        {...(need?.leaving ? { self: person } : {})}
      />
      <div className="actions">
        <button type="submit" disabled={busy || need === null || sameOfficer}>
          {busy ? 'Checking…' : `Retire ${person.name}`}
        </button>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </form>
  );
}
