import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackupService } from '../backup/backup-service';
import { findObjects } from '../hsm/find-objects';
import { keyChecks, keyOperations } from './key-operations';
import { ACTION_PARAMS } from '../../../shared/actions';
import type { QuorumService } from '../quorum/quorum-service';
import type { ProposalView } from '../../../shared/quorum';
import { sql } from '../store/sql';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { KeyInventory } from './key-inventory';

/**
 * Two SoftHSM2 tokens, each in its own custody with the same people as holders: the quorum of
 * token A has authority over A's keys only, however the proposal is written.
 */
let cleanup: () => void;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let inventory: KeyInventory;
let backups: BackupService;
let checked: QuorumService;
let unchecked: QuorumService;
let custodyA: string;
let custodyB: string;

beforeEach(async () => {
  let dataDir: string;
  ({ dataDir, cleanup } = tempDataDir());
  f = await quorumFixture(dataDir, [
    { name: 'Ada' },
    { name: 'Babbage' },
    { name: 'Curie' },
    { name: 'Olga', roles: ['security-officer'] },
  ]);
  const now = () => f.clock.now;
  inventory = new KeyInventory(f.opened.store, f.opened.audit, now);
  backups = new BackupService({
    store: f.opened.store,
    audit: f.opened.audit,
    custodians: f.custodians,
    keys: inventory,
    module: () => f.module,
    quorum: () => checked,
    clock: now,
  });
  const ceremonies = { 'key.backup': backups.backupCeremony() };
  checked = f.quorum(
    keyOperations(f.opened.store, now, inventory),
    ceremonies,
    ACTION_PARAMS,
    keyChecks(f.opened.store, now, inventory),
  );
  // The same operations without the proposal-time checks: shows that the run itself refuses too.
  unchecked = f.quorum(keyOperations(f.opened.store, now, inventory), ceremonies, ACTION_PARAMS);
  custodyA = (
    await f.custody.take({
      token: { serial: '', label: '' },
      threshold: 2,
      holders: f.holders(0, 1, 2),
      label: 'token-a',
    })
  ).id;
  custodyB = (
    await f.custody.take({
      token: { serial: '', label: '' },
      threshold: 2,
      holders: f.holders(0, 1, 2),
      label: 'token-b',
    })
  ).id;
});
afterEach(() => {
  checked.forgetAll();
  unchecked.forgetAll();
  backups.forgetAll();
  f.close();
  cleanup();
});

const approversFor = (action: string) => (action === 'key.destroy' ? [1, 2, 3] : [1, 2]);
const propose = (quorum: QuorumService, custodyId: string, action: string, params: Record<string, unknown>) =>
  quorum.propose({ custodyId, action, params, requestedBy: f.enrolled[0]!.id });
const approved = (
  quorum: QuorumService,
  custodyId: string,
  action: string,
  params: Record<string, unknown>,
): Promise<ProposalView> => f.approveAll(quorum, propose(quorum, custodyId, action, params), approversFor(action));
const tokenOf = (custodyId: string) => f.custody.record(custodyId).token;
const objectsOf = (custodyId: string, keyId: string) =>
  f.module.withSession(
    tokenOf(custodyId),
    {},
    (session, lib) =>
      findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') }], 10).length,
  );
const refusals = () =>
  [...f.opened.audit.log().entries()]
    .map((e) => JSON.parse(e.entry) as { action: string; result: { status: string; code?: string } })
    .filter((e) => e.result.code === 'KEY_WRONG_TOKEN')
    .map((e) => `${e.action} ${e.result.status}`);

async function keyInB(backupable = false): Promise<string> {
  const params = {
    algorithm: 'EC-P256',
    label: 'b-signing',
    usage: 'sign',
    backupable,
    cryptoperiodDays: 365,
    ckaId: randomBytes(16).toString('hex'),
  };
  const done = await approved(checked, custodyB, 'key.generate', params);
  expect(done.state).toBe('executed');
  return params.ckaId;
}
const days = (n: number) => (f.clock.now = new Date(f.clock.now.getTime() + n * 86_400_000));

describe('a key action is bound to the token the key lives in', () => {
  it.each([
    ['key.activate', {}],
    ['key.deactivate', {}],
    ['key.reactivate', {}],
    ['key.schedule-destruction', { waitDays: 7 }],
    ['key.cancel-destruction', {}],
    ['key.destroy', {}],
    ['key.test-signature', { challenge: 'whose key?' }],
  ])('token A’s custodians cannot propose %s for a key in token B: refused and recorded', async (action, extra) => {
    const keyId = await keyInB();
    expect(() => propose(checked, custodyA, action, { keyId, ...extra })).toThrow(
      expect.objectContaining({ code: 'KEY_WRONG_TOKEN' }),
    );
    expect(refusals()).toEqual(['proposal.create refused']);
    expect(inventory.get(keyId).state).toBe('pre-activation');
  });

  it('refuses a backup of token B’s key proposed to token A’s custody', async () => {
    const keyId = await keyInB(true);
    const params = { keyIds: [keyId], holders: [f.enrolled[0]!.id, f.enrolled[1]!.id], threshold: 2 };
    expect(() => propose(checked, custodyA, 'key.backup', params)).toThrow(
      expect.objectContaining({ code: 'KEY_WRONG_TOKEN' }),
    );
    expect(refusals()).toEqual(['proposal.create refused']);
  });

  it('refuses again when it runs, and changes nothing: no state, no schedule', async () => {
    const keyId = await keyInB();
    for (const [action, extra] of [
      ['key.activate', {}],
      ['key.schedule-destruction', { waitDays: 7 }],
    ] as const) {
      const done = await approved(unchecked, custodyA, action, { keyId, ...extra });
      expect(done).toMatchObject({ state: 'failed', outcome: { status: 'failed', code: 'KEY_WRONG_TOKEN' } });
    }
    expect(inventory.get(keyId)).toMatchObject({ state: 'pre-activation', destructionNotBefore: null });
  });

  it('never certifies the destruction of token B’s key from token A’s session', async () => {
    const keyId = await keyInB();
    expect((await approved(checked, custodyB, 'key.schedule-destruction', { keyId, waitDays: 7 })).state).toBe(
      'executed',
    );
    days(8);
    // Were the record moved to token A (a database edit), the signed record no longer matches: refused before anything
    // runs.
    const a = tokenOf(custodyA);
    f.opened.store.execute(
      sql`UPDATE keys SET token_serial = ${a.serial}, token_label = ${a.label} WHERE id = ${keyId}`,
    );
    expect(() => propose(checked, custodyA, 'key.destroy', { keyId })).toThrow(
      expect.objectContaining({ code: 'KEY_TAMPERED' }),
    );
    f.opened.store.execute(
      sql`UPDATE keys SET token_serial = ${tokenOf(custodyB).serial}, token_label = ${tokenOf(custodyB).label} WHERE id = ${keyId}`,
    );
    expect(inventory.get(keyId).state).not.toBe('destroyed');
    expect(
      f.opened.store.get(sql`SELECT proof FROM destruction_schedules WHERE key_id = ${keyId} AND proof IS NOT NULL`),
    ).toBeUndefined();
    expect(objectsOf(custodyB, keyId)).toBe(1); // its public half, visible without a login: still there
  });

  it('lets token B’s own custodians act on it', async () => {
    const keyId = await keyInB();
    expect((await approved(checked, custodyB, 'key.activate', { keyId })).state).toBe('executed');
    expect((await approved(checked, custodyB, 'key.test-signature', { keyId, challenge: 'ours' })).state).toBe(
      'executed',
    );
    expect((await approved(checked, custodyB, 'key.schedule-destruction', { keyId, waitDays: 7 })).state).toBe(
      'executed',
    );
    days(7);
    expect((await approved(checked, custodyB, 'key.destroy', { keyId })).state).toBe('executed');
    expect(objectsOf(custodyB, keyId)).toBe(0);
  });
});
