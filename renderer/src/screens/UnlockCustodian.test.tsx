import { renderToStaticMarkup } from 'react-dom/server';
import { expect, it } from 'vitest';
import type { CustodianSummary, Role } from '../../../shared/custodians';
import type { WireError } from '../../../shared/errors';
import type { CustodianForm } from '../store/custodians-slice';
import { StoreProvider } from '../store/context';
import { storeWith } from '../store/test-store';
import { UnlockForm, unlockingOfficers } from './UnlockCustodian';

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

const ada = person('Ada', ['custodian'], { locked: true, failures: 10 });
const olga = person('Olga', ['security-officer']);
const pat = person('Pat', ['security-officer']);

/** The form as the screen shows it, with the custodians part of the store in the state given. */
function unlockForm(
  everyone: CustodianSummary[],
  state: { error?: WireError; at?: CustodianForm | null } = {},
  locked = ada,
) {
  const store = storeWith({
    custodianBusy: false,
    custodianError: state.error ?? null,
    custodianErrorAt: state.at ?? null,
  });
  return renderToStaticMarkup(
    <StoreProvider store={store}>
      <UnlockForm person={locked} everyone={everyone} onDone={() => {}} onClose={() => {}} />
    </StoreProvider>,
  );
}

it('offers as unlocking officers the serving officers free of a lockout, never the person, nor anyone retired', () => {
  const locked = person('Lee', ['security-officer'], { locked: true });
  const gone = person('Gone', ['security-officer'], { retiredAt: '2026-02-01T00:00:00.000Z' });
  expect(unlockingOfficers(ada, [ada, olga, locked, gone, person('Cy', ['custodian'])])).toEqual([olga]);
  expect(unlockingOfficers(olga, [ada, olga, pat])).toEqual([pat]);
  // Every other officer locked out as well: the core lets the next one who proves their factors in.
  expect(unlockingOfficers(ada, [ada, locked, gone])).toEqual([locked]);
  expect(unlockingOfficers(olga, [olga, gone])).toEqual([]);
});

it('asks the unlocking officer with the controls of every officer approval: whom, then their passphrase and code', () => {
  const html = unlockForm([ada, olga, pat]);
  expect(html).toContain('<legend>Approving security officer</legend>');
  expect(html).toContain('<label for="unlock-approver-0">Security officer</label>');
  expect(html).toMatch(/<option value="Olga" selected="">Olga<\/option><option value="Pat">Pat<\/option><\/select>/);
  expect(html).toContain('<label for="unlock-approver-0-passphrase">Approval: Olga’s passphrase</label>');
  expect(html).toContain('<label for="unlock-approver-0-code">Approval: Olga’s code from the authenticator</label>');
  expect(html).not.toMatch(/id="(officer|factor-passphrase|factor-code)"/);
  // Enter always submits: what is missing is said in the summary, never by a button that silently stays disabled.
  expect(html).toContain('noValidate=""');
  expect(html).toMatch(/<button type="submit">Unlock Ada<\/button>/);
});

it('shows a refusal of this unlock in the form, linked to the field that fixes it, and no other form’s refusal', () => {
  const error: WireError = { code: 'TOTP_INCORRECT', message: 'That code is not the one.', remedy: ['Type it again.'] };
  const here = unlockForm([ada, olga], { error, at: 'unlock:Ada' });
  expect(here).toContain('role="alert"');
  expect(here).toContain('<code class="error-code">TOTP_INCORRECT</code>');
  expect(here).toContain('<a href="#unlock-approver-0-code">Type the code the authenticator shows now</a>');
  expect(unlockForm([ada, olga], { error, at: 'check:Ada' })).not.toContain('TOTP_INCORRECT');
  expect(unlockForm([ada, olga], { error, at: null })).not.toContain('TOTP_INCORRECT');
});

it('says when nobody can unlock, instead of offering an empty choice', () => {
  const lone = person('Lone', ['security-officer'], { locked: true });
  const html = unlockForm([lone, ada], {}, lone);
  expect(html).toContain('No other security officer is serving, so nobody can unlock Lone here.');
  expect(html).not.toContain('<select');
  expect(html).toMatch(/<button type="submit" disabled="">Unlock Lone<\/button>/);
});
