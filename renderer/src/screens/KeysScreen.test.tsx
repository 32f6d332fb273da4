import { renderToStaticMarkup } from 'react-dom/server';
import { expect, it } from 'vitest';
import type { KeyRecord } from '../../../shared/keys';
import { KeyStateCell } from './KeysScreen';

const key = (more: Partial<KeyRecord>): KeyRecord => ({
  id: '0'.repeat(32),
  label: 'payments-2026',
  algorithm: 'EC-P256',
  usage: 'sign',
  backupable: false,
  state: 'active',
  token: { serial: '1', label: 'ca' },
  createdAt: '2026-01-01T00:00:00.000Z',
  expiresAt: '2026-01-02T00:00:00.000Z',
  fingerprint: 'ab'.repeat(32),
  kcv: null,
  policy: { status: 'acceptable', notes: [] },
  destructionNotBefore: null,
  compromiseReason: null,
  family: '0'.repeat(32),
  version: 1,
  previous: null,
  rotatedTo: null,
  rotateBy: '2026-01-02T00:00:00.000Z',
  usagePeriodEnded: false,
  postOperational: null,
  partlyDestroyed: null,
  ...more,
});
const cell = (k: KeyRecord) =>
  renderToStaticMarkup(
    <table>
      <tbody>
        <tr>
          <KeyStateCell keyRecord={k} />
        </tr>
      </tbody>
    </table>,
  );

it('shows a key past its usage period with a chip, so no signing is offered that the core would refuse', () => {
  expect(cell(key({ usagePeriodEnded: true }))).toContain(
    'active <span class="chip chip-expired">usage period ended</span>',
  );
  expect(cell(key({}))).not.toContain('usage period ended');
  // A deactivated key applies no protection anyway: its period is no news.
  expect(cell(key({ state: 'deactivated', rotateBy: null, usagePeriodEnded: true }))).not.toContain('usage period');
});

it('says what a destruction cut short left: which objects went, which remain, and that only a destruction finishes it', () => {
  const partial = {
    proposalId: 'ab'.repeat(8),
    at: '2026-02-01T00:00:00.000Z',
    destroyed: ['private key'],
    remaining: ['public key'],
  };
  const shown = cell(key({ destructionNotBefore: '2026-01-20T00:00:00.000Z', partlyDestroyed: partial }));
  expect(shown).toContain('Partly destroyed');
  expect(shown).toContain('destroyed: private key; still in the token: public key');
  expect(shown).not.toContain('can be cancelled');
});
