import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DATABASE_FILE } from '../store/database';
import { openAudit } from '../testing/audit-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { CustodianService } from './custodian-service';
import { totpCodeAt } from './totp';

let dataDir: string;
let cleanup: () => void;
let opened: ReturnType<typeof openAudit>;
let now: Date;
let service: CustodianService;
const actions = () => [...opened.audit.log().entries()].map((e) => JSON.parse(e.entry) as { action: string; result: { status: string; code?: string } }).map((e) => `${e.action} ${e.result.status}${e.result.code ? ` ${e.result.code}` : ''}`);
const GOOD = 'correct horse battery staple';

beforeEach(() => {
  ({ dataDir, cleanup } = tempDataDir());
  opened = openAudit(dataDir);
  now = new Date('2026-11-30T10:00:00.000Z');
  // Real scrypt at a lower cost, to keep the suite quick.
  service = new CustodianService({ store: opened.store, audit: opened.audit, actor: { type: 'operator', id: 'test' }, kdfCost: { N: 2 ** 14, r: 8, p: 1 }, clock: () => now });
});
afterEach(() => {
  opened.close();
  cleanup();
});

async function enrol(name: string, roles: ('custodian' | 'security-officer' | 'auditor')[] = ['custodian'], passphrase = `${GOOD} ${name.length}`) {
  const challenge = await service.beginEnrolment({ name, roles, passphrase });
  const custodian = service.confirmEnrolment(challenge.enrolmentId, totpCodeAt(challenge.secret, now));
  now = new Date(now.getTime() + 30_000);
  return { ...custodian, secret: challenge.secret, passphrase };
}
const step = () => (now = new Date(now.getTime() + 30_000));

describe('enrolment', () => {
  it('shows the TOTP secret once as an otpauth URI and QR code, and saves the custodian after a first code', async () => {
    const challenge = await service.beginEnrolment({ name: 'Ada Lovelace', roles: ['custodian'], passphrase: GOOD });
    expect(challenge.uri).toMatch(/^otpauth:\/\/totp\/Custos:Ada%20Lovelace\?secret=[A-Z2-7]+&issuer=Custos$/);
    expect(challenge.qrSvg).toMatch(/^<svg/);
    expect(service.list()).toEqual([]);
    expect(() => service.confirmEnrolment(challenge.enrolmentId, '000000')).toThrow(expect.objectContaining({ code: 'TOTP_INCORRECT' }));
    const custodian = service.confirmEnrolment(challenge.enrolmentId, totpCodeAt(challenge.secret, now));
    expect(custodian).toMatchObject({ name: 'Ada Lovelace', roles: ['custodian'], locked: false });
    expect(actions()).toContain('custodian.enrol ok');
  });

  it('refuses a weak passphrase and says how to make it strong', async () => {
    await expect(service.beginEnrolment({ name: 'Bob', roles: ['custodian'], passphrase: 'password1' })).rejects.toMatchObject({
      code: 'PASSPHRASE_WEAK',
      remedy: expect.arrayContaining([expect.stringMatching(/at least 12 characters/), expect.stringMatching(/common words/)]),
    });
  });

  it('refuses a second custodian with the same name, and an expired enrolment', async () => {
    await enrol('Carol');
    await expect(service.beginEnrolment({ name: 'Carol', roles: ['custodian'], passphrase: GOOD })).rejects.toMatchObject({ code: 'CUSTODIAN_EXISTS' });
    const challenge = await service.beginEnrolment({ name: 'Dave', roles: ['custodian'], passphrase: GOOD });
    now = new Date(now.getTime() + 11 * 60_000);
    expect(() => service.confirmEnrolment(challenge.enrolmentId, totpCodeAt(challenge.secret, now))).toThrow(expect.objectContaining({ code: 'ENROLMENT_EXPIRED' }));
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
    await expect(service.verifyFactors(erin.id, erin.passphrase, code, 'test')).rejects.toMatchObject({ code: 'TOTP_REPLAYED' });
    expect(actions().at(-1)).toBe('custodian.factor.verify failed TOTP_REPLAYED');
    step();
    expect(await service.verifyFactors(erin.id, erin.passphrase, totpCodeAt(erin.secret, now), 'test')).toHaveLength(32);
  });

  it('lets one code pass once even when two checks of the same custodian run at the same time', async () => {
    const erin = await enrol('Erin');
    const code = totpCodeAt(erin.secret, now);
    const outcomes = await Promise.allSettled([1, 2].map(() => service.verifyFactors(erin.id, erin.passphrase, code, 'test')));
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(outcomes.find((o) => o.status === 'rejected')).toMatchObject({ reason: { code: 'TOTP_REPLAYED' } });
  });

  it('counts every failure when wrong passphrases arrive at the same time', async () => {
    const erin = await enrol('Erin');
    const tries = [1, 2, 3].map(() => service.verifyFactors(erin.id, 'wrong passphrase entirely', totpCodeAt(erin.secret, now), 'test'));
    await Promise.allSettled(tries);
    expect(service.get(erin.id).failures).toBe(3);
  });

  it('tells a wrong passphrase from a wrong code, and records both', async () => {
    const erin = await enrol('Erin');
    await expect(service.verifyFactors(erin.id, `${erin.passphrase}x`, totpCodeAt(erin.secret, now), 'test')).rejects.toMatchObject({ code: 'PASSPHRASE_INCORRECT' });
    await expect(service.verifyFactors(erin.id, erin.passphrase, '123456', 'test')).rejects.toMatchObject({ code: expect.stringMatching(/TOTP_INCORRECT|TOTP_REPLAYED/) });
    expect(actions().slice(-2)).toEqual(['custodian.factor.verify failed PASSPHRASE_INCORRECT', expect.stringMatching(/^custodian\.factor\.verify failed TOTP_/)]);
  });

  it('throttles after repeated failures and locks out after ten, until a security officer unlocks', async () => {
    const erin = await enrol('Erin');
    const officer = await enrol('Olga', ['custodian', 'security-officer']);
    const other = await enrol('Pat');
    const fail = () => service.verifyFactors(erin.id, 'wrong passphrase entirely', totpCodeAt(erin.secret, now), 'test');
    for (let i = 0; i < 3; i++) await expect(fail()).rejects.toMatchObject({ code: 'PASSPHRASE_INCORRECT' });
    await expect(fail()).rejects.toMatchObject({ code: 'FACTORS_THROTTLED' });
    for (let i = 3; i < 10; i++) {
      now = new Date(now.getTime() + 10 * 60_000);
      await expect(fail()).rejects.toMatchObject({ code: 'PASSPHRASE_INCORRECT' });
    }
    expect(service.get(erin.id)).toMatchObject({ locked: true, failures: 10 });
    step();
    await expect(service.verifyFactors(erin.id, erin.passphrase, totpCodeAt(erin.secret, now), 'test')).rejects.toMatchObject({ code: 'CUSTODIAN_LOCKED' });
    await expect(service.unlock(erin.id, other.id, other.passphrase, totpCodeAt(other.secret, now))).rejects.toMatchObject({ code: 'NOT_AUTHORIZED' });
    await expect(service.unlock(officer.id, officer.id, officer.passphrase, totpCodeAt(officer.secret, now))).rejects.toMatchObject({ code: 'NOT_AUTHORIZED' });
    expect(await service.unlock(erin.id, officer.id, officer.passphrase, totpCodeAt(officer.secret, now))).toMatchObject({ locked: false, failures: 0 });
    step();
    expect(await service.verifyFactors(erin.id, erin.passphrase, totpCodeAt(erin.secret, now), 'test')).toHaveLength(32);
    expect(actions()).toEqual(expect.arrayContaining(['custodian.lockout ok', 'custodian.unlock ok', 'custodian.factor.verify refused CUSTODIAN_LOCKED', 'custodian.factor.verify refused FACTORS_THROTTLED']));
  });
});
