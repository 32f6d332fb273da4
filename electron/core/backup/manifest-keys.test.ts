import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RestorableKey } from './manifest-keys';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('RestorableKey', () => {
  it('takes an AES key made before "none" (SHA-256 of its CKA_ID) beside a check value measured since', () => {
    // Before b9bd495 a sign or wrap AES key had no check value and the SHA-256 of its CKA_ID text as fingerprint; a
    // verified backup measures its check value, so the manifest carries one beside that fingerprint.
    const id = '0123456789abcdef0123456789abcdef';
    const key = {
      id,
      label: 'Old wrapping key',
      algorithm: 'AES-256',
      usage: 'wrap',
      backupable: true,
      state: 'active',
      createdAt: '2026-12-01T09:00:00.000Z',
      cryptoperiodDays: 365,
      expiresAt: '2027-12-01T09:00:00.000Z',
      kcv: 'A1B2C3',
      publicKey: null,
      fingerprint: sha256(id),
      wrapped: Buffer.alloc(40, 1).toString('base64'),
    };
    expect(RestorableKey.safeParse(key).error?.issues ?? []).toEqual([]);
  });
});
