import { expect, it } from 'vitest';
import { keyChangeRefusal } from './key-lifecycle';
import type { KeyRecord } from './keys';

const key = (more: Partial<KeyRecord>) => ({
  state: 'active' as const,
  label: 'payments-2026',
  partlyDestroyed: null,
  algorithm: 'EC-P256',
  policy: { status: 'acceptable' as const, notes: [] },
  destructionNotBefore: null,
  destructionDue: false,
  ...more,
});

it('refuses key.destroy until the core says the waiting period is over, and names the hour it ends', () => {
  expect(keyChangeRefusal(key({}), 'key.destroy')).toContain('must be scheduled');
  const waiting = key({ destructionNotBefore: '2026-12-09T14:00:00.000Z', destructionDue: false });
  expect(keyChangeRefusal(waiting, 'key.destroy')).toBe('Destruction can be proposed from 2026-12-09 14:00 UTC.');
  expect(keyChangeRefusal(waiting, 'key.cancel-destruction')).toBeNull();
  expect(keyChangeRefusal({ ...waiting, destructionDue: true }, 'key.destroy')).toBeNull();
});
