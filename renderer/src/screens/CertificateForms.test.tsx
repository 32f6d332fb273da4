import { expect, it } from 'vitest';
import type { KeyRecord } from '../../../shared/keys';
import type { CertificateRecord } from '../../../shared/pki';
import type { CustodyView } from '../../../shared/quorum';
import { caKeys, issuingCas, rootSigners } from './CertificateForms';

const token = { serial: '1', label: 'ca' };
const custody = { state: 'active', token } as CustodyView;
const key = (id: string, usagePeriodEnded: boolean) =>
  ({ id, state: 'active', usage: 'sign', fingerprint: 'ab'.repeat(32), token, usagePeriodEnded }) as KeyRecord;
const caCertificate = (keyId: string) => ({ ca: true, keyId, status: 'valid' }) as CertificateRecord;

it('offers no key past its usage period to sign a certificate, and keeps it for revocation lists', () => {
  const keys = [key('current', false), key('ended', true)];
  expect(rootSigners(keys, [custody]).map((k) => k.id)).toEqual(['current']);
  const cas = caKeys(keys, [caCertificate('current'), caCertificate('ended')], [custody]);
  expect(cas.map((c) => c.key.id)).toEqual(['current', 'ended']);
  expect(issuingCas(cas).map((c) => c.key.id)).toEqual(['current']);
});
