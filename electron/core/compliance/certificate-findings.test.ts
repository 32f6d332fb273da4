import { describe, expect, it } from 'vitest';
import { certificateFindings, type CertificateInputs } from './certificate-findings';

const NOW = new Date('2027-06-01T00:00:00Z');
const ROOT_KEY = 'a'.repeat(32);
const LEAF_KEY = 'b'.repeat(32);
const cert = (over: Partial<CertificateInputs['certificates'][number]> = {}) => ({
  serial: '11'.repeat(20),
  subject: 'CN=Issuing CA',
  keyId: null,
  issuerKeyId: ROOT_KEY,
  notAfter: '2030-01-01T00:00:00.000Z',
  revoked: false,
  ca: true,
  tampered: false,
  ...over,
});
const inputs = (over: Partial<CertificateInputs> = {}): CertificateInputs => ({
  certificates: [],
  crls: [],
  onTokens: [],
  ...over,
});
const keys = (rootState = 'active', leafState = 'active') => [
  { id: ROOT_KEY, label: 'root-ca', state: rootState },
  { id: LEAF_KEY, label: 'leaf', state: leafState },
];
const rules = (i: CertificateInputs, k = keys()) => certificateFindings(i, k, NOW).map((f) => f.rule);

describe('the trust-store audit', () => {
  it('says nothing of a valid, unrevoked certificate under a healthy CA', () => {
    expect(rules(inputs({ certificates: [cert()] }))).toEqual([]);
  });

  it('flags expired and soon-expiring certificates, but not revoked ones', () => {
    expect(rules(inputs({ certificates: [cert({ notAfter: '2027-05-01T00:00:00Z' })] }))).toEqual(['CERT_EXPIRED']);
    expect(rules(inputs({ certificates: [cert({ notAfter: '2027-06-20T00:00:00Z' })] }))).toEqual(['CERT_EXPIRING']);
    expect(rules(inputs({ certificates: [cert({ notAfter: '2027-05-01T00:00:00Z', revoked: true })] }))).toEqual([]);
  });

  it('flags an unrevoked certificate whose key or whose CA key is compromised or destroyed, naming the CRL to issue', () => {
    const leaf = cert({ keyId: LEAF_KEY });
    const [finding] = certificateFindings(inputs({ certificates: [leaf] }), keys('active', 'compromised'), NOW);
    expect(finding).toMatchObject({ rule: 'CERT_KEY_COMPROMISED', severity: 'high' });
    expect(finding!.fix).toContain(`revoke=${leaf.serial}:keyCompromise`);
    expect(rules(inputs({ certificates: [cert()] }), keys('destroyed'))).toEqual(['CERT_KEY_COMPROMISED']);
    expect(
      rules(inputs({ certificates: [cert({ keyId: LEAF_KEY, revoked: true })] }), keys('active', 'compromised')),
    ).toEqual([]);
  });

  it('flags a certificate of a compromised key as not known to be revoked when its CA’s list was refused', () => {
    const [finding] = certificateFindings(
      inputs({ certificates: [cert({ keyId: LEAF_KEY, revoked: null })] }),
      keys('active', 'compromised'),
      NOW,
    );
    expect(finding).toMatchObject({
      rule: 'CERT_KEY_COMPROMISED',
      title: expect.stringContaining('is not known to be revoked'),
      evidence: [expect.stringContaining('was changed outside Custos')],
    });
  });

  it('flags an overdue CRL, a tampered record and a certificate on a token that Custos did not issue', () => {
    expect(
      rules(
        inputs({
          certificates: [cert({ tampered: true })],
          crls: [
            { issuerKeyId: ROOT_KEY, number: 1, nextUpdate: '2027-01-01T00:00:00Z' },
            { issuerKeyId: ROOT_KEY, number: 2, nextUpdate: '2027-05-01T00:00:00Z' },
          ],
          onTokens: [
            {
              token: 'ca (1)',
              label: 'x',
              subject: 'CN=Mallory',
              notAfter: '2030-01-01T00:00:00Z',
              sha256: 'ab',
              issuedHere: false,
            },
            {
              token: 'ca (1)',
              label: 'y',
              subject: 'CN=Ours',
              notAfter: '2030-01-01T00:00:00Z',
              sha256: 'cd',
              issuedHere: true,
            },
          ],
        }),
      ).sort(),
    ).toEqual(['CERT_RECORD_TAMPERED', 'CRL_OVERDUE', 'TOKEN_CERT_UNKNOWN']);
  });

  it('flags an overdue CRL only while a certificate it covers is valid, with a fix the key’s state allows', () => {
    const overdue = { issuerKeyId: ROOT_KEY, number: 3, nextUpdate: '2027-05-01T00:00:00Z' };
    const issued = cert({ keyId: LEAF_KEY, notAfter: '2028-01-01T00:00:00Z' });
    const root = cert({ keyId: ROOT_KEY, serial: '22'.repeat(20) });
    const fixFor = (state: string, certificates = [root, issued]) =>
      certificateFindings(inputs({ certificates, crls: [overdue] }), keys(state), NOW).map((f) => f.fix);
    expect(fixFor('active')).toEqual([expect.stringContaining(`--action crl.issue --param issuerKeyId=${ROOT_KEY}`)]);
    expect(fixFor('suspended')).toEqual([
      expect.stringMatching(/^“root-ca” is suspended .*key\.reactivate.*crl\.issue/),
    ]);
    // A deactivated key is never reactivated (SP 800-57): proposing crl.issue would be refused.
    expect(fixFor('deactivated')).toEqual([expect.stringMatching(/^“root-ca” is deactivated and never signs again/)]);
    expect(fixFor('deactivated')[0]).not.toContain('crl.issue');
    // Nothing left for the list to speak for: the root's own certificate is not on it, the one it issued expired.
    const expired = { ...issued, notAfter: '2027-05-15T00:00:00Z' };
    expect(rules(inputs({ certificates: [root, expired], crls: [overdue] }))).toEqual(['CERT_EXPIRED']);
  });

  it('names a certificate the log records and the database lost as deleted; an overdue list still covers it', () => {
    const overdue = { issuerKeyId: ROOT_KEY, number: 3, nextUpdate: '2027-05-01T00:00:00Z' };
    const root = cert({ keyId: ROOT_KEY, serial: '22'.repeat(20) });
    const deleted = cert({ subject: '', notAfter: '', ca: false, tampered: true, deleted: true });
    const findings = certificateFindings(inputs({ certificates: [root, deleted], crls: [overdue] }), keys(), NOW);
    expect(findings.map((f) => f.rule)).toEqual(['CERT_RECORD_TAMPERED', 'CRL_OVERDUE']);
    expect(findings[0]!.title).toContain('deleted outside Custos');
    expect(findings[0]!.evidence).toEqual([expect.stringContaining(`issued by key ${ROOT_KEY}`)]);
    // Before: its unknown expiry read as expired, and the list it may still need went unflagged.
    expect(findings[1]!.evidence[1]).toContain('a date nobody can read');
  });

  it('flags a CA’s revocation list that was changed, deleted or put back, instead of reading its next update', () => {
    const [finding, ...rest] = certificateFindings(
      inputs({ crls: [{ issuerKeyId: ROOT_KEY, number: 0, nextUpdate: '', tampered: true }] }),
      keys(),
      NOW,
    );
    expect(rest).toEqual([]);
    expect(finding).toMatchObject({ rule: 'CRL_RECORD_TAMPERED', severity: 'high', subject: ROOT_KEY });
    expect(finding!.title).toContain('“root-ca”');
  });
});
