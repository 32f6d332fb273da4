import { renderToStaticMarkup } from 'react-dom/server';
import { expect, it } from 'vitest';
import type { CustodianSummary } from '../../../shared/custodians';
import type { WireError } from '../../../shared/errors';
import { StoreProvider } from '../store/context';
import { storeWith } from '../store/test-store';
import { CheckFactorsForm } from './CustodiansScreen';

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
