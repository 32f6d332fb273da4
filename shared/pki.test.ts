import { describe, expect, it } from 'vitest';
import { CertificateProfile, DistinguishedName, nameInWords } from './pki';

const profile = (subject: Record<string, string>) => ({
  subject,
  notBefore: '2027-01-01T00:00:00Z',
  notAfter: '2030-01-01T00:00:00Z',
  ca: false,
  keyUsage: ['digitalSignature'],
});

describe('a distinguished name the approvers read', () => {
  it('refuses escape sequences, line breaks and text-direction overrides, saying why', () => {
    const result = CertificateProfile.safeParse(
      profile({
        commonName: 'www.example.org\u001b[8m',
        organization: 'Evil\nNot a certificate authority (an end-entity certificate)\u202e',
      }),
    );
    expect(result.success).toBe(false);
    const problems = result.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(problems).toEqual([
      expect.stringMatching(
        /^subject\.commonName: no control characters, line breaks, text-direction marks or invisible/,
      ),
      expect.stringMatching(/^subject\.organization: no control characters/),
    ]);
  });

  it.each([
    ['a C0 control', 'a\u0007b'],
    ['a carriage return', 'a\rb'],
    ['DEL', 'a\u007fb'],
    ['a C1 control (CSI)', 'a\u009b8mb'],
    ['next line', 'a\u0085b'],
    ['a line separator', 'a\u2028b'],
    ['a right-to-left override', 'gpj.exe\u202e'],
    ['a left-to-right embedding', '\u202aab'],
    ['a first-strong isolate', 'a\u2068b\u2069'],
    ['a right-to-left mark', 'a\u200fb'],
    ['a zero-width space', 'pay\u200bpal.com'],
    ['a word joiner', 'A\u2060da'],
    ['a soft hyphen', 'pay\u00adpal.com'],
    ['a tag character', 'CA\u{E0041}'],
    ['a byte order mark', 'C\ufeffA'],
    ['a Hangul filler', 'pay\u3164pal'],
    ['a variation selector', 'A\ufe0fda'],
  ])('refuses %s', (_, commonName) => {
    expect(DistinguishedName.safeParse({ commonName }).success).toBe(false);
  });

  it('keeps letters of any script, and shows a comma or plus inside a value escaped (RFC 4514)', () => {
    const name = DistinguishedName.parse({ commonName: 'Zoë Ünal – 東京 CA', organization: 'Example, Inc.+Co' });
    expect(nameInWords(name)).toBe('CN=Zoë Ünal – 東京 CA, O=Example\\, Inc.\\+Co');
    expect(nameInWords({ commonName: '#1 "CA" <x>; \\' })).toBe('CN=\\#1 \\"CA\\" \\<x\\>\\; \\\\');
  });
});
