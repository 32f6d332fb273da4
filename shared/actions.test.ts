import { describe, expect, it } from 'vitest';
import {
  ACTION_NAMES,
  ACTION_PARAMS,
  ACTIONS,
  actionParamHelp,
  describeProposal,
  describeResult,
  NO_LOOKUPS,
  type ActionName,
  type ActionParams,
  type ProposalLookups,
} from './actions';
import { CompromiseReason, ProposalView } from './quorum';

const PAYMENTS = '9730118b5f2e4c1da0b6c3e8f1a26ac1';
const OLD = '11112222333344445555666677778888';
const ADA = 'a000000000000001';
const BOB = 'b000000000000002';
const CURIE = 'c000000000000003';
const SET = 'feedfacefeedfacefeedfacefeedface';

/** What the app holds: the key list, the custodians, the tokens in custody. */
const lookups: ProposalLookups = {
  key: (id) =>
    ({
      [PAYMENTS]: { label: 'payments-signing', algorithm: 'EC-P256', state: 'active', token: { label: 'Vault A' } },
      [OLD]: {
        label: 'payments-signing-old',
        algorithm: 'RSA-3072',
        state: 'deactivated',
        token: { label: 'Vault A' },
      },
    })[id] ?? null,
  person: (id) => ({ [ADA]: 'Ada Lovelace', [BOB]: 'Bob Noyce', [CURIE]: 'Marie Curie' })[id] ?? null,
  token: (serial) => (serial === '0123' ? 'Vault A' : null),
};

/** One proposal of each action, as parsed from what a proposer gave: the catalogue must read each. */
const SAMPLES: { [A in ActionName]: ActionParams<A> } = {
  'token.quorum-drill': {},
  'key.generate': {
    algorithm: 'EC-P256',
    label: 'payments-signing',
    usage: 'sign',
    backupable: true,
    cryptoperiodDays: 365,
    ckaId: PAYMENTS,
  },
  'key.test-signature': { keyId: PAYMENTS, challenge: 'hello auditor' },
  'key.activate': { keyId: PAYMENTS },
  'key.deactivate': { keyId: PAYMENTS },
  'key.reactivate': { keyId: PAYMENTS },
  'key.schedule-destruction': { keyId: PAYMENTS, waitDays: 7 },
  'key.cancel-destruction': { keyId: OLD },
  'key.destroy': { keyId: OLD },
  'custody.redeal': { threshold: 2, holders: [ADA, BOB, CURIE] },
  'key.backup': { keyIds: [PAYMENTS, OLD], holders: [ADA, BOB, CURIE], threshold: 2, verify: true },
  'key.restore': { setId: SET, overrideDestroyed: false },
  'backup.retire': { setId: SET, reason: 'key destroyed' },
  'key.rotate': { keyId: PAYMENTS, ckaId: SET },
  'cert.self-sign': {
    keyId: PAYMENTS,
    profile: {
      subject: { commonName: 'Example Root CA', organization: 'Example', country: 'NL' },
      notBefore: '2027-01-01T00:00:00Z',
      notAfter: '2037-01-01T00:00:00Z',
      ca: true,
      keyUsage: ['keyCertSign', 'cRLSign'],
    },
    serial: `1${'0'.repeat(39)}`,
  },
  'cert.issue': {
    issuerKeyId: PAYMENTS,
    csr: `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(64)}\n-----END CERTIFICATE REQUEST-----`,
    profile: {
      subject: { commonName: 'Example Issuing CA', organization: 'Example' },
      notBefore: '2027-01-01T00:00:00Z',
      notAfter: '2032-01-01T00:00:00Z',
      ca: true,
      pathLength: 0,
      keyUsage: ['keyCertSign', 'cRLSign'],
    },
    csrSha256: 'ab'.repeat(32),
    csrSubject: 'CN=Example Issuing CA, O=Example',
    publicKeyFingerprint: 'cd'.repeat(32),
    serial: `2${'0'.repeat(39)}`,
  },
  'crl.issue': {
    issuerKeyId: PAYMENTS,
    revoke: [{ serial: `2${'0'.repeat(39)}`, reason: 'keyCompromise' }],
    nextUpdateDays: 30,
    crlNumber: 2,
  },
  'key.export-wrapped': { keyId: PAYMENTS, recipient: 'ab'.repeat(32), packageId: SET },
  'key.import-wrapped': {
    package: 'cd'.repeat(32),
    cryptoperiodDays: 365,
    ckaId: SET,
    label: 'partner-kek',
    algorithm: 'AES-256',
    usage: 'wrap',
    unwrapWith: OLD,
    from: 'outside Custos',
  },
  'rehearsal.stand-ins': {
    keys: [
      {
        keyId: OLD,
        label: 'payments-signing-old',
        algorithm: 'RSA-3072',
        usage: 'sign',
        backupable: true,
        cryptoperiodDays: 365,
        expiresAt: '2027-06-01T09:00:00.000Z',
        state: 'deactivated',
        family: null,
        version: null,
        destroyableFrom: '2027-01-08T09:00:00.000Z',
      },
    ],
  },
};

const sentence = <A extends ActionName>(action: A) => describeProposal(action, SAMPLES[action], lookups).sentence;

describe('the action catalogue', () => {
  it('declares every action once, each with a title, a report title, parameter and outcome schemas and words', () => {
    for (const action of ACTION_NAMES) {
      const spec = ACTIONS[action];
      expect(spec.title, action).toMatch(/^[A-Z]/);
      expect(spec.report.title, action).toMatch(/^[A-Z]/);
      expect(spec.params.safeParse(SAMPLES[action]).success, action).toBe(true);
      const { sentence: said, lines } = describeProposal(action, SAMPLES[action], lookups);
      expect(said, action).toMatch(/^[A-Z].*\.$/);
      // An approver reads labels and names; ids are only ever secondary detail, never in the sentence.
      expect(said, action).not.toMatch(/[0-9a-f]{16}/);
      expect(lines.every((l) => typeof l === 'string')).toBe(true);
    }
  });

  it('reads a destruction by the key’s label, algorithm, state and token, and the wait', () => {
    expect(sentence('key.schedule-destruction')).toBe(
      'Schedule destruction of “payments-signing” (EC P-256, active, token Vault A) after a 7-day wait.',
    );
    expect(sentence('key.destroy')).toBe(
      'Destroy “payments-signing-old” (RSA 3072, deactivated, token Vault A) in the token, for good: its waiting period is over.',
    );
    expect(sentence('key.cancel-destruction')).toBe(
      'Cancel the waiting destruction of “payments-signing-old” (RSA 3072, deactivated, token Vault A).',
    );
  });

  it('names every copy a destruction leaves, flagging the backup sets that can still restore the key', () => {
    const copies = [
      { kind: 'token' as const, serial: '0123', label: 'Vault A' },
      {
        kind: 'backup' as const,
        setId: SET,
        threshold: 2,
        holders: ['Ada Lovelace', 'Bob Noyce', 'Marie Curie'],
        retiredAt: null,
      },
    ];
    const { lines } = describeProposal('key.schedule-destruction', { keyId: PAYMENTS, waitDays: 7, copies }, lookups);
    expect(lines[0]).toBe(
      'Also held by backup set feedface (2-of-3, cards with Ada Lovelace, Bob Noyce, Marie Curie): retire that set (backup.retire) so the destruction covers every copy.',
    );
    const retired = [{ ...copies[1]!, retiredAt: '2026-12-01T10:00:00.000Z' }];
    expect(
      describeProposal('key.schedule-destruction', { keyId: PAYMENTS, waitDays: 7, copies: retired }, lookups).lines[0],
    ).toBe(
      'Also in backup set feedface (2-of-3, cards with Ada Lovelace, Bob Noyce, Marie Curie), retired 2026-12-01: it can no longer be restored.',
    );
    expect(sentence('backup.retire')).toBe(
      'Retire backup set feedface…face for good (“key destroyed”): it is never restored again, and each card holder then confirms their card destroyed.',
    );
  });

  it('reads key state changes and a test signature by label', () => {
    expect(sentence('key.activate')).toBe('Activate “payments-signing” (EC P-256, active, token Vault A).');
    expect(sentence('key.deactivate')).toBe('Deactivate “payments-signing” (EC P-256, active, token Vault A).');
    expect(sentence('key.reactivate')).toBe('Reactivate “payments-signing” (EC P-256, active, token Vault A).');
    expect(sentence('key.test-signature')).toBe(
      'Sign the text “hello auditor” with “payments-signing” (EC P-256, active, token Vault A), to prove the key in the token is the one on record.',
    );
  });

  it('reads a key generation as what comes out, its CKA_ID only as a detail', () => {
    expect(describeProposal('key.generate', SAMPLES['key.generate'], lookups)).toEqual({
      sentence:
        'Generate the EC P-256 sign key “payments-signing” in the token, backup-able, for a 365-day cryptoperiod.',
      lines: [`CKA_ID: ${PAYMENTS}`],
    });
  });

  it('refuses a key label, a challenge or a compromise reason that would read to people as something else', () => {
    for (const bad of ['payments\u202egnis', 'payments\nApproved by the security officer', 'pay\x1b[2Kments']) {
      expect(ACTION_PARAMS['key.generate'].safeParse({ ...SAMPLES['key.generate'], label: bad }).success).toBe(false);
      expect(ACTION_PARAMS['key.test-signature'].safeParse({ keyId: PAYMENTS, challenge: bad }).success).toBe(false);
      expect(CompromiseReason.safeParse(bad).success).toBe(false);
    }
  });

  it('reads a rotation by the old key’s label and what the old key may still do, the successor’s CKA_ID only as a detail', () => {
    expect(describeProposal('key.rotate', SAMPLES['key.rotate'], lookups)).toEqual({
      sentence:
        'Rotate “payments-signing” (EC P-256, active, token Vault A): generate its successor in the same token with the same ' +
        'usage and custody; the old key may then only verify, decrypt or unwrap, never sign, encrypt or wrap again.',
      lines: [`Key id: ${PAYMENTS}`, `Successor CKA_ID: ${SET}`],
    });
    expect(sentence('key.rotate')).not.toContain(SET);
    // The package carries no end of the key's usage period at its origin: the approvers are told the period is new.
    expect(sentence('key.import-wrapped')).toContain(
      'for a 365-day cryptoperiod counted from the import. The package does not say when the key’s use ends at its ' +
        'origin: check it does not end sooner.',
    );
    expect(
      describeProposal('key.rotate', { keyId: PAYMENTS, ckaId: SET, algorithm: 'EC-P384' }, lookups).sentence,
    ).toContain('with the same usage and custody, as EC P-384;');
    expect(actionParamHelp('key.rotate').map((p) => p.name)).toEqual([
      'keyId',
      'algorithm',
      'acceptUnrestrictedExport',
    ]);
  });

  it('says in a rotation’s outcome whether the token or only Custos keeps the old key from new protection', () => {
    const rotated = {
      keyId: PAYMENTS,
      successorId: SET,
      label: 'payments-signing',
      algorithm: 'EC-P256',
      family: PAYMENTS,
      version: 2,
      fingerprint: 'ab'.repeat(32),
      kcv: null,
      turnedOff: ['CKA_SIGN'],
    };
    const onToken = describeResult('key.rotate', { ...rotated, postOperational: 'token', tokenRefusal: null }, lookups);
    expect(onToken[0]).toBe(
      `“payments-signing” version 2 (EC P-256), id ${SET}, replaces “payments-signing” (EC P-256, active, token Vault A).`,
    );
    expect(onToken.at(-1)).toBe('The token itself now refuses the old key for new protection (CKA_SIGN set to false).');
    const byCustos = describeResult(
      'key.rotate',
      { ...rotated, postOperational: 'custos', tokenRefusal: 'CKR_ACTION_PROHIBITED' },
      lookups,
    );
    expect(byCustos.at(-1)).toBe(
      'The token refused to change the old key (CKR_ACTION_PROHIBITED), so it would still allow CKA_SIGN; Custos refuses to use it for them.',
    );
  });

  it('names holders, not ids, for a change of holders and a backup', () => {
    expect(sentence('custody.redeal')).toBe(
      'Hand the token to Ada Lovelace, Bob Noyce, Marie Curie: any 2 of the 3 open it.',
    );
    expect(sentence('key.backup')).toBe(
      'Back up “payments-signing” (EC P-256, active, token Vault A), “payments-signing-old” (RSA 3072, deactivated, token Vault A) on share cards for ' +
        'Ada Lovelace, Bob Noyce, Marie Curie: any 2 of them restore it; each copy is checked in the token first.',
    );
  });

  it('reads a drill and a restore', () => {
    expect(sentence('token.quorum-drill')).toBe(
      'Prove that the holders can open the token together; nothing on it changes.',
    );
    expect(sentence('key.restore')).toBe('Restore the keys of backup set feedface…face into the token.');
  });

  it('reads a retirement or restore with the set’s keys, holders and origin where the caller lists backup sets', () => {
    const withSets: ProposalLookups = {
      ...lookups,
      backup: (setId) =>
        setId === SET
          ? {
              createdAt: '2026-11-30T09:15:00.000Z',
              token: { label: 'Vault A' },
              threshold: 2,
              keys: [{ label: 'payments-signing' }, { label: 'vault-aes' }],
              holders: [{ name: 'Ada Lovelace' }, { name: 'Bob Noyce' }, { name: 'Marie Curie' }],
            }
          : null,
    };
    const set = [
      'Made 2026-11-30 09:15 UTC from token Vault A; holds “payments-signing”, “vault-aes”.',
      'Cards with Ada Lovelace, Bob Noyce, Marie Curie (any 2 restore it).',
      `Backup set: ${SET}`,
    ];
    expect(describeProposal('backup.retire', SAMPLES['backup.retire'], withSets).lines).toEqual(set);
    expect(describeProposal('key.restore', SAMPLES['key.restore'], withSets).lines).toEqual(set);
    // Where nothing lists the sets (a report's PDF), the id is all there is.
    expect(describeProposal('backup.retire', SAMPLES['backup.retire'], lookups).lines).toEqual([`Backup set: ${SET}`]);
  });

  it('says plainly when it does not know a key or a person, with the id as the only clue', () => {
    expect(describeProposal('key.destroy', { keyId: PAYMENTS }, NO_LOOKUPS).sentence).toBe(
      'Destroy key 9730118b…6ac1 (not in the inventory) in the token, for good: its waiting period is over.',
    );
    expect(
      describeProposal('custody.redeal', { threshold: 2, holders: [ADA, 'ffffffffffffffff'] }, lookups).sentence,
    ).toContain('custodian ffffffffffffffff (unknown)');
  });

  it('reads outcomes in the same words', () => {
    expect(
      describeResult(
        'key.schedule-destruction',
        { keyId: PAYMENTS, notBefore: '2026-03-08T10:00:00.000Z', waitDays: 7 },
        lookups,
      ),
    ).toEqual([
      '“payments-signing” (EC P-256, active, token Vault A) can be destroyed from 2026-03-08 10:00 UTC (a 7-day wait).',
    ]);
    const restored = {
      setId: 'feedfacefeedfacefeedfacefeedface',
      token: { serial: '42', label: 'new-vault' },
      keys: [{ keyId: PAYMENTS, label: 'payments-signing', algorithm: 'EC-P256', kcv: null }],
      authentication: 'kek-mac-verified',
      madeBy: { installation: 'custos.local/audit/1', auditKey: 'ab'.repeat(32), here: false },
    };
    expect(describeResult('key.restore', restored, lookups)[1]).toBe(
      'Backup made by installation custos.local/audit/1. Verified with the key the share cards rebuilt.',
    );
  });

  it('lists what a proposer gives, with types and defaults read from the schemas', () => {
    expect(actionParamHelp('key.schedule-destruction')).toEqual([
      expect.objectContaining({ name: 'keyId', type: 'string', required: true }),
      expect.objectContaining({ name: 'waitDays', type: 'integer 7–30', required: false, default: 30 }),
    ]);
    // The CKA_ID is chosen by Custos when proposing, never by the proposer.
    expect(actionParamHelp('key.generate').map((p) => p.name)).not.toContain('ckaId');
    expect(actionParamHelp('key.generate').find((p) => p.name === 'algorithm')?.type).toBe(
      'AES-256|RSA-3072|RSA-4096|EC-P256|EC-P384|Ed25519',
    );
    expect(actionParamHelp('token.quorum-drill')).toEqual([]);
  });

  it('types a proposal on the boundary by its action: parameters that are not that action’s are refused', () => {
    const base = {
      id: 'p',
      token: { serial: '0123', label: 'Vault A' },
      custodyId: 'c',
      requestedBy: ADA,
      fingerprint: 'f',
      shortFingerprint: 'f',
      expiresAt: '2026-01-01T00:00:00Z',
      state: 'open',
      approvals: [],
      threshold: 2,
      securityOfficersRequired: 0,
      securityOfficersApproved: 0,
      holdersToConfirm: [],
      waitingFor: [],
      interrupted: false,
      outcome: null,
      decision: null,
    };
    expect(ProposalView.safeParse({ ...base, action: 'key.destroy', params: { keyId: PAYMENTS } }).success).toBe(true);
    expect(
      ProposalView.safeParse({ ...base, action: 'key.destroy', params: { keyId: PAYMENTS, waitDays: 7 } }).success,
    ).toBe(false);
    expect(ProposalView.safeParse({ ...base, action: 'key.unheard-of', params: {} }).success).toBe(false);
  });
});
