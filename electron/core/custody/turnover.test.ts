import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { totpCodeAt } from '../custodians/totp';
import { keyOperations } from '../keys/key-operations';
import { quorumDrill } from '../quorum/drill';
import { ACTION_PARAMS } from '../../../shared/actions';
import { KeyInventory } from '../keys/key-inventory';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { pullTokenBefore } from '../testing/pulled-token';
import { QuorumService } from '../quorum/quorum-service';
import { CustodyService } from './custody-service';
import { reconcileTurnover, turnover } from './turnover';

let cleanup: () => void;
let dataDir: string;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let quorum: QuorumService;
let oldCustody: { id: string; token: { serial: string; label: string } };
const [ADA, BABBAGE, CURIE, DANA, EVE] = [0, 1, 2, 3, 4];

beforeEach(async () => {
  ({ dataDir, cleanup } = tempDataDir());
  f = await quorumFixture(dataDir, [
    { name: 'Ada' },
    { name: 'Babbage' },
    { name: 'Curie' },
    { name: 'Dana' },
    { name: 'Eve', roles: ['auditor'] },
  ]);
  const now = () => f.clock.now;
  quorum = f.quorum(
    {
      'token.quorum-drill': quorumDrill,
      ...keyOperations(f.opened.store, now, new KeyInventory(f.opened.store, f.opened.audit, now)),
    },
    { 'custody.redeal': turnover(f.custody) },
    ACTION_PARAMS,
  );
  oldCustody = await f.custody.take({
    token: { serial: '', label: '' },
    threshold: 2,
    holders: f.holders(ADA, BABBAGE, CURIE),
    label: 'turnover',
  });
});
afterEach(() => {
  quorum.forgetAll();
  f.close();
  cleanup();
});

const id = (who: number) => f.enrolled[who]!.id;
function approve(who: number, proposal: { id: string; shortFingerprint: string }) {
  f.tick();
  const c = f.enrolled[who]!;
  return quorum.approve({
    proposalId: proposal.id,
    custodianId: c.id,
    passphrase: c.passphrase,
    code: totpCodeAt(c.secret, f.clock.now),
    fingerprint: proposal.shortFingerprint,
  });
}
const redeal = (custodyId: string, threshold: number, holders: number[], by = ADA) =>
  quorum.propose({
    custodyId,
    action: 'custody.redeal',
    params: { threshold, holders: holders.map(id) },
    requestedBy: id(by),
  });
const drill = (custodyId: string, by: number) =>
  quorum.propose({ custodyId, action: 'token.quorum-drill', params: {}, requestedBy: id(by) });
const loginWith = (pin: Buffer) => {
  try {
    return f.module.withSession(
      oldCustody.token,
      { login: { user: 'user', pin: pin.toString('latin1') } },
      () => 'opened',
    );
  } catch (error) {
    return (error as { code: string }).code;
  }
};
function keys(...who: number[]) {
  return Promise.all(
    f.holders(...who).map(async (h) => ({
      custodianId: h.custodianId,
      key: await f.custodians.verifyFactors(h.custodianId, h.passphrase, h.code, 'test'),
    })),
  );
}

describe('custodian turnover', () => {
  it('replaces a holder: current holders rebuild the SO PIN, the new holder confirms, and the token is re-dealt', async () => {
    const oldPin = await f.custody.rebuildPin(oldCustody.id, 'user', await keys(ADA, BABBAGE));
    const proposal = redeal(oldCustody.id, 2, [BABBAGE, CURIE, DANA]);
    expect(proposal.holdersToConfirm).toEqual([id(BABBAGE), id(CURIE), id(DANA)]);
    await approve(BABBAGE, proposal);
    const waiting = await approve(CURIE, proposal);
    // Two current holders have approved, but Dana has not yet confirmed she will hold a share.
    expect(waiting).toMatchObject({ state: 'open', holdersToConfirm: [id(DANA)] });
    const done = await approve(DANA, proposal);
    expect(done).toMatchObject({
      state: 'executed',
      outcome: { status: 'ok', result: { replaces: oldCustody.id, threshold: 2 } },
    });

    const custodies = f.custody.list();
    const current = custodies.find((c) => c.state === 'active')!;
    expect(current.holderIds).toEqual([id(BABBAGE), id(CURIE), id(DANA)].sort());
    expect(f.custody.record(oldCustody.id).state).toBe('superseded');
    // The old PIN and anything the old shares rebuild are now worthless to the token…
    expect(loginWith(oldPin)).toBe('PIN_INCORRECT');
    await expect(f.custody.rebuildPin(oldCustody.id, 'user', await keys(ADA, CURIE)).then(loginWith)).resolves.toBe(
      'PIN_INCORRECT',
    );
    // …and the new holders open it: the newcomer and one who stayed, without Ada.
    expect(loginWith(await f.custody.rebuildPin(current.id, 'user', await keys(DANA, CURIE)))).toBe('opened');
    const proof = drill(current.id, BABBAGE);
    await approve(DANA, proof);
    expect(await approve(CURIE, proof)).toMatchObject({ state: 'executed', outcome: { status: 'ok' } });
    await expect(approve(ADA, drill(current.id, BABBAGE))).rejects.toMatchObject({ code: 'NOT_AUTHORIZED' });
    oldPin.fill(0);
  });

  it('changes the threshold; the requester confirms as a holder without approving; proposals on the old custody are void', async () => {
    const stale = drill(oldCustody.id, CURIE);
    const proposal = redeal(oldCustody.id, 3, [ADA, BABBAGE, CURIE]);
    await approve(BABBAGE, proposal);
    // Ada proposed and will hold a share: she confirms with both factors, which is not an approval.
    const confirmed = await approve(ADA, proposal);
    expect(confirmed).toMatchObject({
      state: 'open',
      approvals: [{ custodianId: id(BABBAGE) }],
      holdersToConfirm: [id(CURIE)],
    });
    expect(await approve(CURIE, proposal)).toMatchObject({ state: 'executed', outcome: { status: 'ok' } });
    const current = f.custody.list().find((c) => c.state === 'active')!;
    expect(current).toMatchObject({ threshold: 3, holders: 3 });
    expect(quorum.view(stale.id).state).toBe('cancelled');
    await expect(approve(ADA, stale)).rejects.toMatchObject({ code: 'PROPOSAL_CLOSED' });
    // Two of three no longer open the token.
    await expect(f.custody.rebuildPin(current.id, 'user', await keys(ADA, BABBAGE))).rejects.toMatchObject({
      code: 'QUORUM_NOT_MET',
    });
    expect(loginWith(await f.custody.rebuildPin(current.id, 'user', await keys(ADA, BABBAGE, CURIE)))).toBe('opened');
    const entries = [...f.opened.audit.log().entries()].map((e) => (JSON.parse(e.entry) as { action: string }).action);
    expect(entries).toEqual(
      expect.arrayContaining([
        'proposal.confirm-holder',
        'custody.begin',
        'custody.take',
        'proposal.execute',
        'proposal.void',
      ]),
    );
  });

  it('refuses self-approval by a requester who will hold no share', async () => {
    const proposal = redeal(oldCustody.id, 2, [BABBAGE, CURIE]);
    await expect(approve(ADA, proposal)).rejects.toMatchObject({ code: 'SELF_APPROVAL' });
  });

  it('refuses, when proposed, a set that could not hold the token', () => {
    expect(() => redeal(oldCustody.id, 4, [ADA, BABBAGE, CURIE])).toThrow(
      expect.objectContaining({ code: 'PROPOSAL_INVALID' }),
    );
    expect(() => redeal(oldCustody.id, 1, [ADA, BABBAGE])).toThrow(
      expect.objectContaining({ code: 'PROPOSAL_INVALID' }),
    );
    expect(() => redeal(oldCustody.id, 2, [ADA, ADA, BABBAGE])).toThrow(
      expect.objectContaining({ code: 'PROPOSAL_INVALID' }),
    );
    expect(() => redeal(oldCustody.id, 2, [ADA, EVE])).toThrow(
      expect.objectContaining({ code: 'PROPOSAL_INVALID', message: expect.stringContaining('Eve') }),
    );
    expect(quorum.list()).toEqual([]);
  });

  it('checks every action’s parameters when proposed, so approvers never approve what cannot run', () => {
    const keyId = 'ab'.repeat(16);
    expect(() =>
      quorum.propose({
        custodyId: oldCustody.id,
        action: 'key.schedule-destruction',
        params: { keyId, waitDays: 3 },
        requestedBy: id(ADA),
      }),
    ).toThrow(expect.objectContaining({ code: 'PROPOSAL_INVALID', remedy: [expect.stringContaining('waitDays')] }));
    // A default is written into the proposal, so what is approved says it.
    expect(
      quorum.propose({
        custodyId: oldCustody.id,
        action: 'key.schedule-destruction',
        params: { keyId },
        requestedBy: id(ADA),
      }).params,
    ).toEqual({ keyId, waitDays: 30 });
  });
});

describe('a turnover whose token is pulled out between its two PIN changes', () => {
  it('says the token may hold the new user PIN and the custody is pending, not an ordinary failure', async () => {
    // The token takes the new user PIN (C_InitPIN) and is pulled out before its SO PIN changes (C_SetPIN).
    const pulled = pullTokenBefore(f.module, dataDir, oldCustody.token, 'C_SetPIN', 1);
    const custody = new CustodyService({
      store: f.opened.store,
      audit: f.opened.audit,
      custodians: f.custodians,
      actor: { type: 'operator', id: 'test' },
      module: () => pulled.module,
      clock: () => new Date(),
    });
    quorum = new QuorumService({
      store: f.opened.store,
      audit: f.opened.audit,
      custodians: f.custodians,
      custody,
      module: () => f.module,
      clock: () => f.clock.now,
      operations: {},
      ceremonies: { 'custody.redeal': turnover(custody) },
      params: ACTION_PARAMS,
    });
    const proposal = redeal(oldCustody.id, 2, [BABBAGE, CURIE, DANA]);
    await approve(BABBAGE, proposal);
    await approve(CURIE, proposal);
    const failed = await approve(DANA, proposal);
    expect(pulled.pulled()).toBe(true);
    // Before, the outcome was the token's own error alone ("check it is attached, then refresh"), read as nothing
    // changed, while the token no longer took the PIN of the custody still shown in force.
    expect(failed).toMatchObject({
      state: 'failed',
      outcome: {
        code: 'TOKEN_GENERAL_ERROR',
        message: expect.stringMatching(/may now hold the new user PIN.*The custody stays pending\.$/),
        remedy: [
          expect.stringMatching(/^Do not take the token/),
          expect.stringContaining('settle the pending custody'),
        ],
        detail: { ckr: 'CKR_GENERAL_ERROR', step: 'C_SetPIN' },
      },
    });
    const pending = f.custody.list().find((c) => c.state === 'pending')!;
    pulled.putBack();
    quorum.forgetAll();
    f.restart();
    await expect(f.custody.settle(pending.id, f.holders(CURIE, DANA))).rejects.toMatchObject({
      code: 'CUSTODY_HALF_CHANGED',
    });
  });
});

describe('a turnover cut off by a crash', () => {
  it('closes as failed naming the pending custody to settle, not as if nothing was registered', async () => {
    const proposal = redeal(oldCustody.id, 2, [BABBAGE, CURIE, DANA]);
    // What a crash after the token took the new PINs leaves: the run journaled, the new custody pending.
    f.journal(proposal);
    const so = await f.custody.rebuildPin(oldCustody.id, 'so', await keys(ADA, BABBAGE));
    const record = f.opened.audit.record.bind(f.opened.audit);
    const spy = vi.spyOn(f.opened.audit, 'record').mockImplementation((event, change) => {
      if (event.action !== 'custody.take') return record(event, change);
      spy.mockRestore();
      throw new Error('simulated crash');
    });
    await expect(f.custody.redeal(oldCustody.id, so, await keys(BABBAGE, CURIE, DANA), 2)).rejects.toMatchObject({
      code: 'OPERATION_UNRECORDED',
    });
    quorum.forgetAll();
    f.restart();
    quorum = new QuorumService({
      store: f.opened.store,
      audit: f.opened.audit,
      custodians: f.custodians,
      custody: f.custody,
      module: () => f.module,
      clock: () => f.clock.now,
      operations: {},
      ceremonies: { 'custody.redeal': turnover(f.custody) },
      reconcilers: { 'custody.redeal': reconcileTurnover(f.custody) },
      params: ACTION_PARAMS,
    });
    const pending = f.custody.list().find((c) => c.state === 'pending')!;
    // Before, "could not see in the token that it completed, so nothing was registered": the token had the new PINs.
    expect(quorum.reconcile()).toMatchObject([
      {
        proposalId: proposal.id,
        status: 'failed',
        outcome: {
          code: 'OPERATION_INTERRUPTED',
          message: expect.stringContaining(`The new custody ${pending.id} is pending`),
          remedy: [expect.stringMatching(/^Settle the pending custody: 2 of its holders/)],
        },
      },
    ]);
    expect(await f.custody.settle(pending.id, f.holders(CURIE, DANA))).toMatchObject({ outcome: 'activated' });
  });
});
