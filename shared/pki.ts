import { z } from 'zod';

/**
 * What a certificate will say, as the approvers approve it: every field that goes into the signed
 * certificate except what Custos binds when proposing (the serial from the token's RNG) and what
 * follows from the keys (the public key, the key identifiers, the signature algorithm).
 */

/**
 * Whether text shows on a screen, a terminal or paper exactly as stored: no control character (escape sequences, line
 * breaks), no line or paragraph separator, no bidi mark, embedding, override or isolate, and nothing invisible (zero
 * widths, word joiner, soft hyphen, tag characters, variation selectors, fillers), any of which let a proposer make a
 * name read to the approvers as something other than what is signed ("pay\u200Bpal.com" prints as "paypal.com").
 */
export function readable(text: string): boolean {
  return !UNREADABLE.test(text);
}
const UNREADABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/u;
export const UNREADABLE_MESSAGE =
  'no control characters, line breaks, text-direction marks or invisible characters: the approvers must read exactly ' +
  'what is signed';

const Text = (max: number) => z.string().trim().min(1).max(max).refine(readable, UNREADABLE_MESSAGE);

/** The subject as people write it; encoded C, ST, L, O, OU, CN in that order, as UTF8String (C as PrintableString). */
export const DistinguishedName = z.strictObject({
  commonName: Text(64).describe('CN'),
  organization: Text(64).optional().describe('O'),
  organizationalUnit: Text(64).optional().describe('OU'),
  locality: Text(128).optional().describe('L'),
  state: Text(128).optional().describe('ST'),
  country: z
    .string()
    .regex(/^[A-Z]{2}$/, 'two capital letters (ISO 3166)')
    .optional()
    .describe('C'),
});
export type DistinguishedName = z.infer<typeof DistinguishedName>;

export const KEY_USAGES = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
] as const;
export const CertKeyUsage = z.enum(KEY_USAGES);
export type CertKeyUsage = z.infer<typeof CertKeyUsage>;

/** RFC 5280 §4.2.1.12 purposes by name, with their OIDs. */
export const EXTENDED_KEY_USAGES = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  OCSPSigning: '1.3.6.1.5.5.7.3.9',
} as const;
export type CertExtendedKeyUsage = keyof typeof EXTENDED_KEY_USAGES;
export const CertExtendedKeyUsage = z.enum(
  Object.keys(EXTENDED_KEY_USAGES) as [keyof typeof EXTENDED_KEY_USAGES, ...(keyof typeof EXTENDED_KEY_USAGES)[]],
);

const URI_CHARACTERS =
  'ASCII letters, digits and punctuation only, no spaces (a URI is an IA5String, RFC 5280 §4.2.1.13, §7.4): ' +
  'percent-encode anything else, and write a host name as its A-labels (xn--…)';
const Instant = z.iso.datetime({ offset: false }).max(32).describe('UTC, e.g. 2027-01-01T00:00:00Z');
const DnsName = z
  .string()
  .max(253)
  .regex(/^\.?([a-z0-9-]{1,63}\.)*[a-z0-9-]{1,63}$/i, 'a DNS name or .suffix');

export const CertificateProfile = z
  .strictObject({
    subject: DistinguishedName,
    notBefore: Instant,
    notAfter: Instant,
    /** basicConstraints: a CA certificate (root or intermediate), and how many CAs may follow it. */
    ca: z.boolean(),
    pathLength: z.number().int().min(0).max(8).optional(),
    keyUsage: z.array(CertKeyUsage).min(1).max(KEY_USAGES.length),
    extendedKeyUsage: z.array(CertExtendedKeyUsage).max(6).optional(),
    crlDistributionPoints: z
      .array(
        z
          .url({ protocol: /^(https?|ldap)$/ })
          .max(512)
          // Written as an IA5String, which keeps one byte of each character: "exa\u200bmple" was signed as
          // "exa\x0bmple" and "\u0140" as "@", so the approvers read one address and the certificate named another.
          .regex(/^[\x21-\x7e]+$/, URI_CHARACTERS),
      )
      .max(4)
      .optional(),
    nameConstraints: z
      .strictObject({ permitted: z.array(DnsName).max(16), excluded: z.array(DnsName).max(16) })
      .optional(),
  })
  .refine((p) => Date.parse(p.notAfter) > Date.parse(p.notBefore), {
    message: 'notAfter must come after notBefore.',
    path: ['notAfter'],
  })
  .refine((p) => new Set(p.keyUsage).size === p.keyUsage.length, {
    message: 'Each key usage once.',
    path: ['keyUsage'],
  });
export type CertificateProfile = z.infer<typeof CertificateProfile>;

/**
 * A certificate serial as bound into a proposal: 20 bytes from the token's RNG with the first byte in
 * 0x01–0x7f, so the INTEGER is positive and needs no leading zero (RFC 5280 §4.1.2.2: at most 20 octets).
 */
export const CertSerial = z
  .string()
  .regex(/^(0[1-9a-f]|[1-7][0-9a-f])[0-9a-f]{38}$/, '20 bytes in hex, positive')
  .describe('bound by Custos when proposed');

const NAME_ORDER: readonly [keyof DistinguishedName, string][] = [
  ['country', 'C'],
  ['state', 'ST'],
  ['locality', 'L'],
  ['organization', 'O'],
  ['organizationalUnit', 'OU'],
  ['commonName', 'CN'],
];

/** A value escaped as RFC 4514 §2.4 says, so a comma or plus inside it cannot read as another attribute. */
export const dnValue = (value: string) =>
  value
    .replace(/[\\",+;<>]/g, '\\$&')
    .replace(/^[ #]/, '\\$&')
    .replace(/ $/, '\\ ');

/** “CN=Example Root CA, O=Example, C=NL”, most specific first, as openssl prints with -nameopt RFC2253. */
export function nameInWords(name: DistinguishedName): string {
  return [...NAME_ORDER]
    .reverse()
    .flatMap(([field, short]) => (name[field] ? [`${short}=${dnValue(name[field])}`] : []))
    .join(', ');
}

export const NAME_ATTRIBUTES = NAME_ORDER;

/** Each key usage in the words approvers read, the same in the forms that choose them. */
export const KEY_USAGE_WORDS: Record<CertKeyUsage, string> = {
  digitalSignature: 'digital signatures',
  nonRepudiation: 'non-repudiation',
  keyEncipherment: 'key encipherment',
  dataEncipherment: 'data encipherment',
  keyAgreement: 'key agreement',
  keyCertSign: 'signing certificates',
  cRLSign: 'signing revocation lists',
};

const day = (iso: string) => iso.slice(0, 10);

/** The profile as the approvers read it aloud: one line per decision the certificate carries. */
export function profileInWords(p: CertificateProfile): string[] {
  const years = (Date.parse(p.notAfter) - Date.parse(p.notBefore)) / (365.25 * 86_400_000);
  return [
    `Subject: ${nameInWords(p.subject)}`,
    `Valid from ${day(p.notBefore)} to ${day(p.notAfter)} (${years.toFixed(1)} years)`,
    p.ca
      ? `A certificate authority${p.pathLength === undefined ? '' : `; at most ${p.pathLength} CA below it`}`
      : 'Not a certificate authority (an end-entity certificate)',
    `Key may be used for: ${p.keyUsage.map((u) => KEY_USAGE_WORDS[u]).join(', ')}`,
    ...(p.extendedKeyUsage?.length ? [`Extended purposes: ${p.extendedKeyUsage.join(', ')}`] : []),
    ...(p.crlDistributionPoints?.length ? [`Revocation lists published at ${p.crlDistributionPoints.join(', ')}`] : []),
    ...(p.nameConstraints
      ? [
          `Names permitted below it: ${p.nameConstraints.permitted.join(', ') || 'any'}; ` +
            `excluded: ${p.nameConstraints.excluded.join(', ') || 'none'}`,
        ]
      : []),
  ];
}

/** RFC 5280 §5.3.1 reason codes Custos records (removeFromCRL and certificateHold are not offered: no holds). */
export const RevocationReason = z.enum([
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'privilegeWithdrawn',
]);
export type RevocationReason = z.infer<typeof RevocationReason>;

/** A certificate Custos issued, as the inventory lists it. */
export const CertificateRecord = z.object({
  serial: z.string(),
  keyId: z.string(),
  issuerKeyId: z.string(),
  subject: z.string(),
  issuer: z.string(),
  notBefore: z.string(),
  notAfter: z.string(),
  ca: z.boolean(),
  selfSigned: z.boolean(),
  sha256: z.string(),
  status: z.enum(['valid', 'revoked']),
  /** Set once a CRL this CA signed lists it. */
  revocation: z.object({ reason: RevocationReason, revokedAt: z.string(), crlNumber: z.number() }).nullable(),
  token: z.object({ serial: z.string(), label: z.string() }),
  issuedAt: z.string(),
});
export type CertificateRecord = z.infer<typeof CertificateRecord>;

const Serial = z.string().regex(/^[0-9a-fA-F]{2,40}$/, 'a serial in hex');

export const CertificateExport = z.strictObject({ serial: Serial, format: z.enum(['pem', 'der']).default('pem') });
export const CertificateText = z.object({ serial: z.string(), format: z.string(), text: z.string() });
export const CrlRequest = z.strictObject({ issuerKeyId: z.string().regex(/^[0-9a-f]{32}$/) });
export const CrlText = z.object({
  issuerKeyId: z.string(),
  number: z.number(),
  nextUpdate: z.string(),
  text: z.string(),
});
export type CrlText = z.infer<typeof CrlText>;
