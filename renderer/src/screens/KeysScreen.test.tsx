import { renderToStaticMarkup } from 'react-dom/server';
import { expect, it } from 'vitest';
import type { KeyRecord } from '../../../shared/keys';
import { StoreProvider } from '../store/context';
import { storeWith } from '../store/test-store';
import { KeyStateForm, missingForChange } from './KeyForms';
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
  destructionDue: false,
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

const stateForm = (k: KeyRecord) =>
  renderToStaticMarkup(
    <StoreProvider store={storeWith({ custodians: [], custodies: [], selected: null })}>
      <KeyStateForm keyRecord={k} />
    </StoreProvider>,
  );
const offered = (html: string) => [...html.matchAll(/<option value="([^"]+)"/g)].map((m) => m[1]);

it('offers only the changes the key’s state allows, and says why the others are not offered', () => {
  expect(offered(stateForm(key({ state: 'pre-activation' })))).toEqual([
    'key.activate',
    'key.schedule-destruction',
    'compromise',
  ]);
  const suspended = stateForm(key({ state: 'suspended' }));
  expect(offered(suspended)).toEqual(['key.deactivate', 'key.reactivate', 'key.schedule-destruction', 'compromise']);
  expect(suspended).toContain('Not offered for this key:');
  expect(suspended).toContain('<li>Activate: A suspended key cannot be made active');
  expect(suspended).toContain('<li>Rotate: “payments-2026” is suspended; only an active key is rotated.');
  // A disallowed algorithm is never made active again.
  expect(offered(stateForm(key({ state: 'suspended', policy: { status: 'disallowed', notes: [] } })))).not.toContain(
    'key.reactivate',
  );
  expect(stateForm(key({ state: 'destroyed' }))).toContain('Nothing can change a destroyed key');
  expect(stateForm(key({ state: 'destroyed' }))).not.toContain('Propose');
});

it('offers a partly destroyed key nothing but finishing its destruction or marking it compromised', () => {
  const partial = {
    proposalId: 'ab'.repeat(8),
    at: '2026-02-01T00:00:00.000Z',
    destroyed: ['private key'],
    remaining: [],
  };
  const html = stateForm(
    key({
      state: 'suspended',
      destructionNotBefore: '2026-01-20T00:00:00.000Z',
      destructionDue: true,
      partlyDestroyed: partial,
    }),
  );
  expect(offered(html)).toEqual(['key.destroy', 'compromise']);
  expect(html).toContain('<li>Reactivate after suspension: “payments-2026” is partly destroyed');
  expect(html).toContain(
    '<li>Cancel the scheduled destruction: “payments-2026” is partly destroyed (the private key gone): its destruction ' +
      'cannot be cancelled.',
  );
});

it('offers no destruction during the waiting period, and says from when it can be proposed', () => {
  const waiting = stateForm(key({ destructionNotBefore: '2026-12-09T14:00:00.000Z', destructionDue: false }));
  expect(offered(waiting)).not.toContain('key.destroy');
  expect(offered(waiting)).toContain('key.cancel-destruction');
  expect(waiting).toContain('Destruction can be proposed from 2026-12-09 14:00 UTC, when the waiting period ends');
  const due = stateForm(key({ destructionNotBefore: '2026-12-09T14:00:00.000Z', destructionDue: true }));
  expect(offered(due)).toContain('key.destroy');
});

it('says in the key list when a scheduled destruction can be proposed, by the core’s verdict', () => {
  const scheduled = { destructionNotBefore: '2026-12-09T14:00:00.000Z' };
  expect(cell(key({ ...scheduled, destructionDue: false }))).toContain('can be proposed from 2026-12-09 14:00 UTC');
  expect(cell(key({ ...scheduled, destructionDue: true }))).toContain('the waiting period is over');
});

it('says what a change of state still needs before anything is sent: the officer, their factors, and why it is compromised', () => {
  const none = { custodianId: '', passphrase: '', code: '' };
  const texts = (choice: Parameters<typeof missingForChange>[0], reason: string, proof = none) =>
    missingForChange(choice, reason, proof).map((p) => `${p.field}: ${p.text}`);
  expect(texts('compromise', '  ')).toEqual([
    'compromise-reason: Say why the key is compromised',
    'key-actor-who: Choose who does it',
    'key-actor-passphrase: Type the passphrase',
    'key-actor-code: Type the 6-digit code the authenticator shows',
  ]);
  const typed = { custodianId: 'c1', passphrase: 'p', code: '123456' };
  expect(texts('compromise', 'HSM backup tape lost', typed)).toEqual([]);
  expect(texts('suspend', '', typed)).toEqual([]);
  expect(texts('key.activate', '', { ...typed, code: '12345' })).toEqual([
    'key-actor-code: Type the 6-digit code the authenticator shows',
  ]);
  expect(texts('key.activate', '')[0]).toBe('key-actor-who: Choose who proposes it');
});
