import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { CustodianSummary } from '../../../shared/custodians';
import { useCustos } from '../store/context';

const noFactors = { custodianId: '', passphrase: '', code: '' };

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

/** Retiring someone who left: restates what it does, then takes the approving officers' factors. */
export function RetireForm({
  person,
  everyone,
  onDone,
}: {
  person: CustodianSummary;
  everyone: readonly CustodianSummary[];
  onDone: () => void;
}) {
  const retire = useCustos((s) => s.retireCustodian);
  const busy = useCustos((s) => s.custodianBusy);
  const need = retirementApprovers(person, everyone);
  const officers = everyone.filter(
    (c) => c.roles.includes('security-officer') && c.retiredAt === null && !c.locked && c.id !== person.id,
  );
  const [approvals, setApprovals] = useState([noFactors, noFactors, noFactors]);
  // The form opens below the list: a keyboard or screen-reader user lands on what it is about to do.
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const approvers = [
    ...approvals
      .slice(0, need?.others ?? 0)
      .map((a, i) => ({ ...a, custodianId: a.custodianId || (officers[i]?.id ?? '') })),
    ...(need?.leaving ? [{ ...approvals[2]!, custodianId: person.id }] : []),
  ];
  const sameOfficer = need?.others === 2 && approvers[0]!.custodianId === approvers[1]!.custodianId;
  const complete = approvers.every((a) => a.custodianId && a.passphrase && /^\d{6}$/.test(a.code));
  const setApproval = (i: number, change: Partial<typeof noFactors>) =>
    setApprovals(approvals.map((a, j) => (j === i ? { ...a, ...change } : a)));
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!need || sameOfficer || !complete) return;
    const ok = await retire(person.id, approvers);
    // Officers type in turn at the same console: their factors never stay in the form.
    setApprovals(approvals.map((a) => ({ ...a, passphrase: '', code: '' })));
    if (ok) onDone();
  };
  return (
    <form className="card inset" aria-labelledby="retire-title" onSubmit={(e) => void submit(e)}>
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
        proposal: change the holders (turnover) or retire the backup set first.
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
      {approvers.map((approval, i) => {
        const leaving = approval.custodianId === person.id;
        const slot = leaving ? 2 : i;
        const who = leaving ? person : officers.find((o) => o.id === approval.custodianId);
        return (
          <fieldset key={slot}>
            <legend>
              {leaving
                ? `${person.name}, handing over`
                : need?.others === 2
                  ? `Approving security officer ${i + 1} of 2`
                  : 'Approving security officer'}
            </legend>
            {!leaving && (
              <>
                <label htmlFor={`retire-approver-${slot}`}>Security officer</label>
                <select
                  id={`retire-approver-${slot}`}
                  value={approval.custodianId}
                  onChange={(e) => setApproval(slot, { custodianId: e.target.value })}
                >
                  {officers.map((o) => (
                    <option key={o.id} value={o.id}>
                      {o.name}
                    </option>
                  ))}
                </select>
              </>
            )}
            <label htmlFor={`retire-approver-${slot}-passphrase`}>
              {who ? `${who.name}’s passphrase` : 'Passphrase'}
            </label>
            <input
              id={`retire-approver-${slot}-passphrase`}
              type="password"
              value={approval.passphrase}
              onChange={(e) => setApproval(slot, { passphrase: e.target.value })}
              autoComplete="off"
              required
            />
            <label htmlFor={`retire-approver-${slot}-code`}>
              {who ? `${who.name}’s code from the authenticator` : 'Code from the authenticator'}
            </label>
            <input
              id={`retire-approver-${slot}-code`}
              type="text"
              inputMode="numeric"
              maxLength={6}
              value={approval.code}
              onChange={(e) => setApproval(slot, { code: e.target.value.replace(/\D/g, '') })}
              autoComplete="one-time-code"
              required
            />
          </fieldset>
        );
      })}
      {sameOfficer && (
        <p role="alert" className="bad">
          Choose two different security officers: one person counts once.
        </p>
      )}
      <div className="actions">
        <button type="submit" disabled={busy || need === null || sameOfficer || !complete}>
          {busy ? 'Checking…' : `Retire ${person.name}`}
        </button>
        <button type="button" onClick={onDone}>
          Close
        </button>
      </div>
    </form>
  );
}
