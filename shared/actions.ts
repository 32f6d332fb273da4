import { z } from 'zod';
import { Algorithm, algorithmName, KeyState, KeyUsage } from './keys';
import { AUTHENTICATION_IN_WORDS, BackupAuthentication, copyInWords, fingerprintInGroups, KeyCopy } from './backups';
import {
  CertificateProfile,
  CertSerial,
  nameInWords,
  profileInWords,
  readable,
  RevocationReason,
  UNREADABLE_MESSAGE,
} from './pki';

/**
 * The quorum actions, each declared once: what its parameters must be, what its outcome records,
 * its title, and how its parameters read to a person. The core checks and runs from it; the app,
 * the CLI and the reports render from it. A new action is a compile error until each map keyed by
 * ActionName (here, in the core's registries and wherever a screen handles actions) has it.
 */
export const ActionName = z.enum([
  'token.quorum-drill',
  'key.generate',
  'key.test-signature',
  'key.activate',
  'key.deactivate',
  'key.reactivate',
  'key.schedule-destruction',
  'key.cancel-destruction',
  'key.destroy',
  'custody.redeal',
  'key.backup',
  'key.restore',
  'backup.retire',
  'key.rotate',
  'cert.self-sign',
  'cert.issue',
  'crl.issue',
  'key.export-wrapped',
  'key.import-wrapped',
  'rehearsal.stand-ins',
]);
export type ActionName = z.infer<typeof ActionName>;

const Id16 = z.string().regex(/^[0-9a-f]{16}$/);
const Id32 = z.string().regex(/^[0-9a-f]{32}$/);
const KeyId = Id32.describe('key id (32 hex digits; `custos key list`)');
/**
 * What approvers and relying parties read as it is: no control characters, line breaks, text-direction marks or
 * invisible characters.
 */
const Readable = (text: z.ZodString) => text.refine(readable, UNREADABLE_MESSAGE);
const Holders = z.array(Id16).min(2).max(16).describe('custodian ids (the CLI also takes names), comma-separated');
const Threshold = z.number().int().min(2).max(16).describe('how many of the holders it takes');

export const DrillParams = z.strictObject({});

/** Bound into the proposal, so approvers approve exactly this key (its CKA_ID is chosen up front). */
export const GenerateParams = z.strictObject({
  algorithm: Algorithm,
  label: Readable(z.string().trim().min(1).max(64)).describe('the key’s label in the token'),
  usage: KeyUsage,
  backupable: z.boolean().describe('whether the key may be backed up (wrapped under a trusted key)'),
  cryptoperiodDays: z.number().int().min(1).max(3650).describe('days the key may be used (SP 800-57)'),
  ckaId: Id32.describe('chosen by Custos when proposed'),
  /**
   * On a token that does not honour CKA_WRAP_WITH_TRUSTED, a backup-able key can be generated only
   * when the approvers accept, in the proposal itself, that its export is not restricted to trusted keys.
   */
  acceptUnrestrictedExport: z.boolean().optional().describe('accept export not restricted to trusted keys'),
});
export type GenerateParams = z.infer<typeof GenerateParams>;

export const KeyParams = z.strictObject({ keyId: KeyId });
export const TestSignatureParams = z.strictObject({
  keyId: KeyId,
  challenge: Readable(z.string().min(1).max(200)).describe('text to sign'),
});

/**
 * SP 800-57 rotation: a successor in the same token with the same usage and custody, then the old
 * key kept to processing (verify, decrypt, unwrap). The successor's CKA_ID is bound when proposed.
 */
export const RotateParams = z.strictObject({
  keyId: KeyId,
  algorithm: Algorithm.optional().describe('the successor’s algorithm (default: the same)'),
  ckaId: Id32.describe('the successor’s CKA_ID, chosen by Custos when proposed'),
  acceptUnrestrictedExport: z.boolean().optional().describe('accept export not restricted to trusted keys'),
});
export type RotateParams = z.infer<typeof RotateParams>;

/**
 * What the profile check warned the approvers of, bound by Custos (a page's are dropped). Sized for the longest Custos
 * writes: the warning that names a whole subject of the longest fields, each character escaped (RFC 4514), and one
 * warning per subject field with letters of another script.
 */
const CertWarnings = z.array(z.string().max(1200)).max(20).optional().describe('bound by Custos when proposed');

/**
 * A root certificate (issue #15): the key in the token signs its own certificate. The serial comes from the
 * token's RNG and the profile's findings (Baseline Requirements advice) are bound when proposed, so the
 * approvers approve exactly the certificate that will exist.
 */
export const SelfSignParams = z.strictObject({
  keyId: KeyId,
  profile: CertificateProfile.describe('the certificate profile (a JSON file: custos proposal create --profile FILE)'),
  serial: CertSerial,
  warnings: CertWarnings,
});
export type SelfSignParams = z.infer<typeof SelfSignParams>;

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);

/**
 * A certificate issued by a CA key from a PKCS#10 request (an intermediate CA, or an end entity). The
 * request's SHA-256, subject and public key fingerprint are bound when proposed, after its signature
 * was checked; the subject certified is the profile's, which the approvers compare with the request's.
 */
export const IssueParams = z.strictObject({
  issuerKeyId: KeyId.describe('the CA key that signs (it needs its own CA certificate first: cert.self-sign)'),
  csr: z
    .string()
    .min(64)
    .max(24_000)
    .describe('the certificate request, PEM or base64 DER (custos proposal create --csr FILE)'),
  profile: CertificateProfile.describe('the certificate profile (a JSON file: custos proposal create --profile FILE)'),
  csrSha256: Sha256.describe('bound by Custos when proposed'),
  csrSubject: z.string().max(1024).refine(readable, UNREADABLE_MESSAGE).describe('bound by Custos when proposed'),
  publicKeyFingerprint: Sha256.describe('bound by Custos when proposed'),
  serial: CertSerial,
  warnings: CertWarnings,
});
export type IssueParams = z.infer<typeof IssueParams>;

/** One certificate to revoke: its serial and the RFC 5280 reason; the CLI writes it SERIAL:reason. */
const Revocation = z.preprocess(
  (v) => (typeof v === 'string' && v.includes(':') ? { serial: v.split(':')[0], reason: v.split(':')[1] } : v),
  z.strictObject({
    serial: z
      .string()
      .regex(/^[0-9a-f]{2,40}$/)
      .describe('the certificate’s serial in hex (custos cert list)'),
    reason: RevocationReason,
  }),
);

/**
 * A CRL (RFC 5280 §5, v2) signed by a CA key: every certificate its previous CRL listed, plus those
 * revoked now. Its number is bound when proposed: the next after the CA's latest.
 */
export const CrlParams = z.strictObject({
  issuerKeyId: KeyId.describe('the CA key that signs the list'),
  revoke: z.array(Revocation).max(256).default([]).describe('certificates to revoke now, as SERIAL:reason'),
  nextUpdateDays: z.number().int().min(1).max(366).default(30).describe('days until the next CRL is due'),
  crlNumber: z.number().int().min(1).describe('bound by Custos when proposed'),
});
export type CrlParams = z.infer<typeof CrlParams>;

const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

/** Key transport out: the key wrapped for a recipient public key a security officer recorded as trusted. */
export const ExportWrappedParams = z.strictObject({
  keyId: KeyId,
  recipient: Sha256Hex.describe('the recipient key’s fingerprint (`custos transport recipients`)'),
  packageId: Id32.describe('the package id, chosen by Custos when proposed'),
});
export type ExportWrappedParams = z.infer<typeof ExportWrappedParams>;

/**
 * Key transport in: a received package unwrapped into the token. What the package declares (label,
 * algorithm, usage, the Custos key it is for) and the new key's CKA_ID are bound when proposed.
 */
export const ImportWrappedParams = z.strictObject({
  package: Sha256Hex.describe('SHA-256 of the received package (`custos transport packages`)'),
  cryptoperiodDays: z.number().int().min(1).max(3650).describe('days the imported key may be used (SP 800-57)'),
  ckaId: Id32.describe('chosen by Custos when proposed'),
  label: Readable(z.string().min(1).max(64)).describe('as the package declares it'),
  algorithm: Algorithm.describe('as the package declares it'),
  usage: KeyUsage.describe('as the package declares it'),
  unwrapWith: KeyId.describe('the Custos key the package is wrapped for'),
  from: z.string().max(200).describe('the installation that made the package, or “outside Custos”'),
});
export type ImportWrappedParams = z.infer<typeof ImportWrappedParams>;
/** The waiting period before a scheduled destruction, in days (DESIGN §6). */
export const DESTRUCTION_WAIT_DAYS = { min: 7, max: 30, default: 30 } as const;

/** SP 800-57 destruction with a waiting period during which the quorum can still change its mind. */
export const ScheduleParams = z.strictObject({
  keyId: KeyId,
  waitDays: z
    .number()
    .int()
    .min(DESTRUCTION_WAIT_DAYS.min)
    .max(DESTRUCTION_WAIT_DAYS.max)
    .default(DESTRUCTION_WAIT_DAYS.default)
    .describe('days to wait before it can be destroyed'),
  /** Every place the key lives, bound by Custos when proposed: the approvers see the backups that still hold it. */
  copies: z.array(KeyCopy).optional().describe('bound by Custos when proposed'),
});

/** Who holds the token after a turnover, and how many of them it takes. */
export const RedealParams = z
  .strictObject({ threshold: Threshold, holders: Holders })
  .refine((p) => new Set(p.holders).size === p.holders.length, {
    message: 'Each custodian can hold only one share.',
    path: ['holders'],
  })
  .refine((p) => p.threshold <= p.holders.length, {
    message: 'The threshold cannot exceed the number of holders.',
    path: ['threshold'],
  });

export const BackupParams = z
  .strictObject({
    keyIds: z.array(Id32).min(1).max(32).describe('key ids, comma-separated'),
    holders: Holders,
    threshold: Threshold,
    /** Unwrap every blob in the same token as session objects and compare, before anyone relies on it. */
    verify: z.boolean().default(true).describe('unwrap each copy in the token and compare before relying on it'),
  })
  .refine((p) => new Set(p.holders).size === p.holders.length, {
    message: 'Each person can hold only one card.',
    path: ['holders'],
  })
  .refine((p) => p.threshold <= p.holders.length, {
    message: 'The threshold cannot exceed the number of card holders.',
    path: ['threshold'],
  });

export const RestoreParams = z.strictObject({
  setId: Id32.describe('backup set id (`custos backup list`)'),
  /** Restoring a key recorded as destroyed needs the quorum to approve exactly this. */
  overrideDestroyed: z.boolean().default(false).describe('restore keys recorded as destroyed'),
});

/** Retiring a backup set: never restorable again; its holders then confirm their cards destroyed. */
export const RetireParams = z.strictObject({
  setId: Id32.describe('backup set id (`custos backup list`)'),
  reason: z.string().trim().min(1).max(200).describe('why the set is retired (recorded and reported)'),
});

/**
 * A rehearsal of a script that acts on keys of the real installation makes stand-ins for them in its scratch token: new
 * keys with the real keys' ids, labels, algorithms, usages and states (and a waiting destruction where the real key has
 * one), so every step runs as it will for real. Only a rehearsal's scratch installation runs it; no script names it.
 */
export const StandIn = z.strictObject({
  keyId: KeyId,
  label: Readable(z.string().trim().min(1).max(64)),
  algorithm: Algorithm,
  usage: KeyUsage,
  backupable: z.boolean(),
  cryptoperiodDays: z.number().int().min(1).max(3650),
  /**
   * The end of the real key's usage period (ISO 8601): the stand-in's ends then too, not a period later than the
   * rehearsal, so a step the real run refuses (KEY_PERIOD_ENDED) is refused in the rehearsal.
   */
  expiresAt: z.iso.datetime(),
  state: KeyState.exclude(['destroyed']),
  /** The real key's family and version, so a rotation's successor is numbered as it will be. */
  family: Id32.nullable(),
  version: z.number().int().min(1).nullable(),
  /** When the real key's waiting destruction may go ahead (ISO 8601), or null when none waits. */
  destroyableFrom: z.iso.datetime().nullable(),
  /**
   * For a CA key: what its CA certificate says. The stand-in gets a certificate of its own with this profile, signed
   * by the stand-in (never the real one), so what the CA issues can be rehearsed.
   */
  caCertificate: CertificateProfile.optional(),
  /**
   * For a CA key whose certificates a revocation list of the script revokes: those certificates as the real CA issued
   * them (public, DER in base64), which the stand-in CA issues again, same serial, subject, validity, subject key and
   * extensions, so that the list can be rehearsed.
   */
  reissue: z
    .array(
      z.strictObject({
        serial: z.string().regex(/^[0-9a-f]{2,40}$/),
        subject: z.string().max(1024),
        der: z
          .string()
          .max(16_384)
          .regex(/^[A-Za-z0-9+/]+=*$/),
      }),
    )
    .max(256)
    .optional(),
});
export type StandIn = z.infer<typeof StandIn>;
export const StandInParams = z.strictObject({ keys: z.array(StandIn).min(1).max(32) });

const TokenSeen = z.object({ serial: z.string(), label: z.string() });
const KeyResult = z.looseObject({ keyId: Id32, transition: z.string() });

/** What each action's successful run records; loose, so fields added later still cross. */
const Results = {
  drill: z.looseObject({ opened: z.boolean(), objects: z.number() }),
  generate: z.looseObject({
    keyId: Id32,
    label: z.string(),
    algorithm: z.string(),
    fingerprint: z.string().nullable(),
    kcv: z.string().nullable(),
    exportRestrictedToTrustedKeys: z.boolean().optional(),
    reconciled: z.boolean().optional(),
  }),
  signature: z.looseObject({ keyId: Id32, challenge: z.string(), signature: z.string(), mechanism: z.string() }),
  schedule: z.looseObject({
    keyId: Id32,
    notBefore: z.string(),
    waitDays: z.number(),
    copies: z.array(KeyCopy).optional(),
  }),
  rotate: z.looseObject({
    keyId: Id32,
    successorId: Id32,
    label: z.string(),
    algorithm: z.string(),
    family: Id32,
    version: z.number(),
    fingerprint: z.string().nullable(),
    kcv: z.string().nullable(),
    /** Which usage attributes of the old key were to be turned off (CKA_SIGN, CKA_ENCRYPT, CKA_WRAP). */
    turnedOff: z.array(z.string()),
    postOperational: z.enum(['token', 'custos']),
    /** The token's answer when it refused to change the old key (a CKR_ name); null when it complied. */
    tokenRefusal: z.string().nullable(),
    reconciled: z.boolean().optional(),
  }),
  cancel: z.looseObject({ keyId: Id32, cancelled: z.literal(true) }),
  crl: z.looseObject({
    issuerKeyId: Id32,
    crlNumber: z.number(),
    thisUpdate: z.string(),
    nextUpdate: z.string(),
    revoked: z.array(z.looseObject({ serial: z.string(), reason: z.string(), revokedAt: z.string() })),
    sha256: z.string(),
    pem: z.string(),
  }),
  certificate: z.looseObject({
    serial: z.string(),
    /** The certified key when it is in the inventory (a root's); null for a key known only from its request. */
    keyId: Id32.nullable(),
    issuerKeyId: Id32,
    subject: z.string(),
    issuer: z.string(),
    notBefore: z.string(),
    notAfter: z.string(),
    sha256: z.string(),
    /** The certificate object's label in the token (beside the key, same CKA_ID). */
    tokenObject: z.string(),
    pem: z.string(),
    reconciled: z.boolean().optional(),
  }),
  exportWrapped: z.looseObject({
    keyId: Id32,
    packageId: Id32,
    /** SHA-256 of the package file (hex). */
    sha256: z.string(),
    recipient: z.looseObject({ fingerprint: z.string(), label: z.string(), algorithm: z.string() }),
    scheme: z.string(),
  }),
  standIns: z.looseObject({
    keys: z.array(
      z.looseObject({ keyId: Id32, label: z.string(), fingerprint: z.string().nullable(), kcv: z.string().nullable() }),
    ),
  }),
  importWrapped: z.looseObject({
    keyId: Id32,
    label: z.string(),
    algorithm: z.string(),
    usage: z.string(),
    fingerprint: z.string().nullable(),
    kcv: z.string().nullable(),
    package: z.string(),
    unwrappedWith: Id32,
    from: z.string(),
  }),
  destroy: z.looseObject({
    keyId: Id32,
    objectsDestroyed: z.number().nullable(),
    searchedFor: z.string(),
    remaining: z.number(),
    /** Objects under the key's id that are not the key (made without the PIN): destroyed, and left (undestroyable). */
    othersDestroyed: z.number().optional(),
    othersLeft: z.number().optional(),
    checkedAt: z.string(),
    approvedBy: z.array(z.string()),
    reconciled: z.boolean().optional(),
    /** The destruction cut short that this one finished, and the objects it had destroyed. */
    finishes: z.object({ proposal: z.string(), destroyed: z.array(z.string()) }).optional(),
    /** Every copy the inventory knew of when it was destroyed, and what became of each. */
    copies: z.array(z.looseObject({ copy: KeyCopy, fate: z.string() })).optional(),
  }),
  retire: z.looseObject({ setId: z.string(), reason: z.string(), retiredAt: z.string(), holders: z.array(z.string()) }),
  redeal: z.looseObject({
    custodyId: z.string(),
    replaces: z.string(),
    threshold: z.number(),
    holders: z.array(z.string()),
  }),
  backup: z.looseObject({
    setId: z.string(),
    keys: z.array(z.string()),
    threshold: z.number(),
    holders: z.array(z.string()),
    verified: z.boolean(),
    mechanism: z.string(),
    /** SHA-256 of the signed manifest, printed on every card (absent in outcomes recorded before issue 14 §6). */
    fingerprint: z.string().optional(),
  }),
  restore: z.looseObject({
    setId: z.string(),
    token: TokenSeen,
    keys: z.array(
      z.looseObject({ keyId: z.string(), label: z.string(), algorithm: z.string(), kcv: z.string().nullable() }),
    ),
    authentication: z.string(),
    madeBy: z.looseObject({ installation: z.string(), auditKey: z.string().nullable(), here: z.boolean() }),
  }),
};

const authenticationInWords = (value: string) =>
  BackupAuthentication.safeParse(value).success
    ? AUTHENTICATION_IN_WORDS[value as BackupAuthentication]
    : `Authenticated: ${value}.`;

/** What a description can look up to name what parameters point at; null where it does not know. */
export interface ProposalLookups {
  key(id: string): { label: string; algorithm: string; state?: string; token?: { label: string } } | null;
  person(id: string): string | null;
  token(serial: string): string | null;
  /** A backup set as the list shows it; absent where nothing lists the sets (the set is then named by id). */
  backup?(setId: string): BackupInWords | null;
}

/** What approvers read about a backup set: when and where it was made, what it holds, who has its cards. */
export interface BackupInWords {
  createdAt: string;
  token: { label: string };
  threshold: number;
  keys: readonly { label: string }[];
  holders: readonly { name: string }[];
}

export const NO_LOOKUPS: ProposalLookups = { key: () => null, person: () => null, token: () => null };

/** A proposal in words: one sentence to read aloud, then the details (ids only here, as secondary). */
export interface ProposalDescription {
  sentence: string;
  lines: string[];
}

const short = (id: string) => (id.length > 12 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id);

/** “payments-signing” (EC P-256, active, token Vault A), or the id when the inventory does not know it. */
export function keyPhrase(lookups: ProposalLookups, id: string): string {
  const key = lookups.key(id);
  if (!key) return `key ${short(id)} (not in the inventory)`;
  const facts = [algorithmName(key.algorithm), key.state, key.token && `token ${key.token.label}`].filter(Boolean);
  return `“${key.label}” (${facts.join(', ')})`;
}

/** Where a key lives besides the token at hand, as the approvers of its destruction read it. */
function copiesInWords(copies: readonly KeyCopy[] | undefined): string[] {
  const backups = (copies ?? []).filter((c) => c.kind === 'backup');
  const tokens = (copies ?? []).filter((c) => c.kind === 'token');
  return [
    ...(tokens.length > 1 ? [`Held in ${tokens.map(copyInWords).join(' and ')}.`] : []),
    ...backups.map((c) =>
      c.retiredAt
        ? `Also in ${copyInWords(c)}: it can no longer be restored.`
        : `Also held by ${copyInWords(c)}: retire that set (backup.retire) so the destruction covers every copy.`,
    ),
  ];
}

/** The set a proposal names, in words, when the caller lists backup sets. */
function backupLines(lookups: ProposalLookups, setId: string): string[] {
  const set = lookups.backup?.(setId);
  if (!set) return [];
  return [
    `Made ${set.createdAt.slice(0, 16).replace('T', ' ')} UTC from token ${set.token.label}; holds ${set.keys.map((k) => `“${k.label}”`).join(', ')}.`,
    `Cards with ${set.holders.map((h) => h.name).join(', ')} (any ${set.threshold} restore it).`,
  ];
}

const personName = (lookups: ProposalLookups, id: string) => lookups.person(id) ?? `custodian ${id} (unknown)`;
const names = (lookups: ProposalLookups, ids: readonly string[]) => ids.map((id) => personName(lookups, id)).join(', ');
const keyIdLine = (id: string) => `Key id: ${id}`;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

interface ActionSpec<P extends z.ZodType, R extends z.ZodType> {
  title: string;
  /** The signed report's type and title for this ceremony. */
  report: { type: string; title: string };
  params: P;
  /** What the proposer gives: the parameters, less what Custos binds when proposing. */
  proposed: z.ZodType;
  result: R;
  describe(params: z.output<P>, lookups: ProposalLookups): ProposalDescription;
  outcome(result: z.output<R>, lookups: ProposalLookups): string[];
}

const spec = <P extends z.ZodType, R extends z.ZodType>(
  s: Omit<ActionSpec<P, R>, 'proposed'> & { proposed?: z.ZodType },
): ActionSpec<P, R> => ({
  ...s,
  proposed: s.proposed ?? s.params,
});

function keyTransition(verb: string, title: string, past: string) {
  return spec({
    title,
    report: { type: `key.${verb}`, title: `${title} ceremony` },
    params: KeyParams,
    result: KeyResult,
    describe: (p, l) => ({
      sentence: `${verb[0]!.toUpperCase()}${verb.slice(1)} ${keyPhrase(l, p.keyId)}.`,
      lines: [keyIdLine(p.keyId)],
    }),
    outcome: (r, l) => [`${keyPhrase(l, r.keyId)} was ${past}.`],
  });
}

export const ACTIONS = {
  'token.quorum-drill': spec({
    title: 'Quorum drill',
    report: { type: 'token.quorum-drill', title: 'Quorum drill' },
    params: DrillParams,
    result: Results.drill,
    describe: () => ({
      sentence: 'Prove that the holders can open the token together; nothing on it changes.',
      lines: [],
    }),
    outcome: (r) => [`The holders opened the token together; it holds ${plural(r.objects, 'object')}.`],
  }),
  'key.generate': spec({
    title: 'Generate a key',
    report: { type: 'key.generate', title: 'Key generation ceremony' },
    params: GenerateParams,
    proposed: GenerateParams.omit({ ckaId: true }),
    result: Results.generate,
    describe: (p) => ({
      sentence:
        `Generate the ${algorithmName(p.algorithm)} ${p.usage} key “${p.label}” in the token, ` +
        `${p.backupable ? 'backup-able' : 'never to leave it'}, for a ${p.cryptoperiodDays}-day cryptoperiod.`,
      lines: [
        ...(p.backupable && p.acceptUnrestrictedExport
          ? ['The approvers accept that its export is not restricted to trusted keys.']
          : []),
        `CKA_ID: ${p.ckaId}`,
      ],
    }),
    outcome: (r) => [
      `Generated “${r.label}” (${algorithmName(r.algorithm)}), id ${r.keyId}${r.reconciled ? ', found in the token after an interruption' : ''}.`,
      ...(r.fingerprint ? [`Public key SHA-256: ${r.fingerprint}`] : []),
      ...(r.kcv ? [`Check value (KCV): ${r.kcv}`] : []),
      ...(r.exportRestrictedToTrustedKeys === false
        ? ['Its export is NOT restricted to trusted keys (the token does not honour it).']
        : []),
    ],
  }),
  'key.test-signature': spec({
    title: 'Test signature',
    report: { type: 'key.test-signature', title: 'Test signature ceremony' },
    params: TestSignatureParams,
    result: Results.signature,
    describe: (p, l) => ({
      sentence: `Sign the text “${p.challenge}” with ${keyPhrase(l, p.keyId)}, to prove the key in the token is the one on record.`,
      lines: [keyIdLine(p.keyId)],
    }),
    outcome: (r) => [`Signature (${r.mechanism}, base64): ${r.signature}`],
  }),
  'key.activate': keyTransition('activate', 'Activate a key', 'activated'),
  'key.deactivate': keyTransition('deactivate', 'Deactivate a key', 'deactivated'),
  'key.reactivate': keyTransition('reactivate', 'Reactivate a key', 'reactivated'),
  'key.schedule-destruction': spec({
    title: 'Schedule destruction',
    report: { type: 'key.schedule-destruction', title: 'Destruction scheduling ceremony' },
    params: ScheduleParams,
    proposed: ScheduleParams.omit({ copies: true }),
    result: Results.schedule,
    describe: (p, l) => ({
      sentence: `Schedule destruction of ${keyPhrase(l, p.keyId)} after a ${p.waitDays}-day wait.`,
      lines: [...copiesInWords(p.copies), keyIdLine(p.keyId)],
    }),
    outcome: (r, l) => [
      `${keyPhrase(l, r.keyId)} can be destroyed from ${r.notBefore.replace('T', ' ').slice(0, 16)} UTC (a ${r.waitDays}-day wait).`,
      ...copiesInWords(r.copies),
    ],
  }),
  'key.cancel-destruction': spec({
    title: 'Cancel destruction',
    report: { type: 'key.cancel-destruction', title: 'Destruction cancellation ceremony' },
    params: KeyParams,
    result: Results.cancel,
    describe: (p, l) => ({
      sentence: `Cancel the waiting destruction of ${keyPhrase(l, p.keyId)}.`,
      lines: [keyIdLine(p.keyId)],
    }),
    outcome: (r, l) => [`The destruction of ${keyPhrase(l, r.keyId)} is cancelled.`],
  }),
  'key.destroy': spec({
    title: 'Destroy a key',
    report: { type: 'destruction-certificate', title: 'Key destruction certificate' },
    params: KeyParams,
    result: Results.destroy,
    describe: (p, l) => ({
      sentence: `Destroy ${keyPhrase(l, p.keyId)} in the token, for good: its waiting period is over.`,
      lines: [keyIdLine(p.keyId)],
    }),
    outcome: (r, l) => [
      `${keyPhrase(l, r.keyId)} destroyed: ${r.objectsDestroyed === null ? 'the objects left after an interruption' : plural(r.objectsDestroyed, 'object')}; ` +
        `a search for ${r.searchedFor} at ${r.checkedAt} found ${r.remaining} of the key's objects.`,
      ...(r.othersDestroyed === undefined
        ? []
        : [
            `Not the key (objects anyone can make under its id without the PIN): ${plural(r.othersDestroyed, 'object')} destroyed, ${r.othersLeft ?? 0} the token would not destroy left.`,
          ]),
      ...(r.finishes
        ? [
            `It finishes the destruction cut short by proposal ${r.finishes.proposal}, which had destroyed ${r.finishes.destroyed.join(', ')}.`,
          ]
        : []),
      `Approved by ${names(l, r.approvedBy)}.`,
      ...(r.copies ?? []).map((c) => `Copy in ${copyInWords(c.copy)}: ${c.fate}.`),
    ],
  }),
  'custody.redeal': spec({
    title: 'Change of holders',
    report: { type: 'custody.redeal', title: 'Custodian turnover ceremony' },
    params: RedealParams,
    result: Results.redeal,
    describe: (p, l) => ({
      sentence: `Hand the token to ${names(l, p.holders)}: any ${p.threshold} of the ${p.holders.length} open it.`,
      lines: [],
    }),
    outcome: (r, l) => [`Custody ${r.custodyId} replaces ${r.replaces}: any ${r.threshold} of ${names(l, r.holders)}.`],
  }),
  'key.backup': spec({
    title: 'Back up keys',
    report: { type: 'key.backup', title: 'Backup ceremony' },
    params: BackupParams,
    result: Results.backup,
    describe: (p, l) => ({
      sentence:
        `Back up ${p.keyIds.map((id) => keyPhrase(l, id)).join(', ')} on share cards for ${names(l, p.holders)}: ` +
        `any ${p.threshold} of them restore it${p.verify ? '; each copy is checked in the token first' : ''}.`,
      lines: p.keyIds.map(keyIdLine),
    }),
    outcome: (r, l) => [
      `Backup set ${r.setId} holds ${r.keys.map((id) => keyPhrase(l, id)).join(', ')} (${r.mechanism}${r.verified ? ', verified' : ', NOT verified'}).`,
      `Cards for ${names(l, r.holders)}; any ${r.threshold} restore it.`,
      ...(r.fingerprint ? [`Set fingerprint, on every card: ${fingerprintInGroups(r.fingerprint)}.`] : []),
    ],
  }),
  'key.restore': spec({
    title: 'Restore a backup',
    report: { type: 'key.restore', title: 'Restore ceremony' },
    params: RestoreParams,
    result: Results.restore,
    describe: (p, l) => ({
      sentence: `Restore the keys of backup set ${short(p.setId)} into the token${p.overrideDestroyed ? ', including keys recorded as destroyed' : ''}.`,
      lines: [...backupLines(l, p.setId), `Backup set: ${p.setId}`],
    }),
    outcome: (r) => [
      `Restored into “${r.token.label}” (${r.token.serial}): ${r.keys.map((k) => `“${k.label}” (${algorithmName(k.algorithm)}), id ${k.keyId}`).join(', ')}.`,
      `Backup made ${r.madeBy.here ? 'here' : `by installation ${r.madeBy.installation}`}. ${authenticationInWords(r.authentication)}`,
    ],
  }),
  'backup.retire': spec({
    title: 'Retire a backup set',
    report: { type: 'backup.retire', title: 'Backup retirement ceremony' },
    params: RetireParams,
    result: Results.retire,
    describe: (p, l) => ({
      sentence: `Retire backup set ${short(p.setId)} for good (“${p.reason}”): it is never restored again, and each card holder then confirms their card destroyed.`,
      lines: [...backupLines(l, p.setId), `Backup set: ${p.setId}`],
    }),
    outcome: (r, l) => [
      `Backup set ${short(r.setId)} retired at ${r.retiredAt.replace('T', ' ').slice(0, 16)} UTC (${r.reason}); it can no longer be restored.`,
      `Cards to be confirmed destroyed by ${names(l, r.holders)}.`,
    ],
  }),
  'key.rotate': spec({
    title: 'Rotate a key',
    report: { type: 'key.rotate', title: 'Key rotation ceremony' },
    params: RotateParams,
    proposed: RotateParams.omit({ ckaId: true }),
    result: Results.rotate,
    describe: (p, l) => ({
      sentence:
        `Rotate ${keyPhrase(l, p.keyId)}: generate its successor in the same token with the same usage and custody` +
        `${p.algorithm ? `, as ${algorithmName(p.algorithm)}` : ''}; the old key may then only verify, decrypt or unwrap, ` +
        'never sign, encrypt or wrap again.',
      lines: [
        ...(p.acceptUnrestrictedExport
          ? ['The approvers accept that the successor’s export is not restricted to trusted keys.']
          : []),
        keyIdLine(p.keyId),
        `Successor CKA_ID: ${p.ckaId}`,
      ],
    }),
    outcome: (r, l) => [
      `“${r.label}” version ${r.version} (${algorithmName(r.algorithm)}), id ${r.successorId}, replaces ${keyPhrase(l, r.keyId)}${r.reconciled ? ', found in the token after an interruption' : ''}.`,
      ...(r.fingerprint ? [`Public key SHA-256: ${r.fingerprint}`] : []),
      ...(r.kcv ? [`Check value (KCV): ${r.kcv}`] : []),
      r.postOperational === 'token'
        ? `The token itself now refuses the old key for new protection (${r.turnedOff.join(', ')} set to false).`
        : `The token refused to change the old key (${r.tokenRefusal ?? 'no reason given'}), so it would still allow ` +
          `${r.turnedOff.join(', ')}; Custos refuses to use it for them.`,
    ],
  }),
  'cert.self-sign': spec({
    title: 'Make a root certificate',
    report: { type: 'cert.self-sign', title: 'Root certificate ceremony' },
    params: SelfSignParams,
    proposed: SelfSignParams.omit({ serial: true, warnings: true }),
    result: Results.certificate,
    describe: (p, l) => ({
      sentence:
        `Sign a root certificate for ${keyPhrase(l, p.keyId)} with the key itself, inside the token ` +
        `(the private key never leaves it).`,
      lines: [
        ...profileInWords(p.profile),
        ...(p.warnings ?? []).map((w) => `Warning: ${w}`),
        `Serial (from the token’s random number generator): ${p.serial}`,
        keyIdLine(p.keyId),
      ],
    }),
    outcome: (r) => [
      `Root certificate “${r.subject}”, serial ${r.serial}, valid ${r.notBefore.slice(0, 10)} to ${r.notAfter.slice(0, 10)}` +
        `${r.reconciled ? ', found in the token after an interruption' : ''}.`,
      `Certificate SHA-256: ${r.sha256}`,
      `Stored in the token beside its key as “${r.tokenObject}”.`,
    ],
  }),
  'cert.issue': spec({
    title: 'Issue a certificate from a request',
    report: { type: 'cert.issue', title: 'Certificate issuance ceremony' },
    params: IssueParams,
    proposed: IssueParams.pick({ issuerKeyId: true, csr: true, profile: true }),
    result: Results.certificate,
    describe: (p, l) => ({
      sentence:
        `Issue ${p.profile.ca ? 'a CA' : 'an end-entity'} certificate signed by ${keyPhrase(l, p.issuerKeyId)} ` +
        `for the key in the request from “${p.csrSubject}”.`,
      lines: [
        ...profileInWords(p.profile),
        ...(p.warnings ?? []).map((w) => `Warning: ${w}`),
        `The request’s subject: ${p.csrSubject}`,
        `The request’s public key SHA-256: ${p.publicKeyFingerprint}`,
        `The request’s SHA-256: ${p.csrSha256}`,
        `Serial (from the token’s random number generator): ${p.serial}`,
        `Issuer key id: ${p.issuerKeyId}`,
      ],
    }),
    outcome: (r) => [
      `Certificate “${r.subject}” issued by “${r.issuer}”, serial ${r.serial}, valid ${r.notBefore.slice(0, 10)} to ` +
        `${r.notAfter.slice(0, 10)}${r.reconciled ? ', found in the token after an interruption' : ''}.`,
      `Certificate SHA-256: ${r.sha256}`,
      `Stored in the token as “${r.tokenObject}”.`,
    ],
  }),
  'crl.issue': spec({
    title: 'Issue a revocation list',
    report: { type: 'crl.issue', title: 'Certificate revocation ceremony' },
    params: CrlParams,
    proposed: CrlParams.omit({ crlNumber: true }),
    result: Results.crl,
    describe: (p, l) => ({
      sentence:
        `Sign revocation list number ${p.crlNumber} with ${keyPhrase(l, p.issuerKeyId)}` +
        (p.revoke.length
          ? `, revoking ${plural(p.revoke.length, 'certificate')} now.`
          : ', revoking nothing new (it renews the list).'),
      lines: [
        ...p.revoke.map((r) => `Revoke serial ${r.serial}: ${r.reason}`),
        `Certificates revoked earlier stay on the list. The next list is due in ${plural(p.nextUpdateDays, 'day')}.`,
        `Issuer key id: ${p.issuerKeyId}`,
      ],
    }),
    outcome: (r) => [
      `Revocation list number ${r.crlNumber}, valid ${r.thisUpdate.slice(0, 10)} to ${r.nextUpdate.slice(0, 10)}, ` +
        `lists ${plural(r.revoked.length, 'certificate')}.`,
      ...r.revoked.map((e) => `Serial ${e.serial}: ${e.reason} (since ${e.revokedAt.slice(0, 10)})`),
      `CRL SHA-256: ${r.sha256}`,
    ],
  }),
  'key.export-wrapped': spec({
    title: 'Export a key wrapped for a recipient',
    report: { type: 'key.export-wrapped', title: 'Key transport (export) ceremony' },
    params: ExportWrappedParams,
    proposed: ExportWrappedParams.omit({ packageId: true }),
    result: Results.exportWrapped,
    describe: (p, l) => ({
      sentence:
        `Export ${keyPhrase(l, p.keyId)} wrapped for the trusted recipient key ${short(p.recipient)}: ` +
        'only the holder of that key’s private key can unwrap it.',
      lines: [keyIdLine(p.keyId), `Recipient key SHA-256: ${p.recipient}`, `Package id: ${p.packageId}`],
    }),
    outcome: (r, l) => [
      `${keyPhrase(l, r.keyId)} was wrapped for “${r.recipient.label}” (${r.recipient.algorithm}, ${r.scheme}).`,
      `Recipient key SHA-256: ${r.recipient.fingerprint}`,
      `Package ${r.packageId}, file SHA-256: ${r.sha256}`,
    ],
  }),
  'key.import-wrapped': spec({
    title: 'Import a wrapped key',
    report: { type: 'key.import-wrapped', title: 'Key transport (import) ceremony' },
    params: ImportWrappedParams,
    proposed: ImportWrappedParams.pick({ package: true, cryptoperiodDays: true }),
    result: Results.importWrapped,
    describe: (p, l) => ({
      sentence:
        `Import the ${algorithmName(p.algorithm)} ${p.usage} key “${p.label}” from ${p.from} into the token, ` +
        `unwrapped there with ${keyPhrase(l, p.unwrapWith)}; it stays sensitive and never leaves the token, ` +
        `for a ${p.cryptoperiodDays}-day cryptoperiod counted from the import. The package does not say when the ` +
        `key’s use ends at ${p.from === 'outside Custos' ? 'its origin' : p.from}: check it does not end sooner.`,
      lines: [`Package SHA-256: ${p.package}`, `CKA_ID: ${p.ckaId}`],
    }),
    outcome: (r, l) => [
      `Imported “${r.label}” (${algorithmName(r.algorithm)}, ${r.usage}), id ${r.keyId}, from ${r.from}, ` +
        `unwrapped with ${keyPhrase(l, r.unwrappedWith)}.`,
      ...(r.fingerprint ? [`Public key SHA-256: ${r.fingerprint}`] : []),
      ...(r.kcv ? [`Check value (KCV): ${r.kcv}`] : []),
      `Package SHA-256: ${r.package}`,
    ],
  }),
  'rehearsal.stand-ins': spec({
    title: 'Make stand-in keys for a rehearsal',
    report: { type: 'rehearsal.stand-ins', title: 'Rehearsal stand-in keys' },
    params: StandInParams,
    result: Results.standIns,
    describe: (p) => ({
      sentence:
        `REHEARSAL ONLY: generate in the rehearsal token ${plural(p.keys.length, 'stand-in key')} for the real ` +
        `${p.keys.length === 1 ? 'key' : 'keys'} the script acts on. A stand-in is a new key with the real key’s id, ` +
        'label, algorithm, usage and state; it is not a copy, and the real token is not touched.',
      lines: p.keys.map(
        (k) =>
          `“${k.label}” (${algorithmName(k.algorithm)}, ${k.usage}, ${k.state}` +
          `${k.destroyableFrom ? `, destroyable from ${k.destroyableFrom.slice(0, 16).replace('T', ' ')} UTC` : ''}), ` +
          `id ${k.keyId}` +
          (k.caCertificate ? `, with a stand-in CA certificate for “${nameInWords(k.caCertificate.subject)}”` : ''),
      ),
    }),
    outcome: (r) => [
      `Made ${plural(r.keys.length, 'stand-in key')} in the rehearsal token:`,
      ...r.keys.map(
        (k) =>
          `“${k.label}”, id ${k.keyId}` +
          (k.fingerprint ? `, public key SHA-256 ${k.fingerprint}` : k.kcv ? `, check value ${k.kcv}` : ''),
      ),
    ],
  }),
} satisfies { [A in ActionName]: ActionSpec<z.ZodType, z.ZodType> };

type Actions = typeof ACTIONS;
export type ActionParams<A extends ActionName = ActionName> = z.output<Actions[A]['params']>;
export type ActionResult<A extends ActionName = ActionName> = z.output<Actions[A]['result']>;

export const ACTION_NAMES = ActionName.options;

/** The actions people propose; a rehearsal's stand-in keys are its own doing, never proposed by hand. */
export const PROPOSABLE_ACTIONS = ACTION_NAMES.filter((action) => action !== 'rehearsal.stand-ins');

/** Parameter schemas by action, as the core checks them when proposed and again when run. */
export const ACTION_PARAMS: { [A in ActionName]: Actions[A]['params'] } = Object.fromEntries(
  ACTION_NAMES.map((a) => [a, ACTIONS[a].params]),
) as never;

export function actionTitle(action: ActionName): string {
  return ACTIONS[action].title;
}

/** How a proposal reads to the person approving it. */
export function describeProposal<A extends ActionName>(
  action: A,
  params: ActionParams<A>,
  lookups: ProposalLookups,
): ProposalDescription {
  return (ACTIONS[action].describe as (p: ActionParams<A>, l: ProposalLookups) => ProposalDescription)(params, lookups);
}

/** What a successful run recorded, in the same words. */
export function describeResult<A extends ActionName>(
  action: A,
  result: ActionResult<A>,
  lookups: ProposalLookups,
): string[] {
  return (ACTIONS[action].outcome as (r: ActionResult<A>, l: ProposalLookups) => string[])(result, lookups);
}

/** Each problem with proposed parameters, as “path: message”. */
export function paramProblems(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${issue.path.join('.') || 'parameters'}: ${issue.message}`);
}

/** What a proposer gives for an action, as a person reads it: name, type, default, limits, meaning. */
export interface ParamHelp {
  name: string;
  type: string;
  /** Its JSON Schema type (`string`, `integer`, `boolean`, `array`), where it has one: how text given for it reads. */
  json?: string;
  required: boolean;
  default?: unknown;
  description?: string;
}

interface JsonSchemaProperty {
  type?: string;
  enum?: unknown[];
  items?: JsonSchemaProperty;
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
}

function typeOf(p: JsonSchemaProperty): string {
  if (p.enum) return p.enum.join('|');
  if (p.type === 'array')
    return `list of ${p.items ? typeOf(p.items) : 'values'}${p.minItems !== undefined ? ` (${p.minItems}–${p.maxItems ?? '…'})` : ''}`;
  if ((p.type === 'integer' || p.type === 'number') && p.minimum !== undefined)
    return `${p.type} ${p.minimum}–${p.maximum ?? '…'}`;
  return p.type ?? 'value';
}

/** The parameters a proposer gives, read from the schema itself so the help cannot drift from it. */
export function actionParamHelp(action: ActionName): ParamHelp[] {
  const schema = z.toJSONSchema(ACTIONS[action].proposed, { io: 'input', unrepresentable: 'any' }) as {
    properties?: Record<string, JsonSchemaProperty>;
    required?: string[];
  };
  return Object.entries(schema.properties ?? {}).map(([name, p]) => ({
    name,
    type: typeOf(p),
    ...(p.type ? { json: p.type } : {}),
    required: (schema.required ?? []).includes(name),
    ...(p.default !== undefined ? { default: p.default } : {}),
    ...(p.description ? { description: p.description } : {}),
  }));
}
