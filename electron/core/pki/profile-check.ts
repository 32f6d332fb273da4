import type { CertificateProfile } from '../../../shared/pki';
import { CustosError } from '../errors';
import { looksLikeHostName, mixedScripts } from '../../../shared/mixed-scripts';

/** What a certificate is for, as the profile check judges it. */
export interface ProfileContext {
  /** A self-signed root, an intermediate CA issued from a request, or an end-entity certificate. */
  kind: 'root' | 'intermediate' | 'end-entity';
  /** The subject key's algorithm and, when known, its size in bits (RSA modulus, EC field). */
  subjectKey: { algorithm: string; bits?: number };
  /** When the signing key's cryptoperiod ends (SP 800-57): nothing it signs may outlive it. */
  signerExpiresAt: string;
  /** The issuing CA certificate's notAfter (RFC 5280 §6: a chain is valid only while every link is). */
  issuerNotAfter?: string;
  /**
   * How many CAs the issuing CA certificate lets follow below it, its own chain's limits included (RFC 5280 §4.2.1.9,
   * §6.1.4 (l)–(m)); absent when nothing limits it.
   */
  issuerPathLength?: number;
  now: Date;
}

export interface ProfileFindings {
  /** Each makes the proposal impossible: RFC 5280 violations and what SP 800-57/131A forbid. */
  refusals: string[];
  /** Shown to the approvers with the proposal: Baseline Requirements advice, unusual choices. */
  warnings: string[];
}

const YEAR = 365.25 * 86_400_000;
const day = (iso: string) => iso.slice(0, 10);

/**
 * Checks a profile against RFC 5280 and, where a public CA would be bound by it, the CA/Browser
 * Forum Baseline Requirements (§7.1.2), before any approval is spent on it.
 */
export function checkProfile(p: CertificateProfile, c: ProfileContext): ProfileFindings {
  const refusals: string[] = [];
  const warnings: string[] = [];
  const isCa = c.kind !== 'end-entity';
  if (isCa && !p.ca)
    refusals.push(`A ${c.kind} certificate must say it is a CA (basicConstraints cA true; RFC 5280 §4.2.1.9).`);
  if (!isCa && p.ca) refusals.push('An end-entity certificate cannot be a CA.');
  if (p.ca && !p.keyUsage.includes('keyCertSign'))
    refusals.push('A CA certificate must allow signing certificates (keyUsage keyCertSign; RFC 5280 §4.2.1.3).');
  if (!p.ca && (p.keyUsage.includes('keyCertSign') || p.keyUsage.includes('cRLSign')))
    refusals.push('Only a CA certificate may sign certificates or revocation lists (RFC 5280 §4.2.1.3).');
  if (!p.ca && p.pathLength !== undefined) refusals.push('A path length applies only to a CA certificate.');
  if (!p.ca && p.nameConstraints)
    refusals.push('Name constraints apply only to a CA certificate (RFC 5280 §4.2.1.10).');
  if (p.nameConstraints && p.nameConstraints.permitted.length + p.nameConstraints.excluded.length === 0)
    refusals.push(
      'Name constraints must permit or exclude at least one DNS name: an empty, critical extension is what RFC 5280 ' +
        '§4.2.1.10 forbids, and some validators (Go’s crypto/x509) refuse to read the certificate. Leave them out.',
    );
  refusals.push(...pathLengthRefusals(p, c));
  if (p.ca && !p.keyUsage.includes('cRLSign'))
    warnings.push('This CA cannot sign revocation lists (no cRLSign): it will have no way to revoke what it issues.');
  // As instants: '…T00:00:00Z' and '…T00:00:00.000Z' name the same moment but do not compare so as text.
  if (Date.parse(p.notAfter) > Date.parse(c.signerExpiresAt))
    refusals.push(
      `The certificate would be valid until ${day(p.notAfter)}, after the signing key's cryptoperiod ends on ` +
        `${day(c.signerExpiresAt)} (SP 800-57): shorten the validity or rotate the key first.`,
    );
  if (c.issuerNotAfter && Date.parse(p.notAfter) > Date.parse(c.issuerNotAfter))
    refusals.push(
      `The certificate would outlive its issuer's certificate (valid until ${day(c.issuerNotAfter)}; RFC 5280 §6).`,
    );
  refusals.push(...encodableDates(p));
  subjectScripts(p, refusals, warnings);
  if (Date.parse(p.notAfter) <= c.now.getTime()) refusals.push('The certificate would already have expired.');
  if (c.now.getTime() - Date.parse(p.notBefore) > 2 * 86_400_000)
    warnings.push(`notBefore ${day(p.notBefore)} is in the past: the certificate is backdated.`);
  const years = (Date.parse(p.notAfter) - Date.parse(p.notBefore)) / YEAR;
  if (c.kind === 'root' && years > 25)
    warnings.push(`A root valid for ${years.toFixed(1)} years: the Baseline Requirements allow at most 25.`);
  if (c.kind === 'root' && p.extendedKeyUsage?.length)
    warnings.push('A root certificate should carry no extended key usage (Baseline Requirements §7.1.2.1).');
  if (c.kind === 'intermediate' && !p.extendedKeyUsage?.length)
    warnings.push('A subordinate CA for the Web PKI should name its extended key usages (Baseline Requirements).');
  if (c.subjectKey.algorithm.startsWith('RSA') && c.subjectKey.bits !== undefined && c.subjectKey.bits < 3072)
    (c.subjectKey.bits < 2048 ? refusals : warnings).push(
      `The subject's RSA key has ${c.subjectKey.bits} bits: SP 800-131A disallows under 2048, and under 3072 ` +
        'is deprecated after 2030.',
    );
  if (c.subjectKey.algorithm.startsWith('EC') && c.subjectKey.bits !== undefined && c.subjectKey.bits < 256)
    (c.subjectKey.bits < 224 ? refusals : warnings).push(
      `The subject's EC key is on a ${c.subjectKey.bits}-bit curve: SP 800-131A disallows under 224 bits (112-bit ` +
        'security), and 224 is deprecated after 2030.',
    );
  return { refusals, warnings };
}

/**
 * A CA certificate below an issuer whose path length is 0 fails every validator's path check; one whose own path
 * length is not below its issuer's promises chains that the issuer's limit already forbids. Refused, not clamped:
 * the approvers approve the profile as proposed, and a number Custos changed after the proposer chose it would be
 * signed unread. (The warnings channel is for what leaves the certificate valid.)
 */
function pathLengthRefusals(p: CertificateProfile, c: ProfileContext): string[] {
  const limit = c.issuerPathLength;
  if (!p.ca || c.kind === 'root' || limit === undefined) return [];
  if (limit === 0)
    return [
      'The issuing CA certificate allows no CA below it (path length 0; RFC 5280 §4.2.1.9): a CA certificate it ' +
        'issued would fail validation. Issue an end-entity certificate, or issue from a CA that allows one.',
    ];
  if (p.pathLength !== undefined && p.pathLength < limit) return [];
  return [
    `The issuing CA allows at most ${limit} CA below it, this one included (RFC 5280 §4.2.1.9): give this ` +
      `certificate a path length of at most ${limit - 1} (it has ${p.pathLength ?? 'none, so no limit'}); more ` +
      'would promise chains that no validator accepts.',
  ];
}

const LETTERS_NAMED = 3;

/**
 * Letters of several scripts in one subject value read as another name (TS #39). A CN that looks like a host name
 * is refused: in a certificate a DNS name is ASCII (A-labels, RFC 5280 §7.2, Baseline Requirements §7.1.4.2), and a
 * browser would show such a label as punycode anyway. Other attributes are the approvers' call, with the letters named.
 */
function subjectScripts(p: CertificateProfile, refusals: string[], warnings: string[]): void {
  for (const [field, value] of Object.entries(p.subject)) {
    if (typeof value !== 'string') continue;
    if (field === 'commonName' && looksLikeHostName(value)) {
      for (const label of value.split('.'))
        for (const found of mixedScripts(label)) refusals.push(`The CN “${value}” looks like a host name: ${found}.`);
    } else {
      // One warning per field, naming a few letters: one per letter made a long mixed value over 20 warnings.
      const found = mixedScripts(value);
      const more = found.length > LETTERS_NAMED ? `; and ${found.length - LETTERS_NAMED} more letters like them` : '';
      if (found.length)
        warnings.push(`The subject's ${field} “${value}” has ${found.slice(0, LETTERS_NAMED).join('; ')}${more}.`);
    }
  }
}

/**
 * RFC 5280 §4.1.2.5 encodes validity in whole seconds, as UTCTime for 1950–2049 (two-digit years) and GeneralizedTime
 * from 2050: a fraction of a second would be dropped from what the approvers read, and a year before 1950 has no
 * UTCTime (a notBefore of 1949 was written as 2049).
 */
function encodableDates(p: CertificateProfile): string[] {
  return (['notBefore', 'notAfter'] as const).flatMap((field) => {
    const instant = Date.parse(p[field]);
    if (new Date(instant).getUTCFullYear() < 1950)
      return [`${field} ${day(p[field])} is before 1950, which a certificate's validity cannot say (RFC 5280).`];
    if (instant % 1000 !== 0)
      return [`${field} ${p[field]} has a fraction of a second: a certificate holds whole seconds (RFC 5280).`];
    return [];
  });
}

/**
 * Refuses a profile with any refusal, naming each, those the caller found against the installation's state (`more`)
 * among them; the warnings go into the proposal for the approvers.
 */
export function requireProfile(p: CertificateProfile, c: ProfileContext, more: string[] = []): string[] {
  const { refusals: found, warnings } = checkProfile(p, c);
  const refusals = [...found, ...more];
  if (refusals.length > 0)
    throw new CustosError('CERT_PROFILE_REFUSED', 'This certificate profile cannot be proposed.', refusals);
  return warnings;
}
