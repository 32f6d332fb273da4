import Database from 'better-sqlite3';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import pkcs11js from 'pkcs11js';
import { findObjects } from '../hsm/find-objects';
import { DATABASE_FILE } from '../store/database';
import { sql } from '../store/sql';
import { openAudit } from '../testing/audit-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import type { CustodianSummary, Role } from '../../../shared/custodians';
import { SETUP_OFFICER } from '../testing/enrolment';
import { type CustosError, wireError } from '../errors';
import { CustodianService } from './custodian-service';
import { totpCodeAt } from './totp';

let dataDir: string;
let cleanup: () => void;
let opened: ReturnType<typeof openAudit>;
let now: Date;
let service: CustodianService;
const actions = () =>
  [...opened.audit.log().entries()]
    .map((e) => JSON.parse(e.entry) as { action: string; result: { status: string; code?: string } })
    .map((e) => `${e.action} ${e.result.status}${e.result.code ? ` ${e.result.code}` : ''}`);
const GOOD = 'quiver bassoon fjord glimmer oxide';

beforeEach(() => {
  ({ dataDir, cleanup } = tempDataDir());
  opened = openAudit(dataDir);
  now = new Date('2026-11-30T10:00:00.000Z');
  // Real scrypt at a lower cost, to keep the suite quick.
  service = new CustodianService({
    store: opened.store,
    audit: opened.audit,
    actor: { type: 'operator', id: 'test' },
    kdfCost: { N: 2 ** 14, r: 8, p: 1 },
    clock: () => now,
  });
});
afterEach(() => {
  opened.close();
  cleanup();
});

type Enrolled = CustodianSummary & { secret: string; passphrase: string };
let officers: Enrolled[];
beforeEach(() => (officers = []));
const proofOf = (who: Enrolled) => ({
  custodianId: who.id,
  passphrase: who.passphrase,
  code: totpCodeAt(who.secret, now),
});

/** Enrols as an installation must: the setup officer first, then with officers' approval. */
async function enrol(
  name: string,
  roles: Role[] = ['custodian'],
  passphrase = `${GOOD} ${name.length}`,
): Promise<Enrolled> {
  if (officers.length === 0 && !roles.includes('security-officer'))
    await enrol(SETUP_OFFICER.name, SETUP_OFFICER.roles, SETUP_OFFICER.passphrase);
  const approving = officers.slice(0, roles.includes('security-officer') ? 2 : 1).map(proofOf);
  const challenge = await service.beginEnrolment({
    name,
    roles,
    passphrase,
    ...(approving.length ? { officers: approving } : {}),
  });
  const custodian = {
    ...service.confirmEnrolment(challenge.enrolmentId, totpCodeAt(challenge.secret, now)),
    secret: challenge.secret,
    passphrase,
  };
  now = new Date(now.getTime() + 30_000);
  if (roles.includes('security-officer')) officers.push(custodian);
  return custodian;
}
const step = () => (now = new Date(now.getTime() + 30_000));

/** Enrolments of security officers that this one officer begins. */
const officerEnrolmentsBy = (officer: Enrolled) => (name: string) =>
  service.beginEnrolment({ name, roles: ['security-officer'], passphrase: GOOD, officers: [proofOf(officer)] });

/** Olga sets the installation up, then approves Ada's enrolment: its challenge, not yet confirmed. */
async function adaApprovedByOlga() {
  const officer = await enrol('Olga', ['security-officer']);
  return service.beginEnrolment({
    name: 'Ada Lovelace',
    roles: ['custodian'],
    passphrase: GOOD,
    officers: [proofOf(officer)],
  });
}

describe('enrolment', () => {
  it('shows the TOTP secret once as an otpauth URI and QR code, and saves the custodian after a first code', async () => {
    const challenge = await adaApprovedByOlga();
    expect(challenge.uri).toMatch(/^otpauth:\/\/totp\/Custos:Ada%20Lovelace\?secret=[A-Z2-7]+&issuer=Custos$/);
    expect(challenge.qrSvg).toMatch(/^<svg/);
    expect(service.list().map((c) => c.name)).toEqual(['Olga']);
    expect(() => service.confirmEnrolment(challenge.enrolmentId, '000000')).toThrow(
      expect.objectContaining({ code: 'TOTP_INCORRECT' }),
    );
    const custodian = service.confirmEnrolment(challenge.enrolmentId, totpCodeAt(challenge.secret, now));
    expect(custodian).toMatchObject({ name: 'Ada Lovelace', roles: ['custodian'], locked: false });
    expect(actions()).toContain('custodian.enrol ok');
  });

  it('ends an enrolment at its fifth wrong code, and says so by its code (the screen then drops the QR code)', async () => {
    const challenge = await adaApprovedByOlga();
    const confirm = (code: string) => {
      try {
        service.confirmEnrolment(challenge.enrolmentId, code);
        return 'enrolled';
      } catch (error) {
        return (error as { code: string }).code;
      }
    };
    // Before: the fifth was TOTP_INCORRECT like the others, so the screen kept the dead secret and its QR code.
    expect(['000000', '000001', '000002', '000003', '000004'].map(confirm)).toEqual([
      ...Array(4).fill('TOTP_INCORRECT'),
      'ENROLMENT_EXPIRED',
    ]);
    expect(confirm(totpCodeAt(challenge.secret, now))).toBe('ENROLMENT_EXPIRED');
    expect(service.list().map((c) => c.name)).toEqual(['Olga']);
  });

  it('refuses a weak passphrase and says how to make it strong', async () => {
    await expect(
      service.beginEnrolment({ name: 'Bob', roles: ['security-officer'], passphrase: 'password1' }),
    ).rejects.toMatchObject({
      code: 'PASSPHRASE_WEAK',
      remedy: expect.arrayContaining([
        expect.stringMatching(/commonly used password/),
        expect.stringMatching(/Five unrelated words/),
      ]),
    });
  });

  it.each([
    'correct horse battery staple',
    // The published example with other separators, capitals or digits for letters; another published example.
    'C0rrect.H0rse.Battery.Staple',
    'The quick brown fox jumps over the lazy dog.',
    'Summer2026!!',
    'aaa bbb ccc ddd',
    '111222333444555666777',
    'Grace Hopper quantum sparrow 1906',
    // Runs of one character between separators, and letters spelt out one by one: sequences once compacted.
    'aaa bbb ccc ddd eee fff ggg hhh',
    '1111 2222 3333 4444 5555 6666',
    'a b c d e f g h i j k l m n o p q r s t u v',
  ])('refuses the guessable passphrase “%s”, with a reason', async (passphrase) => {
    await expect(
      service.beginEnrolment({ name: 'Grace Hopper', roles: ['security-officer'], passphrase }),
    ).rejects.toMatchObject({
      code: 'PASSPHRASE_WEAK',
      remedy: expect.arrayContaining([expect.stringMatching(/guesses|name/)]),
    });
    expect(service.list()).toEqual([]);
  });

  it('accepts five words picked at random', async () => {
    await expect(
      service.beginEnrolment({
        name: 'Grace Hopper',
        roles: ['security-officer'],
        passphrase: 'tundra pixel gravy mosaic thimble',
      }),
    ).resolves.toMatchObject({ name: 'Grace Hopper' });
  });

  it('refuses a second custodian with the same name, and an expired enrolment', async () => {
    await enrol('Carol');
    await expect(
      service.beginEnrolment({ name: 'Carol', roles: ['custodian'], passphrase: GOOD }),
    ).rejects.toMatchObject({ code: 'CUSTODIAN_EXISTS' });
    const challenge = await service.beginEnrolment({
      name: 'Dave',
      roles: ['custodian'],
      passphrase: GOOD,
      officers: [proofOf(officers[0]!)],
    });
    now = new Date(now.getTime() + 11 * 60_000);
    // An enrolment left unconfirmed (the window closed) no longer holds the name once it has expired.
    const again = await service.beginEnrolment({
      name: 'Dave',
      roles: ['custodian'],
      passphrase: GOOD,
      officers: [proofOf(officers[0]!)],
    });
    expect(() => service.confirmEnrolment(challenge.enrolmentId, totpCodeAt(challenge.secret, now))).toThrow(
      expect.objectContaining({ code: 'ENROLMENT_EXPIRED' }),
    );
    expect(service.confirmEnrolment(again.enrolmentId, totpCodeAt(again.secret, now))).toMatchObject({ name: 'Dave' });
    // A space more reads the same on paper: “Olga  Setup” is the setup officer's name.
    await expect(
      service.beginEnrolment({
        name: `${SETUP_OFFICER.name.replace(' ', '  ')}`,
        roles: ['custodian'],
        passphrase: GOOD,
      }),
    ).rejects.toMatchObject({ code: 'CUSTODIAN_EXISTS' });
  });

  it('keeps neither the TOTP secret nor the passphrase in the database', async () => {
    const { secret, passphrase } = await enrol('Erin');
    opened.close();
    const bytes = readFileSync(join(dataDir, DATABASE_FILE));
    expect(bytes.includes(Buffer.from(secret))).toBe(false);
    expect(bytes.includes(Buffer.from(passphrase))).toBe(false);
    opened = openAudit(dataDir);
  });
});

describe('who may enrol whom', () => {
  const roles = (name: string) => service.list().find((c) => c.name === name)?.roles;

  it('sets the installation up once: the first person is a security officer, recorded as installation.setup', async () => {
    await expect(
      service.beginEnrolment({ name: 'Mallory', roles: ['custodian'], passphrase: GOOD }),
    ).rejects.toMatchObject({ code: 'NOT_AUTHORIZED' });
    const olga = await enrol('Olga', ['security-officer']);
    expect(actions()).toContain('installation.setup ok');
    expect(actions()).not.toContain('custodian.enrol ok');
    // After setup, nobody enrols without an officer: not even as a plain custodian.
    await expect(
      service.beginEnrolment({ name: 'Mallory', roles: ['security-officer'], passphrase: GOOD }),
    ).rejects.toMatchObject({ code: 'NOT_AUTHORIZED' });
    await expect(
      service.beginEnrolment({ name: 'Mallory', roles: ['custodian'], passphrase: GOOD }),
    ).rejects.toMatchObject({ code: 'NOT_AUTHORIZED' });
    step();
    await enrol('Ada');
    expect(roles('Ada')).toEqual(['custodian']);
    expect(actions().filter((a) => a.startsWith('custodian.enrol ') || a.startsWith('installation.setup'))).toEqual([
      'installation.setup ok',
      'custodian.enrol ok',
    ]);
    expect(olga.roles).toEqual(['security-officer']);
  });

  it('refuses approval by someone who is not a security officer, or whose factors are wrong', async () => {
    const olga = await enrol('Olga', ['security-officer']);
    const ada = await enrol('Ada');
    step();
    await expect(
      service.beginEnrolment({ name: 'Mallory', roles: ['custodian'], passphrase: GOOD, officers: [proofOf(ada)] }),
    ).rejects.toMatchObject({ code: 'NOT_AUTHORIZED' });
    await expect(
      service.beginEnrolment({
        name: 'Mallory',
        roles: ['custodian'],
        passphrase: GOOD,
        officers: [{ ...proofOf(olga), passphrase: 'not the officer at all, no' }],
      }),
    ).rejects.toMatchObject({
      code: 'PASSPHRASE_INCORRECT',
    });
    expect(roles('Mallory')).toBeUndefined();
    expect(actions()).toContain('custodian.factor.verify failed PASSPHRASE_INCORRECT');
  });

  it('needs two officers for a new security officer once two exist; one counts once', async () => {
    const olga = await enrol('Olga', ['security-officer']);
    // With one officer, that officer alone may appoint the second.
    const pat = await enrol('Pat', ['security-officer']);
    step();
    await expect(
      service.beginEnrolment({
        name: 'Mallory',
        roles: ['security-officer'],
        passphrase: GOOD,
        officers: [proofOf(olga)],
      }),
    ).rejects.toMatchObject({
      code: 'NOT_AUTHORIZED',
      message: expect.stringMatching(/two different security officers/),
    });
    step();
    await expect(
      service.beginEnrolment({
        name: 'Mallory',
        roles: ['security-officer'],
        passphrase: GOOD,
        officers: [proofOf(olga), proofOf(olga)],
      }),
    ).rejects.toMatchObject({ code: 'NOT_AUTHORIZED' });
    step();
    const challenge = await service.beginEnrolment({
      name: 'Quinn',
      roles: ['security-officer'],
      passphrase: GOOD,
      officers: [proofOf(olga), proofOf(pat)],
    });
    expect(service.confirmEnrolment(challenge.enrolmentId, totpCodeAt(challenge.secret, now))).toMatchObject({
      roles: ['security-officer'],
    });
  });

  it('lets the only officer appoint the second, not a third begun at the same time (refused, recorded)', async () => {
    const begin = officerEnrolmentsBy(await enrol('Olga', ['security-officer']));
    const pat = await begin('Pat');
    step();
    // Begun while Olga is still the only officer: Pat is not confirmed yet.
    const mallory = await begin('Mallory');
    service.confirmEnrolment(pat.enrolmentId, totpCodeAt(pat.secret, now));
    expect(() => service.confirmEnrolment(mallory.enrolmentId, totpCodeAt(mallory.secret, now))).toThrow(
      expect.objectContaining({ code: 'NOT_AUTHORIZED', message: expect.stringMatching(/two different/) }),
    );
    expect(roles('Mallory')).toBeUndefined();
    expect(actions()).toContain('custodian.enrol refused NOT_AUTHORIZED');
  });

  it('counts a locked-out officer: the other officer alone cannot appoint a new one (begun or confirmed)', async () => {
    const begin = officerEnrolmentsBy(await enrol('Olga', ['security-officer']));
    const pat = await begin('Pat');
    step();
    const mallory = await begin('Mallory');
    const patId = service.confirmEnrolment(pat.enrolmentId, totpCodeAt(pat.secret, now)).id;
    // Pat locked out (anyone can type wrong factors for Pat ten times; a rehearsal's lockout counts here the same).
    service.rehearsedFactors({ [patId]: { lastTimeStep: null, failures: 10, throttledUntil: null, locked: true } });
    expect(() => service.confirmEnrolment(mallory.enrolmentId, totpCodeAt(mallory.secret, now))).toThrow(
      expect.objectContaining({ code: 'NOT_AUTHORIZED' }),
    );
    step();
    await expect(begin('Quinn')).rejects.toMatchObject({
      code: 'NOT_AUTHORIZED',
      message: expect.stringMatching(/two different security officers/),
    });
    expect(roles('Mallory')).toBeUndefined();
    expect(roles('Quinn')).toBeUndefined();
  });
});

describe('factor checks', () => {
  it('accepts passphrase + current code, and returns the 32-byte passphrase key', async () => {
    const erin = await enrol('Erin');
    const key = await service.verifyFactors(erin.id, erin.passphrase, totpCodeAt(erin.secret, now), 'test');
    expect(key).toHaveLength(32);
    expect(actions().at(-1)).toBe('custodian.factor.verify ok');
  });

  it('never accepts the same code twice, even within its window', async () => {
    const erin = await enrol('Erin');
    const code = totpCodeAt(erin.secret, now);
    await service.verifyFactors(erin.id, erin.passphrase, code, 'test');
    await expect(service.verifyFactors(erin.id, erin.passphrase, code, 'test')).rejects.toMatchObject({
      code: 'TOTP_REPLAYED',
    });
    expect(actions().at(-1)).toBe('custodian.factor.verify failed TOTP_REPLAYED');
    step();
    expect(await service.verifyFactors(erin.id, erin.passphrase, totpCodeAt(erin.secret, now), 'test')).toHaveLength(
      32,
    );
  });

  it('lets one code pass once even when two checks of the same custodian run at the same time', async () => {
    const erin = await enrol('Erin');
    const code = totpCodeAt(erin.secret, now);
    const outcomes = await Promise.allSettled(
      [1, 2].map(() => service.verifyFactors(erin.id, erin.passphrase, code, 'test')),
    );
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(outcomes.find((o) => o.status === 'rejected')).toMatchObject({ reason: { code: 'TOTP_REPLAYED' } });
  });

  it('counts every failure when wrong passphrases arrive at the same time', async () => {
    const erin = await enrol('Erin');
    const tries = [1, 2, 3].map(() =>
      service.verifyFactors(erin.id, 'wrong passphrase entirely', totpCodeAt(erin.secret, now), 'test'),
    );
    await Promise.allSettled(tries);
    expect(service.get(erin.id).failures).toBe(3);
  });

  it('tells a wrong passphrase from a wrong code, and records both', async () => {
    const erin = await enrol('Erin');
    await expect(
      service.verifyFactors(erin.id, `${erin.passphrase}x`, totpCodeAt(erin.secret, now), 'test'),
    ).rejects.toMatchObject({ code: 'PASSPHRASE_INCORRECT' });
    await expect(service.verifyFactors(erin.id, erin.passphrase, '123456', 'test')).rejects.toMatchObject({
      code: expect.stringMatching(/TOTP_INCORRECT|TOTP_REPLAYED/),
    });
    expect(actions().slice(-2)).toEqual([
      'custodian.factor.verify failed PASSPHRASE_INCORRECT',
      expect.stringMatching(/^custodian\.factor\.verify failed TOTP_/),
    ]);
  });

  it('says the day of a wait that ends after midnight, not only the time', async () => {
    const erin = await enrol('Erin');
    now = new Date('2026-12-05T23:59:58.000Z');
    const fail = () =>
      service.verifyFactors(erin.id, 'wrong passphrase entirely', totpCodeAt(erin.secret, now), 'test');
    for (let i = 0; i < 3; i++) await expect(fail()).rejects.toMatchObject({ code: 'PASSPHRASE_INCORRECT' });
    await expect(fail()).rejects.toMatchObject({
      code: 'FACTORS_THROTTLED',
      message: expect.stringMatching(/wait until 2026-12-06 00:\d\d:\d\d UTC/),
    });
  });

  it('throttles after repeated failures and locks out after ten, until a security officer unlocks', async () => {
    const erin = await enrol('Erin');
    const officer = await enrol('Olga', ['custodian', 'security-officer']);
    const other = await enrol('Pat');
    const fail = () =>
      service.verifyFactors(erin.id, 'wrong passphrase entirely', totpCodeAt(erin.secret, now), 'test');
    for (let i = 0; i < 3; i++) await expect(fail()).rejects.toMatchObject({ code: 'PASSPHRASE_INCORRECT' });
    await expect(fail()).rejects.toMatchObject({
      code: 'FACTORS_THROTTLED',
      message: expect.stringMatching(/wait until \d\d:\d\d:\d\d UTC/),
    });
    for (let i = 3; i < 10; i++) {
      now = new Date(now.getTime() + 10 * 60_000);
      await expect(fail()).rejects.toMatchObject({ code: 'PASSPHRASE_INCORRECT' });
    }
    expect(service.get(erin.id)).toMatchObject({ locked: true, failures: 10 });
    step();
    await expect(
      service.verifyFactors(erin.id, erin.passphrase, totpCodeAt(erin.secret, now), 'test'),
    ).rejects.toMatchObject({ code: 'CUSTODIAN_LOCKED' });
    await expect(
      service.unlock(erin.id, other.id, other.passphrase, totpCodeAt(other.secret, now)),
    ).rejects.toMatchObject({ code: 'NOT_AUTHORIZED' });
    await expect(
      service.unlock(officer.id, officer.id, officer.passphrase, totpCodeAt(officer.secret, now)),
    ).rejects.toMatchObject({ code: 'NOT_AUTHORIZED' });
    expect(
      await service.unlock(erin.id, officer.id, officer.passphrase, totpCodeAt(officer.secret, now)),
    ).toMatchObject({ locked: false, failures: 0 });
    step();
    expect(await service.verifyFactors(erin.id, erin.passphrase, totpCodeAt(erin.secret, now), 'test')).toHaveLength(
      32,
    );
    expect(actions()).toEqual(
      expect.arrayContaining([
        'custodian.lockout ok',
        'custodian.unlock ok',
        'custodian.factor.verify refused CUSTODIAN_LOCKED',
        'custodian.factor.verify refused FACTORS_THROTTLED',
      ]),
    );
  });
});

describe('the last security officer standing', () => {
  /** Ten wrong passphrases for this person, each after its throttle has passed. */
  async function lockOut(who: Enrolled) {
    for (let i = 0; i < 10; i++) {
      now = new Date(now.getTime() + 10 * 60_000);
      await service
        .verifyFactors(who.id, 'wrong passphrase entirely', totpCodeAt(who.secret, now), 'test')
        .catch((error: unknown) => expect(error).toMatchObject({ code: 'PASSPHRASE_INCORRECT' }));
    }
  }

  it('is throttled, at most an hour a try, never locked out: anyone typing wrong factors cannot leave no officer to unlock', async () => {
    const olga = await enrol('Olga', ['security-officer']);
    const pat = await enrol('Pat', ['security-officer']);
    await lockOut(olga);
    expect(service.get(olga.id)).toMatchObject({ locked: true });
    await lockOut(pat);
    for (let i = 0; i < 5; i++) {
      now = new Date(now.getTime() + 2 * 60 * 60_000);
      await expect(
        service.verifyFactors(pat.id, 'wrong passphrase entirely', totpCodeAt(pat.secret, now), 'test'),
      ).rejects.toMatchObject({ code: 'PASSPHRASE_INCORRECT' });
    }
    const throttled = service.get(pat.id);
    expect(throttled).toMatchObject({ locked: false, failures: 15 });
    // Guessing stays bounded: the next try waits an hour, and one sent sooner is refused unchecked.
    expect(new Date(throttled.throttledUntil!).getTime() - now.getTime()).toBe(60 * 60_000);
    now = new Date(now.getTime() + 59 * 60_000);
    await expect(
      service.verifyFactors(pat.id, pat.passphrase, totpCodeAt(pat.secret, now), 'test'),
    ).rejects.toMatchObject({ code: 'FACTORS_THROTTLED' });
    now = new Date(now.getTime() + 60_000);
    expect(await service.unlock(olga.id, pat.id, pat.passphrase, totpCodeAt(pat.secret, now))).toMatchObject({
      locked: false,
    });
    expect(service.get(pat.id)).toMatchObject({ locked: false, failures: 0 });
    expect(actions().filter((a) => a === 'custodian.lockout.withheld ok')).toHaveLength(6);
    // With Olga free again, Pat is no longer the last: ten failures lock Pat out as anyone.
    await lockOut(pat);
    expect(service.get(pat.id)).toMatchObject({ locked: true });
  });

  it('waits instead of taking a rehearsal’s lockout while no other officer is free of one', async () => {
    const olga = await enrol('Olga', ['security-officer']);
    const pat = await enrol('Pat', ['security-officer']);
    await lockOut(olga);
    service.rehearsedFactors({ [pat.id]: { lastTimeStep: null, failures: 10, throttledUntil: null, locked: true } });
    expect(service.get(pat.id)).toMatchObject({ locked: false, failures: 10, throttledUntil: expect.any(String) });
    expect(actions()).toContain('custodian.lockout.withheld ok');
    // The same state counted again (a rehearsal's state may be read more than once) sets no new wait.
    const entries = actions().length;
    now = new Date(now.getTime() + 30 * 60_000);
    service.rehearsedFactors({ [pat.id]: { lastTimeStep: null, failures: 10, throttledUntil: null, locked: true } });
    expect(actions()).toHaveLength(entries);
    now = new Date(now.getTime() + 30 * 60_000);
    expect(await service.unlock(olga.id, pat.id, pat.passphrase, totpCodeAt(pat.secret, now))).toMatchObject({
      locked: false,
    });
  });
});

describe('retirement', () => {
  const codeOf = (error: unknown) => (error as { code: string }).code;
  const retire = (who: Enrolled, ...by: Enrolled[]) =>
    service.retire(who.id, by.map(proofOf)).then((c) => c.retiredAt, codeOf);

  it('unlocks nobody retired while the unlocking officer’s factors were being checked', async () => {
    const erin = await enrol('Erin');
    const [olga] = officers;
    const pat = await enrol('Pat', ['security-officer']);
    // Olga retires Erin while Pat's passphrase is still being checked for an unlock of Erin.
    const check = service.verifyFactors.bind(service);
    const spy = vi.spyOn(service, 'verifyFactors').mockImplementation(async (id, passphrase, code, purpose) => {
      if (purpose === 'unlock') {
        spy.mockRestore();
        expect(await retire(erin, olga!)).toEqual(expect.any(String));
      }
      return check(id, passphrase, code, purpose);
    });
    // Before, the unlock went ahead: a retired person's lockout lifted and signed as an unlock.
    await expect(service.unlock(erin.id, pat.id, pat.passphrase, totpCodeAt(pat.secret, now))).rejects.toMatchObject({
      code: 'CUSTODIAN_RETIRED',
    });
    expect(actions()).not.toContain('custodian.unlock ok');
    expect(actions()).toContain('custodian.unlock refused CUSTODIAN_RETIRED');
  });

  it('retires a custodian on one officer’s factors, never their own; their factors are refused after', async () => {
    const erin = await enrol('Erin');
    const [olga] = officers;
    expect(await retire(erin, erin)).toBe('NOT_AUTHORIZED');
    expect(await retire(erin, olga!)).toBe(now.toISOString());
    step();
    await expect(
      service.verifyFactors(erin.id, erin.passphrase, totpCodeAt(erin.secret, now), 'test'),
    ).rejects.toMatchObject({
      code: 'CUSTODIAN_RETIRED',
    });
    expect(await retire(erin, olga!)).toBe('CUSTODIAN_RETIRED');
    await expect(
      service.unlock(erin.id, olga!.id, olga!.passphrase, totpCodeAt(olga!.secret, now)),
    ).rejects.toMatchObject({ code: 'CUSTODIAN_RETIRED' });
    expect(service.list().find((c) => c.id === erin.id)).toMatchObject({ retiredAt: expect.any(String) });
    // A rehearsal counts nothing back for her.
    service.rehearsedFactors({ [erin.id]: { lastTimeStep: null, failures: 10, throttledUntil: null, locked: true } });
    expect(actions()).not.toContain('custodian.factor.rehearsed ok');
    // The name stays taken: the history names her.
    await expect(
      service.beginEnrolment({ name: 'Erin', roles: ['custodian'], passphrase: GOOD }),
    ).rejects.toMatchObject({
      code: 'CUSTODIAN_EXISTS',
    });
    expect(actions()).toEqual(
      expect.arrayContaining([
        'custodian.retire refused NOT_AUTHORIZED',
        'custodian.retire ok',
        'custodian.factor.verify refused CUSTODIAN_RETIRED',
        'custodian.retire refused CUSTODIAN_RETIRED',
        'custodian.unlock refused CUSTODIAN_RETIRED',
      ]),
    );
  });

  it('says whose factors it refused when two officers approve, so the form can point at that officer', async () => {
    const olga = await enrol('Olga', ['security-officer']);
    const pat = await enrol('Pat', ['security-officer']);
    const quinn = await enrol('Quinn', ['security-officer']);
    const refusal = (by: ReturnType<typeof proofOf>[]) =>
      service.retire(pat.id, by).then(
        () => null,
        (error: unknown) => wireError(error as CustosError),
      );
    expect(await refusal([proofOf(olga), { ...proofOf(quinn), code: '000000' }])).toMatchObject({
      code: 'TOTP_INCORRECT',
      custodianId: quinn.id,
      message: expect.stringContaining('Quinn'),
    });
    step();
    expect(await refusal([proofOf(olga), { ...proofOf(quinn), passphrase: 'not hers' }])).toMatchObject({
      code: 'PASSPHRASE_INCORRECT',
      custodianId: quinn.id,
    });
    // Olga's code of this time step was taken by the try before.
    expect(await refusal([proofOf(olga), proofOf(quinn)])).toMatchObject({
      code: 'TOTP_REPLAYED',
      custodianId: olga.id,
      message: expect.stringContaining('Olga'),
    });
    // A refusal that is about no one person's factors names nobody.
    expect(await refusal([proofOf(olga)])).not.toHaveProperty('custodianId');
  });

  it('leaves no copy of the sealed secret it overwrote, in the database file or its WAL', async () => {
    const erin = await enrol('Erin');
    const sealed = (id: string) =>
      opened.store.get<{ sealed_totp: Buffer }>(sql`SELECT sealed_totp FROM custodians WHERE id = ${id}`)!.sealed_totp;
    const before = sealed(erin.id);
    expect(await retire(erin, officers[0]!)).toEqual(expect.any(String));
    expect(sealed(erin.id).equals(before)).toBe(false);
    const files = [DATABASE_FILE, `${DATABASE_FILE}-wal`].map((f) => join(dataDir, f)).filter((f) => existsSync(f));
    for (const file of files) expect(readFileSync(file).includes(before)).toBe(false);
  });

  it('retires an officer on two other officers’ factors, or the only other’s and their own; not the last', async () => {
    const olga = await enrol('Olga', ['security-officer']);
    const pat = await enrol('Pat', ['security-officer']);
    expect(await retire(pat, pat)).toBe('NOT_AUTHORIZED');
    const quinn = await enrol('Quinn', ['security-officer']);
    expect(await retire(pat, olga)).toBe('NOT_AUTHORIZED');
    expect(await retire(pat, olga, pat)).toBe('NOT_AUTHORIZED');
    // An enrolment Pat approved is still open: it would be confirmed on the word of someone who has left.
    const zed = await service.beginEnrolment({
      name: 'Zed',
      roles: ['custodian'],
      passphrase: GOOD,
      officers: [proofOf(pat)],
    });
    expect(await retire(pat, olga, quinn)).toBe('CUSTODIAN_STILL_HOLDS');
    service.cancelEnrolment(zed.enrolmentId);
    step();
    expect(await retire(pat, olga, quinn)).toEqual(expect.any(String));
    step();
    // Pat counts nowhere now: Olga and Quinn alone are the officers, so Quinn hands over to Olga.
    expect(await retire(quinn, olga, quinn)).toEqual(expect.any(String));
    step();
    expect(await retire(olga, olga)).toBe('CUSTODIAN_LAST_OFFICER');
    await expect(
      service.beginEnrolment({ name: 'Ruth', roles: ['security-officer'], passphrase: GOOD, officers: [proofOf(pat)] }),
    ).rejects.toMatchObject({ code: 'CUSTODIAN_RETIRED' });
    // The only serving officer appoints the next one alone, as at the start.
    await service.beginEnrolment({
      name: 'Ruth',
      roles: ['security-officer'],
      passphrase: GOOD,
      officers: [proofOf(olga)],
    });
    expect(actions()).toContain('custodian.retire refused CUSTODIAN_LAST_OFFICER');
  });
});

describe('custodian security state kept in the database', () => {
  /** A database writer with Custos stopped: its own connection to the file, as sqlite3 on the command line. */
  function onFile<T>(use: (db: Database.Database) => T): T {
    opened.close();
    const db = new Database(join(dataDir, DATABASE_FILE));
    try {
      return use(db);
    } finally {
      db.close();
      opened = openAudit(dataDir);
      service = new CustodianService({
        store: opened.store,
        audit: opened.audit,
        actor: { type: 'operator', id: 'test' },
        kdfCost: { N: 2 ** 14, r: 8, p: 1 },
        clock: () => now,
      });
    }
  }
  const edit = (statement: string, ...values: unknown[]) => onFile((db) => db.prepare(statement).run(...values));
  const refusedAsTampered = () => actions().filter((a) => a === 'custodian.tampered refused CUSTODIAN_TAMPERED').length;

  it('never sets the installation up twice: emptying the custodians table does not open a second first-officer setup', async () => {
    await enrol('Olga', ['security-officer']);
    await enrol('Ada');
    edit('DELETE FROM custodians');
    step();
    await expect(
      service.beginEnrolment({ name: 'Mallory', roles: ['security-officer'], passphrase: GOOD }),
    ).rejects.toMatchObject({ code: 'CUSTODIAN_TAMPERED' });
    expect(actions().filter((a) => a.startsWith('installation.setup'))).toEqual(['installation.setup ok']);
    // The signed log enrolled both, so the list refuses first (its refusal group-committed, as every list's is).
    await new Promise((resolve) => setImmediate(resolve));
    expect(refusedAsTampered()).toBe(1);
  });

  it('marks the audit token set up for custodians enrolled before the marker existed, at the next start', async () => {
    await enrol('Olga', ['security-officer']);
    // As if enrolled by an older Custos: the token knows nothing of the setup.
    opened.audit.log();
    (
      opened.audit as unknown as { key: { inSession: (w: string, f: (s: Buffer, l: pkcs11js.PKCS11) => void) => void } }
    ).key.inSession('test', (session, lib) => {
      for (const handle of findObjects(lib, session, [
        { type: pkcs11js.CKA_APPLICATION, value: 'custos-installation-setup' },
      ]))
        lib.C_DestroyObject(session, handle);
    });
    expect(opened.audit.installationSetUp()).toBe(false);
    expect(service.sealUnsignedOnce()).toBe(0);
    expect(opened.audit.installationSetUp()).toBe(true);
  });

  it('refuses a custodian made a security officer by editing roles, and records it', async () => {
    const erin = await enrol('Erin');
    edit(`UPDATE custodians SET roles = '["custodian","security-officer"]' WHERE id = ?`, erin.id);
    expect(() => service.get(erin.id)).toThrow(expect.objectContaining({ code: 'CUSTODIAN_TAMPERED' }));
    expect(() => service.list()).toThrow(expect.objectContaining({ code: 'CUSTODIAN_TAMPERED' }));
    // Erin cannot approve an enrolment as the officer she made herself.
    step();
    await expect(
      service.beginEnrolment({ name: 'Mallory', roles: ['custodian'], passphrase: GOOD, officers: [proofOf(erin)] }),
    ).rejects.toMatchObject({ code: 'CUSTODIAN_TAMPERED' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(refusedAsTampered()).toBeGreaterThanOrEqual(1);
  });

  it('refuses a lockout lifted, or a failure count reset, in the database', async () => {
    const erin = await enrol('Erin');
    for (let i = 0; i < 10; i++) {
      now = new Date(now.getTime() + 10 * 60_000);
      await expect(
        service.verifyFactors(erin.id, 'wrong passphrase entirely', totpCodeAt(erin.secret, now), 'test'),
      ).rejects.toMatchObject({ code: expect.stringMatching(/PASSPHRASE_INCORRECT|FACTORS_THROTTLED/) });
    }
    expect(service.get(erin.id)).toMatchObject({ locked: true });
    edit('UPDATE custodians SET locked = 0 WHERE id = ?', erin.id);
    step();
    await expect(
      service.verifyFactors(erin.id, erin.passphrase, totpCodeAt(erin.secret, now), 'test'),
    ).rejects.toMatchObject({ code: 'CUSTODIAN_TAMPERED' });
    edit('UPDATE custodians SET locked = 0, failures = 0, throttled_until = NULL WHERE id = ?', erin.id);
    await expect(
      service.verifyFactors(erin.id, erin.passphrase, totpCodeAt(erin.secret, now), 'test'),
    ).rejects.toMatchObject({ code: 'CUSTODIAN_TAMPERED' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(refusedAsTampered()).toBe(2);
  });

  it('lifts no lockout because another officer’s row was edited or deleted: the writer gains no unlock by it', async () => {
    const olga = await enrol('Olga', ['security-officer']);
    const pat = await enrol('Pat', ['security-officer']);
    for (let i = 0; i < 10; i++) {
      now = new Date(now.getTime() + 10 * 60_000);
      await service
        .verifyFactors(olga.id, 'wrong passphrase entirely', totpCodeAt(olga.secret, now), 'test')
        .catch((error: unknown) => expect(error).toMatchObject({ code: expect.any(String) }));
    }
    expect(service.get(olga.id)).toMatchObject({ locked: true });
    // Pat's lockout or retirement written in, or Pat's row gone: Olga would be the last officer standing.
    for (const change of [
      'UPDATE custodians SET locked = 1 WHERE id = ?',
      "UPDATE custodians SET retired_at = '2026-11-30T10:00:00.000Z' WHERE id = ?",
      'DELETE FROM custodians WHERE id = ?',
    ]) {
      const before = onFile((db) => db.prepare('SELECT * FROM custodians WHERE id = ?').get(pat.id));
      edit(change, pat.id);
      step();
      await expect(
        service.verifyFactors(olga.id, olga.passphrase, totpCodeAt(olga.secret, now), 'test'),
      ).rejects.toMatchObject({ code: 'CUSTODIAN_LOCKED' });
      // Put back as it was signed, for the next edit.
      const row = before as Record<string, unknown>;
      const columns = Object.keys(row);
      edit('DELETE FROM custodians WHERE id = ?', pat.id);
      edit(
        `INSERT INTO custodians (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
        ...columns.map((c) => row[c]),
      );
    }
  });

  it('refuses a failure count reset to buy more guesses', async () => {
    const erin = await enrol('Erin');
    await expect(
      service.verifyFactors(erin.id, 'wrong passphrase entirely', totpCodeAt(erin.secret, now), 'test'),
    ).rejects.toMatchObject({ code: 'PASSPHRASE_INCORRECT' });
    edit('UPDATE custodians SET failures = 0 WHERE id = ?', erin.id);
    step();
    await expect(
      service.verifyFactors(erin.id, 'another wrong guess here', totpCodeAt(erin.secret, now), 'test'),
    ).rejects.toMatchObject({ code: 'CUSTODIAN_TAMPERED' });
  });

  it('refuses a last TOTP step rolled back to replay a code, even by putting back the whole earlier signed row', async () => {
    const erin = await enrol('Erin');
    const before = onFile(
      (db) => db.prepare('SELECT * FROM custodians WHERE id = ?').get(erin.id) as Record<string, unknown>,
    );
    const code = totpCodeAt(erin.secret, now);
    (await service.verifyFactors(erin.id, erin.passphrase, code, 'test')).fill(0);
    edit('UPDATE custodians SET last_time_step = ? WHERE id = ?', before.last_time_step, erin.id);
    await expect(service.verifyFactors(erin.id, erin.passphrase, code, 'test')).rejects.toMatchObject({
      code: 'CUSTODIAN_TAMPERED',
    });
    // The earlier row is signed, but the log has recorded a later state since.
    edit(
      'UPDATE custodians SET last_time_step = ?, state_seq = ?, state_sig = ? WHERE id = ?',
      before.last_time_step,
      before.state_seq,
      before.state_sig,
      erin.id,
    );
    await expect(service.verifyFactors(erin.id, erin.passphrase, code, 'test')).rejects.toMatchObject({
      code: 'CUSTODIAN_TAMPERED',
      message: expect.stringMatching(/older state/),
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(refusedAsTampered()).toBe(2);
    // The officer's approval of Erin's enrolment, and Erin's one accepted check: no replay.
    expect(actions().filter((a) => a === 'custodian.factor.verify ok')).toHaveLength(2);
  });

  it('refuses a row inserted, renamed or stripped of its signature, and never signs it later', async () => {
    const erin = await enrol('Erin');
    edit(`UPDATE custodians SET name = 'Olga Setup 2' WHERE id = ?`, erin.id);
    expect(() => service.get(erin.id)).toThrow(expect.objectContaining({ code: 'CUSTODIAN_TAMPERED' }));
    edit(`UPDATE custodians SET name = 'Erin', state_sig = NULL, roles = '["security-officer"]' WHERE id = ?`, erin.id);
    expect(service.sealUnsignedOnce()).toBe(0);
    expect(() => service.get(erin.id)).toThrow(expect.objectContaining({ code: 'CUSTODIAN_TAMPERED' }));
  });

  it('signs the custodians of an installation from before signed state once, at the first start after the upgrade', () => {
    // As an older version left it: a custodian row with no signature, and no setup entry in the log.
    edit(
      `INSERT INTO custodians (id, name, roles, kdf, sealed_totp, last_time_step, enrolled_at) VALUES ('00112233445566ff', 'Vera', '["custodian"]', '{}', x'01', NULL, '2026-01-01T00:00:00.000Z')`,
    );
    expect(() => service.get('00112233445566ff')).toThrow(expect.objectContaining({ code: 'CUSTODIAN_TAMPERED' }));
    expect(service.sealUnsignedOnce()).toBe(1);
    expect(service.get('00112233445566ff')).toMatchObject({ name: 'Vera', roles: ['custodian'] });
    expect(actions()).toContain('custodian.state.seal ok');
    // Once is once: a signature stripped later is never restored.
    edit(`UPDATE custodians SET state_sig = NULL, roles = '["security-officer"]'`);
    expect(service.sealUnsignedOnce()).toBe(0);
    expect(() => service.get('00112233445566ff')).toThrow(expect.objectContaining({ code: 'CUSTODIAN_TAMPERED' }));
  });

  it('refuses a retirement undone in the database: retired_at cleared, or the row from before put back', async () => {
    const erin = await enrol('Erin');
    const before = onFile(
      (db) => db.prepare('SELECT * FROM custodians WHERE id = ?').get(erin.id) as Record<string, unknown>,
    );
    await service.retire(erin.id, [proofOf(officers[0]!)]);
    const after = onFile((db) => db.prepare('SELECT sealed_totp FROM custodians WHERE id = ?').get(erin.id)) as {
      sealed_totp: Buffer;
    };
    expect(after.sealed_totp.equals(before.sealed_totp as Buffer)).toBe(false);
    step();
    const check = () => service.verifyFactors(erin.id, erin.passphrase, totpCodeAt(erin.secret, now), 'test');
    edit('UPDATE custodians SET retired_at = NULL WHERE id = ?', erin.id);
    await expect(check()).rejects.toMatchObject({ code: 'CUSTODIAN_TAMPERED' });
    edit(
      'UPDATE custodians SET retired_at = NULL, sealed_totp = ?, state_seq = ?, state_sig = ? WHERE id = ?',
      before.sealed_totp,
      before.state_seq,
      before.state_sig,
      erin.id,
    );
    await expect(check()).rejects.toMatchObject({
      code: 'CUSTODIAN_TAMPERED',
      message: expect.stringMatching(/older state/),
    });
  });
});
