import { renderToStaticMarkup } from 'react-dom/server';
import { expect, it } from 'vitest';
import type { CustodianSummary } from '../../../shared/custodians';
import type { WireError } from '../../../shared/errors';
import { StoreProvider } from '../store/context';
import { storeWith } from '../store/test-store';
import { CheckFactorsForm, EnrolForm, enrolmentProblems } from './CustodiansScreen';

const olga: CustodianSummary = {
  id: 'Olga',
  name: 'Olga',
  roles: ['security-officer'],
  enrolledAt: '2026-01-01T00:00:00.000Z',
  locked: false,
  failures: 0,
  throttledUntil: null,
  retiredAt: null,
};

it('asks a custodian checking their factors through the shared inputs, and keeps its refusal in its form', () => {
  const error: WireError = { code: 'CUSTODIAN_LOCKED', message: 'Locked out.', remedy: ['Ask an officer.'] };
  const html = renderToStaticMarkup(
    <StoreProvider store={storeWith({ custodianBusy: false, custodianError: error, custodianErrorAt: 'check:Olga' })}>
      <CheckFactorsForm custodian={olga} onDone={() => {}} onClose={() => {}} />
    </StoreProvider>,
  );
  expect(html).toContain('<label for="check-passphrase">Olga’s passphrase</label>');
  expect(html).toContain('<label for="check-code">Olga’s code from the authenticator</label>');
  expect(html).toContain('<code class="error-code">CUSTODIAN_LOCKED</code>');
  // Nobody is chosen in this form: no link to a picker that is not there.
  expect(html).not.toContain('href="#check-who"');
});

const enrolForm = (state: Parameters<typeof storeWith>[0]) =>
  renderToStaticMarkup(
    <StoreProvider store={storeWith({ custodianBusy: false, custodianError: null, custodianErrorAt: null, ...state })}>
      <EnrolForm />
    </StoreProvider>,
  );

it('enrols without the browser’s pop-ups or a disabled button: Enter submits and the form says what is missing', () => {
  const html = enrolForm({ custodians: [{ ...olga, locked: true }] });
  // The factor fields say they are needed to assistive technology only (aria-required): no browser pop-up, even in a
  // form that forgot novalidate.
  expect(html).toMatch(/<form [^>]*novalidate/i);
  expect(html).not.toMatch(/\srequired=""/);
  expect(html).toMatch(/id="approver-0-passphrase"[^>]*aria-required="true"/);
  expect(html).toMatch(/id="approver-0"[^>]*aria-required="true"/);
  expect(html).not.toMatch(/<button type="submit"[^>]*disabled/);
  const approvals = { approvers: [{ custodianId: '', passphrase: '', code: '' }], sameOfficer: false };
  const blank = { name: ' ', roles: [], passphrase: '', again: '', approvals, noOfficer: null };
  expect(enrolmentProblems(blank).map((p) => p.field)).toEqual([
    'enrol-name',
    'enrol-role-custodian',
    'enrol-passphrase',
    'approver-0',
    'approver-0-passphrase',
    'approver-0-code',
  ]);
  const filled = { ...blank, name: 'Ada', roles: ['custodian' as const], passphrase: 'a b c', again: 'a b' };
  expect(enrolmentProblems({ ...filled, noOfficer: 'Every security officer is locked out.' })).toEqual([
    { field: 'enrol-passphrase-again', text: 'Type the same passphrase again' },
    { field: 'enrol-no-officer', text: 'Every security officer is locked out.' },
  ]);
});

it('keeps the core’s refusal of an enrolment in its form, linked to the field that fixes it', () => {
  const error: WireError = { code: 'PASSPHRASE_WEAK', message: 'That passphrase is too easy to guess.', remedy: [] };
  const html = enrolForm({ custodians: [], custodianError: error, custodianErrorAt: 'enrol' });
  expect(html).toContain('<code class="error-code">PASSPHRASE_WEAK</code>');
  expect(html).toContain('<a href="#enrol-passphrase">Choose a harder passphrase</a>');
  expect(enrolForm({ custodians: [], custodianError: error, custodianErrorAt: null })).not.toContain('PASSPHRASE_WEAK');
});
