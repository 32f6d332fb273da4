/**
 * The Key Management Practice Statement draft: SP 800-57 Part 2's outline, each section saying what
 * this installation enforces (every number read from its configuration or its code) and marking
 * what only the organisation can decide. A pure function of the facts, so what it says can be
 * checked against them.
 */

/** The sections, in SP 800-57 Part 2's order (§6.1's policy topics; §5's document-control needs). */
export const PRACTICE_STATEMENT_SECTIONS = [
  'Scope and ownership',
  'Document approval',
  'Roles and separation of duties',
  'Key generation',
  'Key distribution',
  'Key storage',
  'Key usage',
  'Key rotation and cryptoperiods',
  'Backup and recovery',
  'Compromise recovery',
  'Key destruction',
  'Audit review cadence',
  'Training',
  'Physical and personnel security',
  'Document control',
] as const;

/** What the organisation must decide is written this way, so it is found by eye, by search and by the app. */
export const DECIDE_MARK = 'ORGANISATION TO DECIDE';

export interface PracticeFacts {
  generatedAt: string;
  version: string | null;
  installation: {
    origin: string;
    auditSize: number;
    /** Base64 RFC 6962 root of the log at auditSize. */
    auditRoot: string;
    latestCheckpoint: { treeSize: number; createdAt: string } | null;
    /** A checkpoint is signed at least every this many entries. */
    checkpointEvery: number;
    /** Whether a second copy of the latest checkpoint is kept (removable media). */
    anchorCopy: boolean;
    lastVerification: string | null;
  };
  people: { custodians: string[]; securityOfficers: string[]; auditors: string[] };
  factors: { throttleAfter: number; lockAfter: number };
  custodies: { token: string; threshold: number; holders: string[]; pinBits: number | null }[];
  /** Every quorum action, by its title. */
  quorumActions: string[];
  /** Per-action security officers on top of the threshold. */
  actionPolicies: { action: string; securityOfficers: number }[];
  /** Key state changes one security officer may make alone (emergency). */
  emergencyTransitions: { transition: string; from: string[]; to: string }[];
  quorum: { proposalMinutes: number; holdMinutes: number };
  destruction: { minDays: number; maxDays: number; defaultDays: number };
  algorithms: {
    algorithm: string;
    deprecatedFrom: string | null;
    disallowedFrom: string | null;
    source: string;
    /** Whether Custos offers to generate it. */
    generated: boolean;
  }[];
  cryptoperiods: { usage: string; defaultDays: number }[];
  /** Keys whose cryptoperiod differs from their usage's default. */
  cryptoperiodOverrides: { label: string; algorithm: string; usage: string; days: number; defaultDays: number }[];
  keys: { algorithm: string; byState: Record<string, number> }[];
  modules: { path: string; description: string; validation: string; software: boolean }[];
  tokens: { token: string; kind: string; model: string | null; validation: string }[];
  backups: { sets: number; thresholds: string[]; unverified: number };
  policyReviews: string[];
  /** Rehearsals of ceremony scripts (the training this installation records); null where not tracked. */
  rehearsals?: { passed: number; required: boolean; neverRehearsed: string[] } | null;
  /** When the policy analyzer reports a missing verification, card check or review. */
  limits: { auditVerifyDays: number; shareCheckMonths: number; policyReviewDays: number };
}

const decide = (what: string, hint: string) => `**[${DECIDE_MARK}: ${what}]** ${hint}`;
const day = (iso: string) => iso.slice(0, 10);
const names = (list: string[]) => (list.length ? list.join(', ') : 'nobody enrolled yet');
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
/** Table cells hold no pipe or line break of their own. */
const cell = (text: string) => text.replace(/\|/g, '/').replace(/\n/g, ' ');
const table = (head: string[], rows: string[][]) => [
  `| ${head.map(cell).join(' | ')} |`,
  `|${head.map(() => ' --- ').join('|')}|`,
  ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
];

export function practiceStatement(f: PracticeFacts): string {
  const sections: Record<(typeof PRACTICE_STATEMENT_SECTIONS)[number], string[]> = {
    'Scope and ownership': scope(f),
    'Document approval': approval(f),
    'Roles and separation of duties': roles(f),
    'Key generation': generation(f),
    'Key distribution': distribution(f),
    'Key storage': storage(f),
    'Key usage': usage(f),
    'Key rotation and cryptoperiods': rotation(f),
    'Backup and recovery': backup(f),
    'Compromise recovery': compromise(f),
    'Key destruction': destruction(f),
    'Audit review cadence': auditReview(f),
    Training: training(f),
    'Physical and personnel security': physical(f),
    'Document control': control(f),
  };
  const body = PRACTICE_STATEMENT_SECTIONS.flatMap((title, i) => ['', `## ${i + 1}. ${title}`, '', ...sections[title]]);
  const text = [
    '# Key Management Practice Statement (draft)',
    '',
    `Generated by Custos${f.version ? ` ${f.version}` : ''} on ${day(f.generatedAt)} from installation ${f.installation.origin}, ` +
      'following the outline of NIST SP 800-57 Part 2 Rev 1. What Custos enforces is stated from its configuration; ' +
      `each **[${DECIDE_MARK}: ...]** marks a decision only the organisation can make. ` +
      'It is a draft to edit, not a policy, until it is approved (section 2).',
    ...body,
    '',
  ].join('\n');
  const open = text.split(`[${DECIDE_MARK}:`).length - 1;
  return text.replace(
    'It is a draft to edit',
    `This draft leaves ${plural(open, 'decision')} to the organisation. It is a draft to edit`,
  );
}

function scope(f: PracticeFacts): string[] {
  const keys = f.keys.reduce((n, k) => n + Object.values(k.byState).reduce((a, b) => a + b, 0), 0);
  return [
    `This statement covers the keys Custos manages in installation ${f.installation.origin}: ` +
      `${plural(keys, 'key')} in ${plural(f.custodies.length, 'token')} in custody today, and every key generated, ` +
      'restored or destroyed through it later. Keys outside Custos are out of scope.',
    '',
    ...(f.keys.length
      ? [
          ...table(
            ['Algorithm', 'Keys by SP 800-57 state'],
            f.keys.map((k) => [
              k.algorithm,
              Object.entries(k.byState)
                .map(([state, n]) => `${state} ${n}`)
                .join(', '),
            ]),
          ),
          '',
        ]
      : []),
    `- Owner of this statement: ${decide('owner', 'name the person or function accountable for key management (SP 800-57 Part 2 §3: the key management policy owner).')}`,
    `- Systems and data the keys protect: ${decide('scope of use', 'list the applications, certificates or data each key serves.')}`,
    `- Keys managed elsewhere (cloud KMS, application keys): ${decide('boundary', 'say which policy covers them.')}`,
  ];
}

function approval(f: PracticeFacts): string[] {
  return [
    `- Approval authority: ${decide('approver', 'who approves this statement and its changes (e.g. the CISO or a security committee).')}`,
    `- Date of approval and effective date: ${decide('dates', 'filled in when approved.')}`,
    `- Review: Custos reports a finding (POLICY_REVIEW_DUE) when no review was recorded in the last ${f.limits.policyReviewDays} days; ` +
      `a security officer records a review with both factors. ${f.policyReviews.length ? `Reviews recorded: ${f.policyReviews.map(day).join(', ')}.` : 'No review is recorded yet.'}`,
    `- Review cadence, if more often than yearly: ${decide('review cadence', 'e.g. yearly and after every custodian turnover, incident or change of HSM.')}`,
  ];
}

function roles(f: PracticeFacts): string[] {
  const custodies = f.custodies.map(
    (c) =>
      `- Token ${c.token}: user and SO PINs drawn from the token's RNG` +
      `${c.pinBits ? ` (${c.pinBits} bits)` : ''}, split ${c.threshold} of ${c.holders.length} (Shamir) among ` +
      `${c.holders.join(', ')}; nobody knows a PIN.`,
  );
  return [
    `- Custodians (hold PIN shares, approve quorum actions): ${names(f.people.custodians)}.`,
    `- Security officers (enrol people, lift lockouts, emergency suspension, record validations and reviews): ${names(f.people.securityOfficers)}.`,
    `- Auditors (verify logs and reports): ${names(f.people.auditors)}.`,
    `- Every person proves a passphrase (scrypt) and a TOTP code (RFC 6238) for every step; each code is accepted once. ` +
      `After ${f.factors.throttleAfter} failures in a row a person is slowed down; after ${f.factors.lockAfter}, locked until a security officer unlocks them, except the last security officer not locked out, who is slowed down instead (at most an hour a try) so that one always remains to unlock.`,
    ...(custodies.length ? custodies : ['- No token is in custody yet.']),
    `- Quorum actions (each needs the token's threshold of share holders, and the requester never approves their own): ${f.quorumActions.join('; ')}.`,
    ...f.actionPolicies.map(
      (p) => `- ${p.action}: additionally ${plural(p.securityOfficers, 'security officer')}; one person counts once.`,
    ),
    `- A security officer alone may only: ${f.emergencyTransitions.map((t) => `${t.transition} (from ${t.from.join(', ')} to ${t.to})`).join('; ')}.`,
    `- Who may hold which role, and incompatible roles: ${decide('separation of duties', 'e.g. no custodian is also the auditor of their own ceremonies; custodians from at least two departments.')}`,
    `- Minimum and maximum number of custodians per token: ${decide('custodian numbers', 'PCI DSS 3.6.1.2 asks for the fewest custodians necessary.')}`,
  ];
}

function generation(f: PracticeFacts): string[] {
  const offered = f.algorithms.filter((a) => a.generated);
  return [
    '- Keys are generated inside the token (CKA_LOCAL), sensitive; a key that may be backed up is extractable only under a trusted wrapping key (CKA_WRAP_WITH_TRUSTED), every other key never leaves the token.',
    '- Every generation is a quorum action: approvers approve the SHA-256 fingerprint of the exact label, algorithm, usage, cryptoperiod and token.',
    '- Random values (PINs, key-encrypting keys) come from the token (C_GenerateRandom).',
    '',
    'Algorithm policy (SP 800-131A Rev 2, NIST IR 8547 ipd), as enforced on ' + day(f.generatedAt) + ':',
    '',
    ...table(
      ['Algorithm', 'Generated by Custos', 'Deprecated from', 'Disallowed from', 'Source'],
      f.algorithms.map((a) => [
        a.algorithm,
        a.generated ? 'yes' : 'no',
        a.deprecatedFrom ?? '—',
        a.disallowedFrom ?? 'no end date',
        a.source,
      ]),
    ),
    '',
    `- Algorithms the organisation permits, of those Custos offers (${offered.map((a) => a.algorithm).join(', ')}): ${decide('permitted algorithms', 'e.g. only EC-P384 and AES-256 for new keys; and the plan for the quantum-vulnerable ones before their end dates.')}`,
  ];
}

function distribution(f: PracticeFacts): string[] {
  return [
    '- Private and secret keys are never distributed: they stay in the token that generated them, or travel only wrapped (RFC 5649) in a backup file under a key-encrypting key split among card holders (section 9).',
    '- Public keys are exported as PEM or JWK (`custos key export`), identified by the SHA-256 fingerprint of the key; AES keys by their check value.',
    `- Each report and backup file names the installation and audit key that made it (${f.installation.origin}).`,
    `- How a public key's recipient checks its fingerprint: ${decide('fingerprint check', 'e.g. read aloud on a call, or compared against the signed generation report.')}`,
    `- Who may receive public keys and certificates: ${decide('recipients', 'e.g. the PKI team and named relying parties.')}`,
  ];
}

function storage(f: PracticeFacts): string[] {
  return [
    ...(f.tokens.length
      ? [
          ...f.tokens.map(
            (t) => `- Token ${t.token}: ${t.kind}${t.model ? `, ${t.model}` : ''}; validation: ${t.validation}.`,
          ),
          '',
        ]
      : f.custodies.length
        ? []
        : ['- No token is in custody yet.', '']),
    'Token modules in use and their recorded validation (a software token never counts as validated):',
    '',
    ...table(
      ['Module', 'Description', 'Validation'],
      f.modules.map((m) => [m.path, m.description, m.validation]),
    ),
    '',
    '- PIN shares are sealed with AES-256-GCM under a key derived from each holder’s passphrase; the database alone yields no PIN, share, TOTP secret or key.',
    `- The validation level the organisation requires for production keys: ${decide('module assurance', 'e.g. FIPS 140-3 level 3 for production; software tokens for rehearsal only.')}`,
    `- Where tokens, backup share cards and backup files are kept: ${decide('storage locations', 'e.g. HSM in the server room rack; each card in its holder’s own safe, never two cards in one place; backup files on two offline media in different sites.')}`,
  ];
}

function usage(f: PracticeFacts): string[] {
  return [
    '- Each key has one usage (sign, encrypt or wrap), fixed at generation; key states follow SP 800-57 Part 1 §7: pre-activation, active, suspended, deactivated, compromised, destroyed, with only the transitions it allows.',
    '- Activation, deactivation and reactivation are quorum actions; a key waiting for destruction cannot be used.',
    `- Approved shares are held in memory for ${f.quorum.holdMinutes} minutes at most, and a proposal expires after ${f.quorum.proposalMinutes} minutes: the token is opened only for the approved operation, then closed and the PIN overwritten.`,
    `- Applications allowed to use each key, and for what: ${decide('authorised uses', 'e.g. the payments-signing key only by the payment gateway.')}`,
  ];
}

function rotation(f: PracticeFacts): string[] {
  return [
    'Default cryptoperiods (SP 800-57 Part 1 Rev 5, Table 1); the quorum sets a key’s period when it approves its generation:',
    '',
    ...table(
      ['Usage', 'Default cryptoperiod'],
      f.cryptoperiods.map((c) => [c.usage, `${c.defaultDays} days`]),
    ),
    '',
    ...(f.cryptoperiodOverrides.length
      ? [
          'Keys whose cryptoperiod differs from the default:',
          '',
          ...table(
            ['Key', 'Algorithm', 'Usage', 'Cryptoperiod', 'Default'],
            f.cryptoperiodOverrides.map((k) => [
              k.label,
              k.algorithm,
              k.usage,
              `${k.days} days`,
              `${k.defaultDays} days`,
            ]),
          ),
          '',
        ]
      : ['- Every key in the inventory has its usage’s default cryptoperiod.', '']),
    '- Custos reports keys within 30 and 7 days of the end of their cryptoperiod and past it (KEY_CRYPTOPERIOD_30_DAYS, _7_DAYS, _ENDED), and keys whose algorithm is deprecated or disallowed.',
    `- Rotation procedure and lead time: ${decide('rotation', 'e.g. a successor key generated 90 days before the end of the cryptoperiod, the old one deactivated when relying parties have moved.')}`,
  ];
}

function backup(f: PracticeFacts): string[] {
  return [
    '- Backup-able keys are wrapped (RFC 5649) under a fresh 256-bit KEK from the token, imported as trusted and wrap-only; the KEK exists only as t-of-n share cards, each checked on entry and health-checked by its holder.',
    '- Every backup is verified in the token before its cards are printed; restore proves every key (check value or public key) before keeping any; restoring a key recorded as destroyed needs the quorum to approve exactly that.',
    `- Backup sets today: ${f.backups.sets}${f.backups.thresholds.length ? ` (${f.backups.thresholds.join('; ')})` : ''}${f.backups.unverified ? `, ${f.backups.unverified} not verified` : ''}.`,
    `- Custos reports a card not checked by its holder for ${f.limits.shareCheckMonths} months (SHARE_CARDS_NOT_CHECKED) and a backup-able key without a verified backup (KEY_WITHOUT_VERIFIED_BACKUP).`,
    `- Which keys must be backed up, and how many card holders per set: ${decide('backup scope', 'e.g. every wrap key, 3 of 5 holders in two sites.')}`,
    `- How often holders check their cards and a restore is rehearsed: ${decide('recovery tests', 'e.g. cards checked quarterly; a restore rehearsed yearly into a spare token.')}`,
  ];
}

function compromise(f: PracticeFacts): string[] {
  const officer = f.emergencyTransitions.map((t) => t.transition).join(' or ');
  return [
    `- A security officer may ${officer} a key alone, at once (both factors); a compromised key is never used again.`,
    '- A compromised custodian or card: the quorum redeals the token’s PIN to new holders (custody.redeal), which invalidates every old share; a new backup set replaces a set whose cards are exposed.',
    '- Marking a key compromised needs the officer’s reason and signs a revocation notice (JSON, detached signature ' +
      'and PDF) for relying parties; a compromise impact report lists every operation, backup set, token and report ' +
      'that held or used the key.',
    '- Every step is an audit entry; Custos reports a compromised key still in a token or a backup set, or one without ' +
      'a revocation notice, as a finding.',
    `- Who is told, and how fast: ${decide('notification', 'e.g. the CISO within 1 hour, relying parties within 24 hours.')}`,
    `- What counts as a suspected compromise: ${decide('triggers', 'e.g. a lost card, a custodian leaving under dispute, a failed audit verification.')}`,
    `- Replacement and revocation of certificates: ${decide('recovery plan', 'name the PKI steps that follow a compromise.')}`,
  ];
}

function destruction(f: PracticeFacts): string[] {
  const officers = f.actionPolicies.find((p) => p.action.startsWith('Destroy'))?.securityOfficers ?? 0;
  return [
    `- Scheduled by the quorum with a waiting period of ${f.destruction.minDays} to ${f.destruction.maxDays} days (default ${f.destruction.defaultDays}), cancellable by the quorum during it.`,
    `- Carried out by the quorum${officers ? ` and ${plural(officers, 'security officer')}` : ''}; the absence of the key's objects is proven by a search in the token and recorded, with a signed destruction certificate.`,
    `- Waiting period the organisation uses: ${decide('waiting period', `between ${f.destruction.minDays} and ${f.destruction.maxDays} days.`)}`,
    `- Destruction of retired tokens, share cards and backup media: ${decide('media destruction', 'e.g. cards shredded before two witnesses; tokens zeroised and returned to the vendor.')}`,
  ];
}

function auditReview(f: PracticeFacts): string[] {
  return [
    '- Every request, approval, refusal and failure is a signed audit entry in an RFC 6962 Merkle tree.',
    `- A checkpoint is signed after each ceremony, on every export and at least every ${f.installation.checkpointEvery} entries; the latest is also kept in the audit token${f.installation.anchorCopy ? ' and in a second copy (removable media)' : ''}.`,
    `- Last recorded verification of the log: ${f.installation.lastVerification ? day(f.installation.lastVerification) : 'none yet'}. Custos reports a finding (AUDIT_NOT_VERIFIED) when none was recorded in the last ${f.limits.auditVerifyDays} days.`,
    `- Who reviews the log and reports, and how often: ${decide('audit review cadence', 'e.g. an auditor verifies the log monthly (`custos audit verify`) and keeps an exported checkpoint off the machine.')}`,
    `- Where checkpoints and reports are kept outside the machine: ${decide('evidence retention', 'e.g. printed into the ceremony binder and kept 7 years.')}`,
  ];
}

function training(f: PracticeFacts): string[] {
  const r = f.rehearsals;
  return [
    '- Custodians train by rehearsing ceremony scripts (Rehearse this script in the app, or `custos ceremony rehearse ' +
      'FILE`): the same script, with their own passphrase and authenticator, runs in a scratch installation on a ' +
      'software token, touching no real token ' +
      'or key; its report says REHEARSAL on every page, and the rehearsal is recorded in the audit log with the ' +
      'script’s SHA-256 and the people who took part.',
    ...(r
      ? [
          `- Rehearsals passed so far: ${r.passed}. A real run ${r.required ? 'needs' : 'does not need'} a passed rehearsal of the same script (the rehearsal policy, set by a security officer).`,
          `- Custodians holding a share who never took part in a passed rehearsal: ${r.neverRehearsed.length ? r.neverRehearsed.join(', ') : 'none'}. The analyzer reports each (CUSTODIAN_NEVER_REHEARSED).`,
        ]
      : []),
    `- Training before a person is enrolled: ${decide('training', 'e.g. a rehearsal of the next ceremony script before first custody.')}`,
    `- Refresher training and how it is recorded: ${decide('refresher', 'e.g. a rehearsal before every real ceremony, recorded by Custos.')}`,
    `- Custodians acknowledge their responsibilities in writing: ${decide('acknowledgement', 'PCI DSS 3.6.1.4 asks for it.')}`,
  ];
}

function physical(f: PracticeFacts): string[] {
  return [
    '- Custos is built to run offline, on a machine kept for ceremonies, with the token attached.',
    `- Where that machine and the tokens are kept, and who may enter: ${decide('physical security', 'e.g. a locked room with access logs; two people present at every ceremony.')}`,
    `- Vetting of custodians and security officers: ${decide('personnel vetting', 'e.g. background checks before appointment.')}`,
    `- Leaving and role changes: ${decide('turnover', `e.g. a custody redeal within 5 working days of a holder leaving; there are ${plural(f.people.custodians.length, 'custodian')} today.`)}`,
    `- Witnesses at ceremonies: ${decide('witnesses', 'e.g. internal audit signs off on every generation and destruction (`custos report witness`).')}`,
  ];
}

function control(f: PracticeFacts): string[] {
  const cp = f.installation.latestCheckpoint;
  return [
    ...table(
      ['Version', 'Date', 'Author', 'Change', 'Approved by'],
      [
        [
          '0.1 (draft)',
          day(f.generatedAt),
          `Custos${f.version ? ` ${f.version}` : ''}`,
          'Generated from the installation’s configuration',
          `[${DECIDE_MARK}]`,
        ],
      ],
    ),
    '',
    'Generated from:',
    '',
    ...table(
      ['Fact', 'Value'],
      [
        ['Installation', f.installation.origin],
        ['Generated at', f.generatedAt],
        ['Audit log size', String(f.installation.auditSize)],
        ['Audit log root (SHA-256, base64)', f.installation.auditRoot],
        ['Latest signed checkpoint', cp ? `${cp.treeSize} entries, ${cp.createdAt}` : 'none'],
      ],
    ),
    '',
    '- The audit log root lets a reader check, with `custos audit proof` and `custos audit consistency`, that the configuration described here is the one the log recorded.',
    `- Where the approved statement is kept and who may change it: ${decide('document custody', 'e.g. the policy repository, changes by the owner only.')}`,
  ];
}
