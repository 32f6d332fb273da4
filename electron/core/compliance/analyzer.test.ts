import { describe, expect, it } from 'vitest';
import { analyze, type ComplianceInputs } from './analyzer';

const NOW = new Date('2027-03-01T12:00:00Z');
const at = (days: number) => new Date(NOW.getTime() + days * 86_400_000).toISOString();
const key = (id: string, over: Partial<ComplianceInputs['keys'][number]> = {}): ComplianceInputs['keys'][number] => ({
  id,
  label: id,
  algorithm: 'AES-256',
  state: 'active',
  expiresAt: at(400),
  backupable: false,
  destructionNotBefore: null,
  ...over,
});

/** A configuration with nothing to find. */
function clean(): ComplianceInputs {
  return {
    now: NOW,
    custodies: [{ id: 'c1', token: 'vault (1234)', threshold: 2, holders: 3 }],
    keys: [key('k-aes'), key('k-backed', { backupable: true })],
    modules: [
      {
        path: '/opt/hsm/libpkcs11.so',
        description: 'Acme HSM',
        software: null,
        validation: { modulePath: '/opt/hsm/libpkcs11.so', standard: 'FIPS 140-3', certificate: '4711', level: 3 },
      },
    ],
    lastAuditVerification: at(-2),
    backups: [
      {
        setId: 'b'.repeat(32),
        keyIds: ['k-backed'],
        verifiedAt: at(-10),
        createdAt: at(-10),
        holders: [
          { name: 'Ada', lastChecked: at(-5) },
          { name: 'Babbage', lastChecked: null },
        ],
      },
    ],
    policyReviewedAt: at(-100),
  };
}

const rules = (inputs: ComplianceInputs) => analyze(inputs).map((f) => f.rule);

describe('the policy analyzer', () => {
  it('finds nothing in a clean configuration', () => {
    expect(analyze(clean())).toEqual([]);
  });

  it('reports one of each misconfiguration exactly once, most severe first, each with evidence and a fix', () => {
    const inputs = clean();
    inputs.custodies.push({ id: 'c2', token: 'all-or-nothing (9)', threshold: 3, holders: 3 });
    inputs.pendingCustodies = [{ id: 'c3', token: 'half-done (7)', createdAt: at(-1) }];
    inputs.keys.push(
      key('k-expired', { expiresAt: at(-1) }),
      key('k-week', { expiresAt: at(5) }),
      key('k-month', { expiresAt: at(20) }),
      key('k-waiting', { destructionNotBefore: at(12) }),
      key('k-ec', { algorithm: 'EC-P256' }),
      key('k-rsa1024', { algorithm: 'RSA-1024' }),
      key('k-unbacked', { backupable: true }),
      key('k-compromised', { state: 'compromised' }),
    );
    inputs.modules.push({
      path: '/usr/lib/softhsm/libsofthsm2.so',
      description: 'SoftHSM2',
      software: { product: 'SoftHSM2', reason: 'Custos’s built-in SoftHSM2 rehearsal store.' },
      validation: null,
    });
    inputs.modules.push({
      path: '/opt/old/p11.so',
      description: 'Old HSM',
      software: null,
      validation: { modulePath: '/opt/old/p11.so', standard: 'FIPS 140-2', certificate: '3000', level: 3 },
    });
    inputs.modules.push({ path: '/opt/new/p11.so', description: 'Unrecorded HSM', software: null, validation: null });
    inputs.lastAuditVerification = at(-45);
    inputs.backups[0]!.holders[1]!.lastChecked = at(-200);
    inputs.backups[0]!.keyIds.push('k-compromised');
    inputs.policyReviewedAt = at(-400);
    const findings = analyze(inputs);
    expect(findings.map((f) => f.rule).sort()).toEqual(
      [
        'ALGORITHM_DISALLOWED',
        'AUDIT_NOT_VERIFIED',
        'CUSTODY_PENDING',
        'KEY_CRYPTOPERIOD_30_DAYS',
        'KEY_CRYPTOPERIOD_7_DAYS',
        'KEY_CRYPTOPERIOD_ENDED',
        'KEY_COMPROMISED_IN_TOKEN',
        'KEY_COMPROMISED_NO_NOTICE',
        'KEY_COMPROMISED_IN_BACKUP',
        'KEY_PENDING_DESTRUCTION',
        'KEY_WITHOUT_VERIFIED_BACKUP',
        'MODULE_FIPS_140_2_HISTORICAL',
        'MODULE_NOT_VALIDATED',
        'MODULE_NOT_VALIDATED',
        'POLICY_REVIEW_DUE',
        'QUANTUM_VULNERABLE_INVENTORY',
        'QUORUM_T_EQUALS_N',
        'SHARE_CARDS_NOT_CHECKED',
      ].sort(),
    );
    expect(new Set(findings.map((f) => `${f.rule}/${f.subject}`)).size).toBe(findings.length);
    expect(findings[0]!.severity).toBe('critical');
    for (const f of findings) {
      expect(f.evidence.length).toBeGreaterThan(0);
      expect(f.fix.length).toBeGreaterThan(10);
      expect(f.controls.length).toBeGreaterThan(0);
    }
    expect(findings.find((f) => f.rule === 'KEY_PENDING_DESTRUCTION')!.title).toContain('12 days left');
    expect(findings.find((f) => f.rule === 'QUANTUM_VULNERABLE_INVENTORY')!.evidence.join()).toContain('2036-01-01');
    expect(findings.find((f) => f.subject === '/usr/lib/softhsm/libsofthsm2.so')!.evidence.join(' ')).toContain(
      'never counts as validated',
    );
  });

  it('names a list refused as tampered once per list, critical, with the refusal as its evidence', () => {
    const message = 'The record of key k-gone was deleted outside Custos: the audit log records it.';
    const findings = analyze({
      ...clean(),
      keys: [],
      tampered: [{ subject: 'keys', code: 'KEY_TAMPERED', message }],
    });
    expect(findings).toEqual([
      expect.objectContaining({
        rule: 'RECORD_TAMPERED',
        subject: 'keys',
        severity: 'critical',
        title: expect.stringMatching(/^A record in the key inventory was changed or deleted outside Custos/),
        evidence: [`KEY_TAMPERED: ${message}`],
      }),
    ]);
  });

  it('flags a software token of any maker as not validated, even with a certificate recorded for its library', () => {
    const path = '/usr/lib/x86_64-linux-gnu/opencryptoki/libopencryptoki.so.0.0.0';
    const reason =
      'Every token “IBM Meta PKCS11 LIBRARY” shows is a known software token (opencryptoki software token).';
    const findings = analyze({
      ...clean(),
      modules: [
        {
          path,
          description: 'IBM Meta PKCS11 LIBRARY',
          software: { product: 'opencryptoki software token', reason },
          validation: { modulePath: path, standard: 'FIPS 140-3', certificate: '4711', level: 1 },
        },
      ],
    });
    expect(findings).toEqual([
      expect.objectContaining({
        rule: 'MODULE_NOT_VALIDATED',
        subject: path,
        severity: 'high',
        title:
          'IBM Meta PKCS11 LIBRARY is a software token (opencryptoki software token), not a FIPS 140-3 validated HSM',
        evidence: [`${path}: ${reason}`, expect.stringContaining('whatever certificate is recorded')],
      }),
    ]);
  });

  it('finds a compromised key still in the token (high) until it is destroyed, scheduled or not', () => {
    // Its revocation notice was signed: only the token's copy is left to find.
    const noticed = { revocationNotices: ['k'] };
    expect(analyze({ ...clean(), ...noticed, keys: [key('k', { state: 'compromised' })] })).toEqual([
      expect.objectContaining({
        rule: 'KEY_COMPROMISED_IN_TOKEN',
        subject: 'k',
        severity: 'high',
        evidence: ['“k” (AES-256) is in state compromised, not destroyed, and no destruction is scheduled'],
      }),
    ]);
    const scheduled = {
      ...clean(),
      ...noticed,
      keys: [key('k', { state: 'compromised', destructionNotBefore: at(10) })],
    };
    expect(rules(scheduled)).toEqual(['KEY_COMPROMISED_IN_TOKEN', 'KEY_PENDING_DESTRUCTION']);
    // The wait ends at an hour, not a day: it says which, in UTC, as the Keys screen does.
    expect(analyze(scheduled).map((f) => f.evidence)).toEqual([
      ['“k” (AES-256) is in state compromised, not destroyed; destruction possible from 2027-03-11 12:00 UTC'],
      ['destruction possible from 2027-03-11 12:00 UTC'],
    ]);
    expect(rules({ ...clean(), keys: [key('k', { state: 'destroyed' })] })).toEqual([]);
  });

  it('flags a destruction cut short until a new one finishes it', () => {
    const partlyDestroyed = { proposalId: 'p1', destroyed: ['private key'], remaining: ['public key'] };
    const cutShort = { ...clean(), keys: [key('k', { destructionNotBefore: at(-1), partlyDestroyed })] };
    expect(analyze(cutShort).find((f) => f.rule === 'KEY_PARTLY_DESTROYED')).toMatchObject({
      subject: 'k',
      severity: 'high',
      evidence: ['proposal p1 destroyed private key; still in the token: public key'],
    });
    expect(rules({ ...clean(), keys: [key('k', { state: 'destroyed', partlyDestroyed })] })).toEqual([]);
  });

  it('flags rotation by the rotation date, which the algorithm policy may bring before the cryptoperiod’s end', () => {
    const found = (over: Partial<ComplianceInputs['keys'][number]>) =>
      analyze({ ...clean(), keys: [key('k', { label: 'payments-signing', expiresAt: at(400), ...over })] });
    // Due within 30 days: a warning that names the key and how to rotate it.
    const [due] = found({ rotateBy: at(20) });
    expect(due).toMatchObject({
      rule: 'KEY_CRYPTOPERIOD_30_DAYS',
      severity: 'low',
      title: '“payments-signing” is due for rotation in 20 days',
      fix: expect.stringContaining('--action key.rotate --param keyId=k'),
    });
    expect(due?.evidence[1]).toBe(
      `rotate by ${at(20).slice(0, 10)} (the policy disallows AES-256 from ${at(20).slice(0, 10)})`,
    );
    // Past it: overdue, whatever the cryptoperiod says.
    expect(found({ rotateBy: at(-3) })).toEqual([
      expect.objectContaining({
        rule: 'KEY_CRYPTOPERIOD_ENDED',
        severity: 'high',
        title: '“payments-signing” is past its rotation date: rotation is overdue',
      }),
    ]);
    // The clock moved on by a month: the same key is now overdue.
    const later = {
      ...clean(),
      now: new Date(NOW.getTime() + 31 * 86_400_000),
      keys: [key('k', { rotateBy: at(20) })],
    };
    expect(rules(later).filter((r) => r.startsWith('KEY_'))).toEqual(['KEY_CRYPTOPERIOD_ENDED']);
    // A rotated key (deactivated, no rotation date of its own) is not flagged.
    expect(found({ state: 'deactivated', rotateBy: null, expiresAt: at(-3) })).toEqual([]);
  });

  it('asks for a revocation notice for a compromised key until one is signed', () => {
    const compromised = { ...clean(), keys: [key('k', { state: 'compromised' })] };
    expect(analyze(compromised)).toContainEqual(
      expect.objectContaining({
        rule: 'KEY_COMPROMISED_NO_NOTICE',
        subject: 'k',
        severity: 'high',
        fix: expect.stringContaining('custos report create --revocation k'),
      }),
    );
    expect(rules({ ...compromised, revocationNotices: ['other'] })).toContain('KEY_COMPROMISED_NO_NOTICE');
    expect(rules({ ...compromised, revocationNotices: ['k'] })).not.toContain('KEY_COMPROMISED_NO_NOTICE');
    // A key never compromised needs no notice.
    expect(rules({ ...clean(), revocationNotices: [] })).toEqual([]);
  });

  it('flags each share holder who never took part in a passed rehearsal, until they do', () => {
    const holders = [
      { id: 'ada', name: 'Ada' },
      { id: 'bab', name: 'Babbage' },
    ];
    const tracked = (rehearsed: string[]) => ({
      ...clean(),
      rehearsals: { holders, rehearsed, passed: rehearsed.length ? 1 : 0, required: false },
    });
    expect(analyze(tracked(['ada']))).toEqual([
      expect.objectContaining({ rule: 'CUSTODIAN_NEVER_REHEARSED', subject: 'bab', severity: 'medium' }),
    ]);
    expect(rules(tracked(['ada', 'bab', 'eve']))).toEqual([]);
    // Where rehearsals are not tracked, nobody is flagged.
    expect(rules(clean())).toEqual([]);
  });

  it('names every backup set still holding a compromised key, until the key is destroyed', () => {
    const inputs = { ...clean(), revocationNotices: ['k-backed'] };
    inputs.keys = [key('k-backed', { backupable: true, state: 'compromised' })];
    inputs.backups.push({ ...inputs.backups[0]!, setId: 'c'.repeat(32), createdAt: at(-3) });
    expect(analyze(inputs)).toContainEqual(
      expect.objectContaining({
        rule: 'KEY_COMPROMISED_IN_BACKUP',
        subject: 'k-backed',
        severity: 'medium',
        title: '“k-backed” is marked compromised and 2 backup sets hold a copy',
        evidence: [
          `backup set ${'b'.repeat(32)} (made ${at(-10).slice(0, 10)}) holds key k-backed`,
          `backup set ${'c'.repeat(32)} (made ${at(-3).slice(0, 10)}) holds key k-backed`,
        ],
      }),
    );
    expect(rules({ ...inputs, backups: [] })).not.toContain('KEY_COMPROMISED_IN_BACKUP');
    // Destroyed, the key is no longer compromised in a backup: the sets still holding it are named by the rule that a
    // destruction covers every copy, until they are retired.
    const destroyed = { ...inputs, keys: [key('k-backed', { backupable: true, state: 'destroyed' })] };
    expect(rules(destroyed)).toEqual(['DESTROYED_KEY_IN_LIVE_BACKUP']);
    expect(rules({ ...destroyed, backups: destroyed.backups.map((b) => ({ ...b, retiredAt: at(-1) })) })).toEqual([]);
  });

  it('puts each date-dependent finding on the right side of its threshold', () => {
    const withKey = (over: Partial<ComplianceInputs['keys'][number]>) => rules({ ...clean(), keys: [key('k', over)] });
    expect(withKey({ expiresAt: at(31) })).toEqual([]);
    expect(withKey({ expiresAt: at(30) })).toEqual(['KEY_CRYPTOPERIOD_30_DAYS']);
    expect(withKey({ expiresAt: at(8) })).toEqual(['KEY_CRYPTOPERIOD_30_DAYS']);
    expect(withKey({ expiresAt: at(7) })).toEqual(['KEY_CRYPTOPERIOD_7_DAYS']);
    expect(withKey({ expiresAt: at(0.5) })).toEqual(['KEY_CRYPTOPERIOD_7_DAYS']);
    expect(withKey({ expiresAt: at(0) })).toEqual(['KEY_CRYPTOPERIOD_ENDED']);
    expect(withKey({ expiresAt: at(-1), state: 'deactivated' })).toEqual([]);
    expect(withKey({ expiresAt: at(-1), state: 'destroyed' })).toEqual([]);

    const rsa2048 = (day: string) =>
      rules({
        ...clean(),
        now: new Date(`${day}T12:00:00Z`),
        keys: [key('k', { algorithm: 'RSA-2048', expiresAt: '2040-01-01T00:00:00Z' })],
      }).filter((r) => r.startsWith('ALGORITHM'));
    expect(rsa2048('2030-12-31')).toEqual([]);
    expect(rsa2048('2031-01-01')).toEqual(['ALGORITHM_DEPRECATED']);
    expect(rsa2048('2035-12-31')).toEqual(['ALGORITHM_DEPRECATED']);
    expect(rsa2048('2036-01-01')).toEqual(['ALGORITHM_DISALLOWED']);

    const fips2 = (day: string) =>
      rules({
        ...clean(),
        now: new Date(`${day}T12:00:00Z`),
        lastAuditVerification: `${day}T00:00:00Z`,
        policyReviewedAt: `${day}T00:00:00Z`,
        backups: [],
        keys: [],
        modules: [
          {
            path: '/p.so',
            description: 'HSM',
            software: null,
            validation: { modulePath: '/p.so', standard: 'FIPS 140-2', certificate: '1', level: 2 },
          },
        ],
      });
    expect(fips2('2026-09-20')).toEqual([]);
    expect(fips2('2026-09-21')).toEqual(['MODULE_FIPS_140_2_HISTORICAL']);

    expect(rules({ ...clean(), lastAuditVerification: at(-30) })).toEqual([]);
    expect(rules({ ...clean(), lastAuditVerification: at(-31) })).toEqual(['AUDIT_NOT_VERIFIED']);
    expect(rules({ ...clean(), lastAuditVerification: null })).toEqual(['AUDIT_NOT_VERIFIED']);
    expect(rules({ ...clean(), policyReviewedAt: at(-365) })).toEqual([]);
    expect(rules({ ...clean(), policyReviewedAt: at(-366) })).toEqual(['POLICY_REVIEW_DUE']);
    const cardChecked = (days: number) =>
      rules({ ...clean(), backups: [{ ...clean().backups[0]!, holders: [{ name: 'Ada', lastChecked: at(-days) }] }] });
    expect(cardChecked(180)).toEqual([]);
    expect(cardChecked(181)).toEqual(['SHARE_CARDS_NOT_CHECKED']);
    expect(rules({ ...clean(), backups: [{ ...clean().backups[0]!, verifiedAt: null }] })).toEqual([
      'KEY_WITHOUT_VERIFIED_BACKUP',
    ]);
  });

  it('does not count a set whose cards never reached enough holders (the app closed before they were printed)', () => {
    const withCards = (released: number) =>
      analyze({ ...clean(), backups: [{ ...clean().backups[0]!, cards: { released, threshold: 2 } }] });
    expect(withCards(2)).toEqual([]);
    expect(withCards(1)).toMatchObject([
      {
        rule: 'KEY_WITHOUT_VERIFIED_BACKUP',
        evidence: [
          expect.any(String),
          `backup set ${'b'.repeat(32)}: only 1 of its cards reached their holders, 2 are needed`,
        ],
      },
    ]);
  });

  it('flags a destroyed or scheduled key that a live backup set still holds, naming the set, until it is retired', () => {
    const set = clean().backups[0]!;
    const destroyed = (state: string, destructionNotBefore: string | null, retiredAt: string | null) =>
      analyze({
        ...clean(),
        keys: [key('k-aes'), key('k-backed', { backupable: true, state, destructionNotBefore })],
        backups: [{ ...set, retiredAt }],
      }).filter((f) => f.rule === 'DESTROYED_KEY_IN_LIVE_BACKUP');
    const [finding] = destroyed('destroyed', null, null);
    expect(finding).toMatchObject({
      subject: 'k-backed',
      severity: 'high',
      title: '“k-backed” is destroyed, but backup set bbbbbbbb still holds a copy',
      evidence: [expect.stringContaining(`backup set ${set.setId} (2 cards: Ada, Babbage) holds key k-backed`)],
    });
    expect(destroyed('active', at(7), null)).toMatchObject([{ severity: 'medium' }]);
    expect(destroyed('destroyed', null, at(-1))).toEqual([]);
    // A retired set neither counts as the key's verified backup nor asks for its cards to be checked.
    expect(rules({ ...clean(), backups: [{ ...set, retiredAt: at(-1) }] })).toEqual(['KEY_WITHOUT_VERIFIED_BACKUP']);
  });
});
