import { renderToStaticMarkup } from 'react-dom/server';
import { expect, it } from 'vitest';
import type { CustodianSummary, Role } from '../../../shared/custodians';
import { emptyProof, FactorFields } from '../app/FactorFields';
import { missingApprovals, OfficerApprovalFields, useOfficerApprovals } from '../app/OfficerApprovals';
import type { WireError } from '../../../shared/errors';
import { StoreProvider } from '../store/context';
import { storeWith } from '../store/test-store';
import { RetireForm, retirementApprovers } from './RetireCustodian';

const person = (id: string, roles: Role[], more: Partial<CustodianSummary> = {}): CustodianSummary => ({
  id,
  name: id,
  roles,
  enrolledAt: '2026-01-01T00:00:00.000Z',
  locked: false,
  failures: 0,
  throttledUntil: null,
  retiredAt: null,
  ...more,
});

it('asks the approvers the core will ask for: one officer, two others, a handover, or nobody for the last', () => {
  const ada = person('ada', ['custodian']);
  const olga = person('olga', ['security-officer']);
  const pat = person('pat', ['security-officer'], { locked: true });
  const gone = person('gone', ['security-officer'], { retiredAt: '2026-02-01T00:00:00.000Z' });
  expect(retirementApprovers(ada, [ada, olga])).toEqual({ others: 1, leaving: false });
  // A locked-out officer counts, as in the core; a retired one does not.
  expect(retirementApprovers(olga, [ada, olga, pat, gone])).toEqual({ others: 1, leaving: true });
  expect(retirementApprovers(olga, [olga, pat, person('quinn', ['security-officer'])])).toEqual({
    others: 2,
    leaving: false,
  });
  expect(retirementApprovers(olga, [ada, olga, gone])).toBeNull();
});

it('offers nobody retired in a picker of who proves their factors', () => {
  const choices = [
    person('ada', ['custodian']),
    person('bo', ['custodian'], { retiredAt: '2026-02-01T00:00:00.000Z' }),
  ];
  const html = renderToStaticMarkup(
    <FactorFields id="t" label="Approver" proof={emptyProof()} onChange={() => {}} choices={choices} />,
  );
  expect(html).toContain('>ada</option>');
  expect(html).not.toContain('bo</option>');
});

it('asks each approving officer the same way in every custodians form: whom, then their passphrase and code', () => {
  const olga = person('Olga', ['security-officer']);
  const pat = person('Pat', ['security-officer']);
  function Approvals({ count, self }: { count: number; self?: CustodianSummary }) {
    const approvals = useOfficerApprovals(count, [olga, pat], self);
    return (
      <OfficerApprovalFields idPrefix="t" approvals={approvals} officers={[olga, pat]} {...(self ? { self } : {})} />
    );
  }
  const two = renderToStaticMarkup(<Approvals count={2} />);
  expect(two).toContain('<legend>Approving security officer 2 of 2</legend>');
  expect(two).toContain('<label for="t-1-passphrase">Approval: Pat’s passphrase</label>');
  expect(two).toContain('<label for="t-0-code">Approval: Olga’s code from the authenticator</label>');
  // A handover: the leaving officer gives their own factors, chosen by nobody.
  const handover = renderToStaticMarkup(<Approvals count={1} self={pat} />);
  expect(handover).toContain('<legend>Pat, handing over</legend>');
  expect(handover).not.toContain('id="t-1"');
  expect(handover).toContain('<label for="t-1-passphrase">Approval: Pat’s passphrase</label>');
});

it('links each thing an approving officer left out to that officer’s own field, before the core is asked', () => {
  const approvers = [
    { custodianId: 'olga', passphrase: 'typed', code: '12345' },
    { custodianId: '', passphrase: '', code: '123456' },
  ];
  expect(missingApprovals({ approvers }, 't')).toEqual([
    { field: 't-0-code', text: 'Type the 6-digit code the authenticator shows' },
    { field: 't-1', text: 'Choose the approving security officer' },
    { field: 't-1-passphrase', text: 'Type the officer’s passphrase' },
  ]);
  expect(missingApprovals({ approvers: [{ custodianId: 'olga', passphrase: 'p', code: '123456' }] }, 't')).toEqual([]);
});

it('shows a refused retirement in its form, linked to the one officer’s field, and lets Enter say what is missing', () => {
  const ada = person('Ada', ['custodian']);
  const olga = person('Olga', ['security-officer']);
  const error: WireError = { code: 'PASSPHRASE_INCORRECT', message: 'Wrong.', remedy: [] };
  const form = (at: 'retire:Ada' | 'unlock:Ada') =>
    renderToStaticMarkup(
      <StoreProvider store={storeWith({ custodianBusy: false, custodianError: error, custodianErrorAt: at })}>
        <RetireForm person={ada} everyone={[ada, olga]} onDone={() => {}} onClose={() => {}} />
      </StoreProvider>,
    );
  expect(form('retire:Ada')).toContain('<a href="#retire-approver-0-passphrase">Type the passphrase again</a>');
  expect(form('unlock:Ada')).not.toContain('PASSPHRASE_INCORRECT');
  // Nothing typed yet, and the button still takes Enter: the summary says what is missing.
  expect(form('unlock:Ada')).toMatch(/<button type="submit">Retire Ada<\/button>/);
});

it('links a refusal to the officer whose factors the core refused, when two officers approve', () => {
  const olga = person('Olga', ['security-officer']);
  const pat = person('Pat', ['security-officer']);
  const quinn = person('Quinn', ['security-officer']);
  const form = (error: WireError) =>
    renderToStaticMarkup(
      <StoreProvider store={storeWith({ custodianBusy: false, custodianError: error, custodianErrorAt: 'retire:Pat' })}>
        <RetireForm person={pat} everyone={[olga, pat, quinn]} onDone={() => {}} onClose={() => {}} />
      </StoreProvider>,
    );
  // Olga is asked first, Quinn second: a refusal of Quinn's code points at the second officer's code.
  const quinns = form({ code: 'TOTP_INCORRECT', message: 'Quinn’s code is wrong.', remedy: [], custodianId: 'Quinn' });
  expect(quinns).toContain('<a href="#retire-approver-1-code">Type the code the authenticator shows now</a>');
  const olgas = form({ code: 'PASSPHRASE_INCORRECT', message: 'Wrong.', remedy: [], custodianId: 'Olga' });
  expect(olgas).toContain('<a href="#retire-approver-0-passphrase">Type the passphrase again</a>');
  // A refusal about nobody's factors in particular links to no officer's field.
  expect(form({ code: 'NOT_AUTHORIZED', message: 'No.', remedy: [] })).not.toContain('href="#retire-approver');
});

it('points a refusal of a leaving officer’s own factors at their passphrase, never at a picker they do not have', () => {
  const olga = person('Olga', ['security-officer']);
  const pat = person('Pat', ['security-officer']);
  const form = (error: WireError) =>
    renderToStaticMarkup(
      <StoreProvider store={storeWith({ custodianBusy: false, custodianError: error, custodianErrorAt: 'retire:Pat' })}>
        <RetireForm person={pat} everyone={[olga, pat]} onDone={() => {}} onClose={() => {}} />
      </StoreProvider>,
    );
  const wrong = form({ code: 'PASSPHRASE_INCORRECT', message: 'Wrong.', remedy: [], custodianId: 'Pat' });
  expect(wrong).toContain('<a href="#retire-approver-1-passphrase">Type the passphrase again</a>');
  expect(form({ code: 'CUSTODIAN_LOCKED', message: 'Locked.', remedy: [], custodianId: 'Pat' })).not.toContain(
    'href="#retire-approver-1"',
  );
});
