import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { combine } from 'shamir-secret-sharing';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CustodianService } from '../custodians/custodian-service';
import type { TokenModule } from '../hsm/token-module';
import { DATABASE_FILE } from '../store/database';
import { sql } from '../store/sql';
import type { openAudit } from '../testing/audit-fixture';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { unsealShare, type CustodyService } from './custody-service';

let dataDir: string;
let cleanup: () => void;
let fixture: Awaited<ReturnType<typeof quorumFixture>>;
let opened: ReturnType<typeof openAudit>;
let module: TokenModule;
let custodians: CustodianService;
let custody: CustodyService;

beforeEach(async () => {
  ({ dataDir, cleanup } = tempDataDir());
  fixture = await quorumFixture(dataDir, [{ name: 'Ada' }, { name: 'Babbage' }, { name: 'Curie' }]);
  ({ opened, module, custodians, custody } = fixture);
});
afterEach(() => {
  fixture.close();
  cleanup();
});

const holders = (...who: number[]) => fixture.holders(...who);
function keys(...who: number[]) {
  return Promise.all(
    holders(...who).map(async (h) => ({
      custodianId: h.custodianId,
      key: await custodians.verifyFactors(h.custodianId, h.passphrase, h.code, 'test'),
    })),
  );
}
const blank = () => ({ serial: '', label: '' });
const loginWorks = (token: { serial: string; label: string }, pin: Buffer) => {
  try {
    return module.withSession(token, { login: { user: 'user', pin: pin.toString('latin1') } }, () => true);
  } catch (error) {
    return (error as { code: string }).code;
  }
};

describe('the audit token', () => {
  it('is never taken into custody: refused before any SO PIN is tried on it', async () => {
    const auditToken = opened.audit.auditToken()!;
    const before = module.slots().find((s) => s.token?.serial === auditToken.serial)!.token!;
    await expect(
      custody.take({ token: auditToken, threshold: 2, holders: holders(0, 1, 2), currentSoPin: '87654321' }),
    ).rejects.toMatchObject({ code: 'TOKEN_RESERVED' });
    const after = module.slots().find((s) => s.token?.serial === auditToken.serial)!.token!;
    expect(after).toEqual(before);
  });
});

describe('taking a blank token into custody', () => {
  it('sets PINs nobody sees, split 2-of-3; two holders rebuild the user PIN and the token accepts it', async () => {
    const record = await custody.take({ token: blank(), threshold: 2, holders: holders(0, 1, 2), label: 'vault' });
    expect(record).toMatchObject({ threshold: 2, holders: 3, state: 'active', token: { label: 'vault' } });
    const info = module.slots().find((s) => s.token?.serial === record.token.serial)!.token!;
    expect(info).toMatchObject({ initialized: true, userPin: { initialized: true } });
    const pin = await custody.rebuildPin(record.id, 'user', await keys(0, 2));
    expect(pin).toHaveLength(32);
    expect(loginWorks(record.token, pin)).toBe(true);
    const so = await custody.rebuildPin(record.id, 'so', await keys(1, 2));
    expect(
      module.withSession(
        record.token,
        { write: true, login: { user: 'so', pin: so.toString('latin1') } },
        () => 'so ok',
      ),
    ).toBe('so ok');
    // Neither PIN is in the database, in any form Custos wrote.
    fixture.close();
    const db = readFileSync(join(dataDir, DATABASE_FILE));
    expect(db.includes(pin)).toBe(false);
    expect(db.includes(so)).toBe(false);
    fixture = await quorumFixture(dataDir, []);
  });

  it('with one share fewer than the threshold, the token itself refuses the rebuilt value', async () => {
    const record = await custody.take({ token: blank(), threshold: 3, holders: holders(0, 1, 2) });
    const partial = await keys(0, 1);
    const shares = partial.map(({ custodianId, key }) =>
      Uint8Array.from(unsealShare(opened.store, record.id, custodianId, 'user', key)),
    );
    const guess = Buffer.from(await combine(shares));
    expect(loginWorks(record.token, guess)).toBe('PIN_INCORRECT');
    await expect(custody.rebuildPin(record.id, 'user', partial)).rejects.toMatchObject({ code: 'QUORUM_NOT_MET' });
  });

  it('names the holder whose stored share was changed', async () => {
    const record = await custody.take({ token: blank(), threshold: 2, holders: holders(0, 1, 2) });
    opened.store.execute(
      sql`UPDATE custody_shares SET commitment = zeroblob(32) WHERE custody_id = ${record.id} AND custodian_id = ${fixture.enrolled[1]!.id} AND pin = 'user'`,
    );
    await expect(custody.rebuildPin(record.id, 'user', await keys(0, 1))).rejects.toMatchObject({
      code: 'SHARE_MISMATCH',
      message: expect.stringContaining('Babbage'),
    });
  });

  it('records the ceremony: begin journaled before the token changes, then take, then a checkpoint', async () => {
    const before = opened.audit.log().checkpoints().length;
    await custody.take({ token: blank(), threshold: 2, holders: holders(0, 1, 2) });
    const actions = [...opened.audit.log().entries()].map((e) => (JSON.parse(e.entry) as { action: string }).action);
    expect(actions.slice(-5)).toEqual([
      'custodian.factor.verify',
      'custodian.factor.verify',
      'custodian.factor.verify',
      'custody.begin',
      'custody.take',
    ]);
    expect(opened.audit.log().checkpoints().length).toBe(before + 1);
  });
});

describe('PINs in the characters the token takes', () => {
  it('draws digits only for a token that takes digits, long enough for ~190 bits, and keeps them at turnover', async () => {
    const record = await custody.take({
      token: blank(),
      threshold: 2,
      holders: holders(0, 1, 2),
      label: 'digits',
      pinAlphabet: 'digits',
    });
    // 58 digits: 192 bits, the same strength as 32 letters and digits (190 bits).
    expect(record).toMatchObject({ pinAlphabet: 'digits', pinBits: 192 });
    const pins = [
      await custody.rebuildPin(record.id, 'user', await keys(0, 1)),
      await custody.rebuildPin(record.id, 'so', await keys(1, 2)),
    ];
    for (const pin of pins) expect(pin.toString('latin1')).toMatch(/^[0-9]{58}$/);
    expect(loginWorks(record.token, pins[0]!)).toBe(true);
    const next = await custody.redeal(record.id, pins[1]!, await keys(0, 1, 2), 2);
    expect(next).toMatchObject({ pinAlphabet: 'digits', pinBits: 192 });
    expect((await custody.rebuildPin(next.id, 'user', await keys(0, 2))).toString('latin1')).toMatch(/^[0-9]{58}$/);
    pins.forEach((p) => p.fill(0));
  });

  it('says how strong capped PINs are: 8 letters and digits carry 47 bits', async () => {
    const { pinBits, pinLength } = await import('./pin');
    expect(pinLength(4, 8)).toBe(8);
    expect(pinBits(8)).toBe(47);
    expect(pinBits(pinLength(4, 255))).toBe(190);
    expect(pinBits(pinLength(6, 8, 'digits'), 'digits')).toBe(26);
  });
});

describe('taking an initialised token into custody', () => {
  it('uses its current SO PIN once and replaces both PINs; the old ones stop working', async () => {
    // A token someone set up with the vendor tool: known SO PIN, known user PIN.
    const slot = module.run('find blank', (lib) =>
      lib.C_GetSlotList(true).find((s) => (lib.C_GetTokenInfo(s).flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0)!,
    );
    module.run('init', (lib) => lib.C_InitToken(slot, '87654321', 'legacy'.padEnd(32, ' ')));
    const token = module.run('read', (lib) => ({
      serial: lib.C_GetTokenInfo(slot).serialNumber.trim(),
      label: 'legacy',
    }));
    module.withSession(token, { write: true, login: { user: 'so', pin: '87654321' } }, (session, lib) =>
      lib.C_InitPIN(session, '1234'),
    );
    await expect(custody.take({ token, threshold: 2, holders: holders(0, 1, 2) })).rejects.toMatchObject({
      code: 'PIN_INVALID',
    });
    // A mistyped SO PIN fails before any share is journaled for PINs that would never be set.
    await expect(
      custody.take({ token, threshold: 2, holders: holders(0, 1, 2), currentSoPin: '87654320' }),
    ).rejects.toMatchObject({ code: 'PIN_INCORRECT' });
    expect(opened.store.get(sql`SELECT count(*) AS n FROM custody`)).toEqual({ n: 0 });
    const record = await custody.take({ token, threshold: 2, holders: holders(0, 1, 2), currentSoPin: '87654321' });
    expect(loginWorks(token, Buffer.from('1234'))).toBe('PIN_INCORRECT');
    expect(loginWorks(token, await custody.rebuildPin(record.id, 'user', await keys(1, 2)))).toBe(true);
    expect(() =>
      module.withSession(token, { write: true, login: { user: 'so', pin: '87654321' } }, () => true),
    ).toThrow(expect.objectContaining({ code: 'PIN_INCORRECT' }));
  });
});

describe('refusals change nothing on the token', () => {
  it('refuses a token already in custody before trying the typed SO PIN on it: no SO PIN try is used', async () => {
    const record = await custody.take({ token: blank(), threshold: 2, holders: holders(0, 1, 2), label: 'held' });
    const soPinFlags = () =>
      module.run('read', (lib) => lib.C_GetTokenInfo(module.findSlot(record.token)).flags) &
      (pkcs11js.CKF_SO_PIN_COUNT_LOW | pkcs11js.CKF_SO_PIN_FINAL_TRY | pkcs11js.CKF_SO_PIN_LOCKED);
    expect(soPinFlags()).toBe(0);
    await expect(
      custody.take({
        token: record.token,
        threshold: 2,
        holders: holders(0, 1, 2),
        currentSoPin: 'a guess at the SO PIN',
      }),
    ).rejects.toMatchObject({
      code: 'TOKEN_IN_CUSTODY',
    });
    // SoftHSM2 raises SO_PIN_COUNT_LOW after a wrong SO login: still clear, so no login was tried.
    expect(soPinFlags()).toBe(0);
    expect(custody.record(record.id).state).toBe('active');
    expect(opened.store.get(sql`SELECT count(*) AS n FROM custody`)).toEqual({ n: 1 });
    const entries = [...opened.audit.log().entries()].map(
      (e) => JSON.parse(e.entry) as { action: string; result: { code?: string } },
    );
    expect(entries.filter((e) => e.result.code === 'TOKEN_IN_CUSTODY').map((e) => e.action)).toEqual(['custody.take']);
  });

  it('refuses a second custody of a token begun while the first is under way: no SO PIN try is used', async () => {
    const slot = module.run('find blank', (lib) =>
      lib.C_GetSlotList(true).find((s) => (lib.C_GetTokenInfo(s).flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0)!,
    );
    module.run('init', (lib) => lib.C_InitToken(slot, '87654321', 'twice'.padEnd(32, ' ')));
    const token = { serial: module.run('read', (lib) => lib.C_GetTokenInfo(slot).serialNumber.trim()), label: 'twice' };
    const take = () => custody.take({ token, threshold: 2, holders: holders(0, 1, 2), currentSoPin: '87654321' });
    const [first, second] = await Promise.allSettled([take(), take()]);
    expect(first).toMatchObject({ status: 'fulfilled', value: { state: 'active' } });
    expect(second).toMatchObject({ status: 'rejected', reason: { code: 'TOKEN_IN_CUSTODY' } });
    const soPinFlags =
      module.run('read', (lib) => lib.C_GetTokenInfo(slot).flags) &
      (pkcs11js.CKF_SO_PIN_COUNT_LOW | pkcs11js.CKF_SO_PIN_FINAL_TRY | pkcs11js.CKF_SO_PIN_LOCKED);
    expect(soPinFlags).toBe(0);
    expect(opened.store.all(sql`SELECT state FROM custody`)).toEqual([{ state: 'active' }]);
  });

  it.each([
    ['a threshold of 1', 1],
    ['a threshold above the holders', 4],
  ])('refuses %s', async (_what, threshold) => {
    await expect(custody.take({ token: blank(), threshold, holders: holders(0, 1, 2) })).rejects.toMatchObject({
      code: 'QUORUM_INVALID',
    });
  });

  it('refuses the same custodian twice', async () => {
    const [a, b] = holders(0, 1);
    await expect(custody.take({ token: blank(), threshold: 2, holders: [a!, b!, a!] })).rejects.toMatchObject({
      code: 'QUORUM_INVALID',
    });
  });

  it('touches nothing when one holder’s factor is wrong', async () => {
    const list = holders(0, 1, 2);
    list[2] = { ...list[2]!, passphrase: 'not the right one at all' };
    await expect(custody.take({ token: blank(), threshold: 2, holders: list })).rejects.toMatchObject({
      code: 'PASSPHRASE_INCORRECT',
    });
    const initialised = module.run(
      'read',
      (lib) =>
        lib.C_GetSlotList(true).filter((s) => (lib.C_GetTokenInfo(s).flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0)
          .length,
    );
    expect(initialised).toBe(1); // the audit token only
    expect(opened.store.get(sql`SELECT count(*) AS n FROM custody`)).toEqual({ n: 0 });
  });
});

/** The process dies just before the entry `action` is written: what it journaled stays, nothing after. */
function crashBefore(action: string): void {
  const record = opened.audit.record.bind(opened.audit);
  const spy = vi.spyOn(opened.audit, 'record').mockImplementation((event, change) => {
    if (event.action !== action) return record(event, change);
    spy.mockRestore();
    throw new Error('simulated crash');
  });
}
/** What the caller is told when the token changed and the entry that activates the custody was not written. */
const unrecorded = { code: 'OPERATION_UNRECORDED', cause: expect.objectContaining({ message: 'simulated crash' }) };
const pendingId = () => opened.store.get<{ id: string }>(sql`SELECT id FROM custody WHERE state = 'pending'`)!.id;

describe('settling a custody a crash left pending', () => {
  it('activates it when the token has its PINs (the crash came after the token changed)', async () => {
    crashBefore('custody.take');
    // Said as what it is (before: the cause alone, which for a full disk reads "nothing was written"): the token
    // changed, the custody stays pending, and settling it is the way on.
    await expect(
      custody.take({ token: blank(), threshold: 2, holders: holders(0, 1, 2), label: 'settle-a' }),
    ).rejects.toMatchObject({
      code: 'OPERATION_UNRECORDED',
      message: expect.stringMatching(/^The token now has the custody's PINs, but .* The custody stays pending\.$/),
      remedy: [expect.stringMatching(/^Do not take the token into custody again/), expect.stringContaining('settle')],
      cause: expect.objectContaining({ message: 'simulated crash' }),
    });
    const record = { id: pendingId() };
    await expect(custody.settle(record.id, holders(0))).rejects.toMatchObject({ code: 'QUORUM_NOT_MET' });
    // One holder twice (two codes) is one holder: refused before any factor is tried.
    const verified = () =>
      opened.store.get(sql`SELECT count(*) AS n FROM audit_entries WHERE action = 'custodian.factor.verify'`);
    const before = verified();
    await expect(custody.settle(record.id, [...holders(1), ...holders(1)])).rejects.toMatchObject({
      code: 'QUORUM_INVALID',
    });
    expect(verified()).toEqual(before);
    expect(await custody.settle(record.id, holders(1, 2))).toMatchObject({
      outcome: 'activated',
      record: { state: 'active' },
    });
    // Settling is a ceremony: it ends on a checkpoint covering its last entry.
    expect(opened.audit.log().checkpoints().at(-1)).toMatchObject({
      reason: 'custody settled',
      treeSize: opened.audit.log().size(),
    });
    await expect(custody.settle(record.id, holders(0, 1))).rejects.toMatchObject({ code: 'CUSTODY_NOT_FOUND' });
  });

  it('sets aside a blank token’s custody cut off before the token got a user PIN', async () => {
    // A crash right after the journal: the blank token is initialised (a throwaway SO PIN), its user PIN never set.
    const record = opened.audit.record.bind(opened.audit);
    const spy = vi.spyOn(opened.audit, 'record').mockImplementation((event, change) => {
      const recorded = record(event, change);
      if (event.action !== 'custody.begin') return recorded;
      spy.mockRestore();
      throw new Error('simulated crash');
    });
    await expect(
      custody.take({ token: blank(), threshold: 2, holders: holders(0, 1, 2), label: 'cut-early' }),
    ).rejects.toThrow('simulated crash');
    // Before, TOKEN_NOT_INITIALIZED: the custody could never be settled, so it stayed pending for good.
    expect(await custody.settle(pendingId(), holders(0, 1))).toMatchObject({
      outcome: 'set-aside',
      record: { state: 'superseded' },
    });
  });

  it('sets aside a first custody cut off halfway: with no custody in force to go back to, it could never settle', async () => {
    crashBefore('custody.take');
    await expect(
      custody.take({ token: blank(), threshold: 2, holders: holders(0, 1, 2), label: 'half-first' }),
    ).rejects.toMatchObject(unrecorded);
    const id = pendingId();
    const token = custody.record(id).token;
    // Its SO PIN back to one outside the custody, as if C_SetPIN never ran: the user PIN is the custody's.
    const so = await custody.rebuildPin(id, 'so', await keys(0, 1));
    module.withSession(token, { write: true, login: { user: 'so', pin: so.toString('latin1') } }, (session, lib) =>
      lib.C_SetPIN(session, so.toString('latin1'), 'outside-the-custody'),
    );
    // Before, CUSTODY_HALF_CHANGED for good, naming a previous custody there never was: pending forever, its holders
    // never retired, the token never taken again.
    expect(await custody.settle(id, holders(1, 2))).toMatchObject({
      outcome: 'set-aside',
      record: { state: 'superseded' },
    });
    const again = await custody.take({
      token,
      threshold: 2,
      holders: holders(0, 1, 2),
      currentSoPin: 'outside-the-custody',
    });
    expect(again.state).toBe('active');
  });

  it('settles once when two settles are sent at once: the second is refused before it tries a PIN', async () => {
    crashBefore('custody.take');
    await expect(
      custody.take({ token: blank(), threshold: 2, holders: holders(0, 1, 2), label: 'settle-twice' }),
    ).rejects.toMatchObject(unrecorded);
    const id = pendingId();
    const [first, second] = await Promise.allSettled([
      custody.settle(id, holders(1, 2)),
      custody.settle(id, holders(0, 1)),
    ]);
    expect(first).toMatchObject({ status: 'fulfilled', value: { outcome: 'activated' } });
    expect(second).toMatchObject({ status: 'rejected', reason: { code: 'TOKEN_IN_CUSTODY' } });
    expect(custody.record(id).state).toBe('active');
    const actions = opened.store
      .all<{ entry: string }>(sql`SELECT entry FROM audit_entries ORDER BY seq`)
      .map((row) => JSON.parse(row.entry) as { action: string; result: { status: string; code?: string } });
    expect(actions.filter((e) => e.action === 'custody.supersede')).toEqual([]);
    expect(actions.filter((e) => e.action === 'custody.settle').map((e) => e.result)).toEqual([
      { status: 'refused', code: 'TOKEN_IN_CUSTODY' },
      { status: 'ok' },
    ]);
  });

  it('sets it aside when the token never got its PINs, and names a half-change without touching anything', async () => {
    // X is in force; Y is dealt, then the token is put back to X's PINs and Y marked pending:
    // exactly what a crash between Y's journal and the token's change leaves behind.
    const x = await custody.take({ token: blank(), threshold: 2, holders: holders(0, 1, 2), label: 'settle-b' });
    const token = x.token;
    const soX = await custody.rebuildPin(x.id, 'so', await keys(0, 1));
    crashBefore('custody.take');
    await expect(custody.redeal(x.id, soX, await keys(0, 1, 2), 2)).rejects.toMatchObject(unrecorded);
    const y = { id: pendingId() };
    const [userX, soY] = [
      await custody.rebuildPin(x.id, 'user', await keys(1, 2)),
      await custody.rebuildPin(y.id, 'so', await keys(0, 2)),
    ];
    const backToX = (user: Buffer, so: Buffer) =>
      module.withSession(token, { write: true, login: { user: 'so', pin: soY.toString('latin1') } }, (session, lib) => {
        lib.C_InitPIN(session, user.toString('latin1'));
        lib.C_SetPIN(session, soY.toString('latin1'), so.toString('latin1'));
      });
    backToX(userX, soX);
    expect(await custody.settle(y.id, holders(0, 1))).toMatchObject({
      outcome: 'set-aside',
      record: { state: 'superseded' },
    });
    expect(custody.record(x.id).state).toBe('active');
    expect(loginWorks(token, await custody.rebuildPin(x.id, 'user', await keys(0, 2)))).toBe(true);

    // Half-changed: Z is dealt and crashes; the token's user PIN is then Z's, its SO PIN still X's.
    crashBefore('custody.take');
    await expect(custody.redeal(x.id, soX, await keys(0, 1, 2), 2)).rejects.toMatchObject(unrecorded);
    const z = { id: pendingId() };
    const soZ = await custody.rebuildPin(z.id, 'so', await keys(1, 2));
    module.withSession(token, { write: true, login: { user: 'so', pin: soZ.toString('latin1') } }, (session, lib) =>
      lib.C_SetPIN(session, soZ.toString('latin1'), soX.toString('latin1')),
    );
    await expect(custody.settle(z.id, holders(0, 2))).rejects.toMatchObject({
      code: 'CUSTODY_HALF_CHANGED',
      message: expect.stringContaining('accepts this custody’s user PIN but not its SO PIN'),
    });
    expect(custody.record(z.id).state).toBe('pending');
  });
});
