import { useState } from 'react';
import type { CustodianSummary } from '../../../shared/custodians';
import type { Proof } from '../store/quorum-slice';
import type { WireError } from '../../../shared/errors';
import { personProblem, type Problem } from './ErrorSummary';
import { FactorInputs } from './FactorFields';

const noApproval: Proof = { custodianId: '', passphrase: '', code: '' };

/**
 * The security officers approving a custodians request (an enrolment, a retirement): `count` chosen from `officers`,
 * each defaulting to the next one listed, then `self` (a leaving officer handing over) when given. `clearFactors`
 * empties every passphrase and code, for forms that officers type into in turn.
 */
export function useOfficerApprovals(count: number, officers: readonly CustodianSummary[], self?: CustodianSummary) {
  const [typed, setTyped] = useState([noApproval, noApproval, noApproval]);
  const approvers = [
    ...typed.slice(0, count).map((a, i) => ({ ...a, custodianId: a.custodianId || (officers[i]?.id ?? '') })),
    ...(self ? [{ ...typed[2]!, custodianId: self.id }] : []),
  ];
  const slotOf = (i: number) => (i >= count ? 2 : i);
  return {
    approvers,
    sameOfficer: count === 2 && approvers[0]!.custodianId === approvers[1]!.custodianId,
    change: (i: number, change: Partial<Proof>) =>
      setTyped(typed.map((a, j) => (j === slotOf(i) ? { ...a, ...change } : a))),
    clearFactors: () => setTyped(typed.map((a) => ({ ...a, passphrase: '', code: '' }))),
  };
}

/** The ids of the `i`th approving officer's fields, so that an error summary can link to them. */
export const officerFieldIds = (idPrefix: string, i: number) => ({
  who: `${idPrefix}-${i}`,
  passphrase: `${idPrefix}-${i}-passphrase`,
  code: `${idPrefix}-${i}-code`,
});

/**
 * Which approving officer's field a refusal from the core points at: the officer whose factors it names (the core says
 * whose), or the only one asked when it names nobody. A leaving officer's own slot has no picker to point at.
 */
export function approvalProblem(
  error: WireError,
  approvals: { approvers: readonly Proof[] },
  idPrefix: string,
  self?: CustodianSummary,
): Problem | null {
  const found = personProblem(error, approvals.approvers, (i) => officerFieldIds(idPrefix, i));
  if (!found) return null;
  const { problem, index } = found;
  return problem?.field === officerFieldIds(idPrefix, index).who && approvals.approvers[index]!.custodianId === self?.id
    ? null
    : problem;
}

/** What an approving officer has left out, before the core is asked: a refused try would cost them a code. */
export function missingApprovals(approvals: { approvers: readonly Proof[] }, idPrefix: string): Problem[] {
  return approvals.approvers.flatMap((a, i) => {
    const ids = officerFieldIds(idPrefix, i);
    return [
      ...(a.custodianId ? [] : [{ field: ids.who, text: 'Choose the approving security officer' }]),
      ...(a.passphrase ? [] : [{ field: ids.passphrase, text: 'Type the officer’s passphrase' }]),
      ...(/^\d{6}$/.test(a.code) ? [] : [{ field: ids.code, text: 'Type the 6-digit code the authenticator shows' }]),
    ];
  });
}

/** One fieldset per approving officer (whom, passphrase, code), and the alert when one officer is chosen twice. */
export function OfficerApprovalFields({
  idPrefix,
  approvals,
  officers,
  self,
}: {
  idPrefix: string;
  approvals: ReturnType<typeof useOfficerApprovals>;
  officers: readonly CustodianSummary[];
  self?: CustodianSummary;
}) {
  const chosen = approvals.approvers.filter((a) => a.custodianId !== self?.id).length;
  return (
    <>
      {approvals.approvers.map((approval, i) => {
        const handingOver = approval.custodianId === self?.id;
        const who = handingOver ? self : officers.find((o) => o.id === approval.custodianId);
        const { who: id } = officerFieldIds(idPrefix, i);
        return (
          <fieldset key={i}>
            <legend>
              {handingOver
                ? `${self!.name}, handing over`
                : chosen === 2
                  ? `Approving security officer ${i + 1} of 2`
                  : 'Approving security officer'}
            </legend>
            {!handingOver && (
              <>
                <label htmlFor={id}>Security officer</label>
                <select
                  id={id}
                  value={approval.custodianId}
                  onChange={(e) => approvals.change(i, { custodianId: e.target.value })}
                  aria-required
                >
                  {officers.map((o) => (
                    <option key={o.id} value={o.id}>
                      {o.name}
                    </option>
                  ))}
                </select>
              </>
            )}
            <FactorInputs
              id={id}
              labels={
                who
                  ? [`Approval: ${who.name}’s passphrase`, `Approval: ${who.name}’s code from the authenticator`]
                  : ['Approval: officer’s passphrase', 'Approval: officer’s code']
              }
              proof={approval}
              onChange={(change) => approvals.change(i, change)}
            />
          </fieldset>
        );
      })}
      {approvals.sameOfficer && (
        <p role="alert" className="bad">
          Choose two different security officers: one person counts once.
        </p>
      )}
    </>
  );
}
