import { describe, expect, it } from 'vitest';
import type { CertificateProfile } from '../../../shared/pki';
import { checkProfile } from './profile-check';

const root = (notAfter: string): CertificateProfile => ({
  subject: { commonName: 'Root' },
  notBefore: '2027-01-01T00:00:00Z',
  notAfter,
  ca: true,
  keyUsage: ['keyCertSign', 'cRLSign'],
});
const context = { kind: 'root' as const, subjectKey: { algorithm: 'EC-P256' }, now: new Date('2027-01-01T00:00:00Z') };

describe('the certificate profile check', () => {
  it('compares validity with the key’s cryptoperiod as instants, not as text', () => {
    const expires = '2030-01-01T00:00:00.000Z';
    expect(checkProfile(root('2030-01-01T00:00:00Z'), { ...context, signerExpiresAt: expires }).refusals).toEqual([]);
    expect(checkProfile(root('2030-01-01T00:00:01Z'), { ...context, signerExpiresAt: expires }).refusals).toHaveLength(
      1,
    );
    expect(
      checkProfile(root('2029-06-01T00:00:00Z'), {
        ...context,
        kind: 'intermediate',
        signerExpiresAt: expires,
        issuerNotAfter: '2029-06-01T00:00:00.000Z',
      }).refusals,
    ).toEqual([]);
  });
});
