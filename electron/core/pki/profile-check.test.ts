import { describe, expect, it } from 'vitest';
import { CertificateProfile } from '../../../shared/pki';
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

describe('name constraints', () => {
  it('refuses an empty sequence, which RFC 5280 §4.2.1.10 forbids a CA to issue', () => {
    const check = (nameConstraints: CertificateProfile['nameConstraints']) =>
      checkProfile(
        { ...root('2030-01-01T00:00:00Z'), nameConstraints },
        { ...context, kind: 'intermediate', signerExpiresAt: '2031-01-01T00:00:00.000Z' },
      ).refusals;
    // Before: signed as a critical extension holding an empty SEQUENCE, read to the approvers as "any; none".
    expect(check({ permitted: [], excluded: [] })).toEqual([
      expect.stringMatching(/^Name constraints must permit or exclude at least one DNS name/),
    ]);
    expect(check({ permitted: ['example.com'], excluded: [] })).toEqual([]);
    expect(check({ permitted: [], excluded: ['.example.net'] })).toEqual([]);
  });
});

describe('look-alike letters in the subject', () => {
  const named = (subject: CertificateProfile['subject']) => ({ ...root('2030-01-01T00:00:00Z'), subject });
  const check = (subject: CertificateProfile['subject']) =>
    checkProfile(named(subject), { ...context, signerExpiresAt: '2031-01-01T00:00:00.000Z' });

  it('refuses a host-name CN with a Cyrillic а among Latin letters, naming it', () => {
    expect(check({ commonName: 'p\u0430ypal.com' }).refusals).toEqual([
      'The CN “pаypal.com” looks like a host name: U+0430 ‘а’ (Cyrillic) among Latin letters.',
    ]);
  });

  it('warns the approvers of mixed scripts in other attributes, naming each letter and its script', () => {
    const { refusals, warnings } = check({ commonName: 'Root CA', organization: 'P\u0430yP\u0430l Inc' });
    expect(refusals).toEqual([]);
    expect(warnings).toEqual([
      "The subject's organization “PаyPаl Inc” has U+0430 ‘а’ (Cyrillic) among Latin letters.",
    ]);
    expect(check({ commonName: 'Gr\u03bfup R\u03bfot' }).warnings).toContainEqual(
      expect.stringContaining('U+03BF ‘ο’ (Greek) among Latin letters'),
    );
  });

  it('flags two scripts in one value even in separate words; passes one script and CJK with Latin', () => {
    for (const commonName of ['Москва', 'Αθήνα', '東京ルート認証局 CA', '臺北ㄅ CA', '서울 根 CA', 'bücher.de'])
      expect(check({ commonName }), commonName).toEqual({ refusals: [], warnings: [] });
    expect(check({ commonName: 'Москва.ru' }).refusals).toEqual([]);
    expect(check({ commonName: 'Москва Root' }).warnings).toContainEqual(
      expect.stringContaining('among Cyrillic letters'),
    );
  });
});

describe('DNS names in a profile', () => {
  it('takes A-labels only: a U-label (even one script) is refused, as RFC 5280 §7.2 requires', () => {
    const constrained = (permitted: string[]) => ({
      ...root('2030-01-01T00:00:00Z'),
      nameConstraints: { permitted, excluded: [] },
    });
    expect(CertificateProfile.safeParse(constrained(['xn--bcher-kva.de'])).success).toBe(true);
    expect(CertificateProfile.safeParse(constrained(['bücher.de'])).success).toBe(false);
    expect(CertificateProfile.safeParse(constrained(['p\u0430ypal.com'])).success).toBe(false);
  });
});
