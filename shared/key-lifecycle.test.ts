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
  rotatedTo: null,
  ...more,
});

it('refuses key.destroy until the core says the waiting period is over, and names the hour it ends', () => {
  expect(keyChangeRefusal(key({}), 'key.destroy')).toMatchObject({
    code: 'DESTRUCTION_NOT_SCHEDULED',
    message: expect.stringContaining('must be scheduled'),
  });
  const waiting = key({ destructionNotBefore: '2026-12-09T14:00:00.000Z', destructionDue: false });
  expect(keyChangeRefusal(waiting, 'key.destroy')).toMatchObject({
    code: 'DESTRUCTION_WAITING',
    message: expect.stringMatching(/^Destruction can be proposed from 2026-12-09 14:00 UTC, when the waiting period/),
  });
  expect(keyChangeRefusal(waiting, 'key.schedule-destruction')?.message).toContain('from 2026-12-09 14:00 UTC');
  expect(keyChangeRefusal(waiting, 'key.cancel-destruction')).toBeNull();
  // It cannot be used meanwhile, so it is not made active either; it can still be taken out of use.
  expect(keyChangeRefusal({ ...waiting, state: 'pre-activation' }, 'key.activate')?.code).toBe('DESTRUCTION_WAITING');
  expect(keyChangeRefusal({ ...waiting, state: 'suspended' }, 'key.reactivate')?.code).toBe('DESTRUCTION_WAITING');
  expect(keyChangeRefusal({ ...waiting, state: 'suspended' }, 'key.deactivate')).toBeNull();
  expect(keyChangeRefusal({ ...waiting, destructionDue: true }, 'key.destroy')).toBeNull();
});

it('rotates a key whose algorithm the policy disallows only to another algorithm', () => {
  const disallowed = key({ policy: { status: 'disallowed', notes: ['EC-P256 is disallowed as of 2036-01-01.'] } });
  expect(keyChangeRefusal(disallowed, 'key.rotate')).toMatchObject({
    code: 'ALGORITHM_DISALLOWED',
    remedy: expect.arrayContaining(['EC-P256 is disallowed as of 2036-01-01.']),
  });
  expect(keyChangeRefusal(disallowed, 'key.rotate', 'AES-256')).toBeNull();
  expect(keyChangeRefusal(key({}), 'key.rotate')).toBeNull();
});
