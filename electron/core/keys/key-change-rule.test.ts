import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ACTION_PARAMS } from '../../../shared/actions';
import { KEY_CHANGES, keyChangeRefusal, type KeyChange } from '../../../shared/key-lifecycle';
import type { KeyRecord } from '../../../shared/keys';
import type { ProposalView } from '../../../shared/quorum';
import { CustosError } from '../errors';
import { quorumDrill } from '../quorum/drill';
import { proposalBinder } from '../quorum/proposal-handlers';
import { QuorumService } from '../quorum/quorum-service';
import { pullTokenBefore } from '../testing/pulled-token';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import type { TokenModule } from '../hsm/token-module';
import { KeyInventory } from './key-inventory';
import { keyChecks, keyOperations } from './key-operations';

/*
 * The Keys screen offers a change only when keyChangeRefusal allows it, and says why not with its words. Here every
 * change is tried on keys in every state the lifecycle reaches, through the real quorum on SoftHSM2: what the screen
 * says (code and words, or nothing) is what the core answers when the change is proposed (or, for an officer's
 * emergency, what the transition's check answers before it changes anything).
 */

const DAY = 86_400_000;
let cleanup: () => void;
let dataDir: string;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let inventory: KeyInventory;
let quorum: QuorumService;
let custodyId: string;
/** Each key by the state it was brought to. */
const keys: Record<string, string> = {};

function started(module: () => TokenModule = () => f.module): QuorumService {
  const now = () => f.clock.now;
  return new QuorumService({
    store: f.opened.store,
    audit: f.opened.audit,
    custodians: f.custodians,
    custody: f.custody,
    module,
    clock: now,
    operations: { 'token.quorum-drill': quorumDrill, ...keyOperations(f.opened.store, now, inventory) },
    checks: keyChecks(f.opened.store, now, inventory),
    params: ACTION_PARAMS,
  });
}

const propose = (action: string, params: unknown): ProposalView =>
  quorum.propose({ custodyId, action, params, requestedBy: f.enrolled[0]!.id });
async function approved(action: string, params: unknown): Promise<ProposalView> {
  const done = await f.approveAll(quorum, propose(action, params), action === 'key.destroy' ? [1, 2, 3] : [1, 2]);
  expect(done.state, JSON.stringify(done.outcome)).toBe(action === 'key.destroy' ? done.state : 'executed');
  return done;
}
async function generated(name: string, algorithm = 'EC-P256'): Promise<string> {
  const params = { algorithm, label: name, usage: 'sign', backupable: false, cryptoperiodDays: 730 };
  const done = await approved('key.generate', { ...params, ckaId: randomBytes(16).toString('hex') });
  return (keys[name] = (done.outcome as { result: { keyId: string } }).result.keyId);
}
const officerDoes = (keyId: string, transition: 'suspend' | 'compromise') =>
  inventory.transition(
    keyId,
    transition,
    'security-officer',
    { type: 'custodian', id: f.enrolled[3]!.id, role: 'security-officer' },
    'test: the key was exposed',
  );

beforeAll(async () => {
  ({ dataDir, cleanup } = tempDataDir());
  f = await quorumFixture(dataDir, [
    { name: 'Ada' },
    { name: 'Babbage' },
    { name: 'Curie' },
    { name: 'Olga', roles: ['security-officer'] },
  ]);
  inventory = new KeyInventory(f.opened.store, f.opened.audit, () => f.clock.now);
  quorum = started();
  const holders = f.holders(0, 1, 2);
  custodyId = (await f.custody.take({ token: { serial: '', label: '' }, threshold: 2, holders, label: 'keys' })).id;

  await generated('pre-activation');
  const active = async (name: string) => {
    const keyId = await generated(name);
    await approved('key.activate', { keyId });
    return keyId;
  };
  await active('active');
  officerDoes(await active('suspended'), 'suspend');
  await approved('key.deactivate', { keyId: await active('deactivated') });
  const rotated = await approved('key.rotate', {
    keyId: await active('rotated'),
    ckaId: randomBytes(16).toString('hex'),
  });
  keys['rotation successor'] = (rotated.outcome as { result: { successorId: string } }).result.successorId;
  officerDoes(await active('compromised'), 'compromise');
  const scheduled = async (keyId: string, waitDays: number) =>
    approved('key.schedule-destruction', { keyId, waitDays });
  await scheduled(await active('active, waiting'), 30);
  await scheduled(await active('active, due'), 7);
  await scheduled(await generated('pre-activation, waiting'), 30);
  const suspendedDue = await active('suspended, due');
  officerDoes(suspendedDue, 'suspend');
  await scheduled(suspendedDue, 7);
  const compromisedWaiting = await active('compromised, waiting');
  officerDoes(compromisedWaiting, 'compromise');
  await scheduled(compromisedWaiting, 30);
  const destroyed = await active('destroyed');
  await scheduled(destroyed, 7);
  const partly = await active('partly destroyed');
  await scheduled(partly, 7);

  f.clock.now = new Date(f.clock.now.getTime() + 8 * DAY);
  await approved('key.destroy', { keyId: destroyed });
  // The token pulled after the private key is destroyed and before its public key: the key is partly destroyed.
  const pulled = pullTokenBefore(f.module, dataDir, f.custody.record(custodyId).token, 'C_DestroyObject', 2);
  quorum = started(() => pulled.module);
  expect((await approved('key.destroy', { keyId: partly })).outcome).toMatchObject({ code: 'KEY_PARTLY_DESTROYED' });
  pulled.putBack();
  f.restart();
  inventory = new KeyInventory(f.opened.store, f.opened.audit, () => f.clock.now);
  quorum = started();
}, 300_000);

afterAll(() => {
  quorum.forgetAll();
  f.close();
  cleanup();
});

/** The screen's verdict: the key as the core lists it (keys.list), through the shared rule, as the Keys screen asks. */
function screenSays(view: KeyRecord, change: KeyChange) {
  const refusal = keyChangeRefusal(view, change);
  return refusal && { code: refusal.code, message: refusal.message };
}

/** What the proposals channel binds into a proposal before it is vetted (a rotation's successor CKA_ID). */
const bind = proposalBinder({ copiesOf: () => [] });

/** The core's verdict: the change proposed as the Keys screen proposes it, or the officer's transition checked. */
function coreSays(keyId: string, change: KeyChange) {
  try {
    if (change === 'suspend' || change === 'compromise') inventory.check(keyId, change, 'security-officer');
    else {
      const params = change === 'key.schedule-destruction' ? { keyId, waitDays: 30 } : { keyId };
      propose(change, bind(custodyId, change, params));
    }
    return null;
  } catch (error) {
    if (!(error instanceof CustosError)) throw error;
    return { code: error.code, message: error.message };
  }
}

function everyVerdict() {
  const listed = inventory.list();
  return Object.entries(keys).flatMap(([state, keyId]) => {
    const view = listed.find((k) => k.id === keyId)!;
    return KEY_CHANGES.map((change) => ({
      state,
      change,
      screen: screenSays(view, change),
      core: coreSays(keyId, change),
    }));
  });
}

it('says on the Keys screen, for every key state and every change, exactly what the core answers', () => {
  const verdicts = everyVerdict();
  for (const { state, change, screen, core } of verdicts) expect(screen, `${change} on a ${state} key`).toEqual(core);
  // Each kind of answer is reached, so the table is not one answer repeated.
  const codes = new Set(verdicts.map((v) => v.core?.code ?? null));
  expect([...codes].sort((a, b) => String(a).localeCompare(String(b)))).toEqual([
    'DESTRUCTION_NOT_SCHEDULED',
    'DESTRUCTION_WAITING',
    'KEY_STATE_FORBIDS',
    null,
  ]);
  const allowed = (state: string) => verdicts.filter((v) => v.state === state && v.core === null).map((v) => v.change);
  expect(allowed('active, due')).toEqual([
    'key.deactivate',
    'key.cancel-destruction',
    'key.destroy',
    'suspend',
    'compromise',
  ]);
  expect(allowed('partly destroyed')).toEqual(['key.destroy', 'compromise']);
  expect(allowed('active, waiting')).not.toContain('key.destroy');
  // Waiting to be destroyed, a key is not made active (it cannot be used), only taken further out of use.
  expect(allowed('pre-activation, waiting')).not.toContain('key.activate');
});

it('asks the rule again when the last approval runs the change: a key changed meanwhile is refused, nothing done', async () => {
  const lastApproval = async (
    action: string,
    params: Record<string, unknown>,
    meanwhile: () => Promise<unknown> | unknown,
  ) => {
    const first = action === 'key.destroy' ? [1, 2] : [1];
    const last = action === 'key.destroy' ? [3] : [2];
    const proposal = await f.approveAll(quorum, propose(action, bind(custodyId, action as KeyChange, params)), first);
    await meanwhile();
    return (await f.approveAll(quorum, proposal, last)).outcome;
  };
  const active = async (name: string) => {
    const keyId = await generated(name);
    await approved('key.activate', { keyId });
    return keyId;
  };
  // Approved for an active key, which an officer then suspends or marks compromised.
  const suspended = await active('run: suspended');
  expect(await lastApproval('key.rotate', { keyId: suspended }, () => officerDoes(suspended, 'suspend'))).toMatchObject(
    { code: 'KEY_STATE_FORBIDS' },
  );
  const compromised = await active('run: compromised');
  expect(
    await lastApproval('key.deactivate', { keyId: compromised }, () => officerDoes(compromised, 'compromise')),
  ).toMatchObject({ code: 'KEY_STATE_FORBIDS' });
  // Approved for a key nobody meant to destroy, whose destruction a quorum then schedules.
  const waiting = await generated('run: waiting');
  expect(
    await lastApproval('key.activate', { keyId: waiting }, () =>
      approved('key.schedule-destruction', { keyId: waiting, waitDays: 30 }),
    ),
  ).toMatchObject({ code: 'DESTRUCTION_WAITING' });
  expect(inventory.get(waiting).state).toBe('pre-activation');
  const rotating = await active('run: rotating, waiting');
  expect(
    await lastApproval('key.rotate', { keyId: rotating }, () =>
      approved('key.schedule-destruction', { keyId: rotating, waitDays: 30 }),
    ),
  ).toMatchObject({ code: 'DESTRUCTION_WAITING' });
  expect(inventory.get(rotating).rotatedTo).toBeNull();
  // A destruction approved once its wait was over, whose schedule a quorum then cancels.
  const cancelled = await active('run: cancelled');
  await approved('key.schedule-destruction', { keyId: cancelled, waitDays: 7 });
  f.clock.now = new Date(f.clock.now.getTime() + 8 * DAY);
  expect(
    await lastApproval('key.destroy', { keyId: cancelled }, () =>
      approved('key.cancel-destruction', { keyId: cancelled }),
    ),
  ).toMatchObject({ code: 'DESTRUCTION_NOT_SCHEDULED' });
  expect(inventory.get(cancelled).state).toBe('active');
}, 300_000);

it('agrees once the policy disallows the keys’ algorithm: no activation, and no rotation to the same algorithm', () => {
  f.clock.now = new Date('2036-01-02T00:00:00Z');
  const verdicts = everyVerdict();
  for (const { state, change, screen, core } of verdicts) expect(screen, `${change} on a ${state} key`).toEqual(core);
  const on = (state: string, change: KeyChange) => verdicts.find((v) => v.state === state && v.change === change)!;
  expect(on('active', 'key.rotate').core?.code).toBe('ALGORITHM_DISALLOWED');
  expect(on('pre-activation', 'key.activate').core?.code).toBe('ALGORITHM_DISALLOWED');
  expect(on('active, waiting', 'key.destroy').core).toBeNull();
});
