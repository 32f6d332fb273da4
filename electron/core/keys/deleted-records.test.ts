import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ACTION_PARAMS } from '../../../shared/actions';
import type { ProposalView } from '../../../shared/quorum';
import { quorumDrill } from '../quorum/drill';
import type { QuorumService } from '../quorum/quorum-service';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { KeyInventory } from './key-inventory';
import { keyChecks, keyOperations } from './key-operations';

/**
 * Someone with the database file alone deletes the row of a key, a custodian or a custody record (with the sqlite3
 * CLI, whose foreign keys are off unless asked for; here the dependent rows go first, through the store's connection,
 * which holds the file's exclusive lock). The signed log still records each, so the list that would leave it out
 * unseen is refused with the record's stable code, and the refusal recorded.
 */
let cleanup: () => void;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let inventory: KeyInventory;
let quorum: QuorumService;
let custodyA: string;
let custodyB: string;

beforeEach(async () => {
  let dataDir: string;
  ({ dataDir, cleanup } = tempDataDir());
  f = await quorumFixture(dataDir, [
    { name: 'Ada' },
    { name: 'Babbage' },
    { name: 'Curie' },
    { name: 'Dora' },
    { name: 'Olga', roles: ['security-officer'] },
  ]);
  const now = () => f.clock.now;
  inventory = new KeyInventory(f.opened.store, f.opened.audit, now);
  quorum = f.quorum(
    { 'token.quorum-drill': quorumDrill, ...keyOperations(f.opened.store, now, inventory) },
    {},
    ACTION_PARAMS,
    keyChecks(f.opened.store, now, inventory),
  );
  const take = async (label: string) =>
    (await f.custody.take({ token: { serial: '', label: '' }, threshold: 2, holders: f.holders(0, 1, 2), label })).id;
  custodyA = await take('token-a');
  custodyB = await take('token-b');
});
afterEach(() => {
  quorum.forgetAll();
  f.close();
  cleanup();
});

/** A raw write to the database file, past every check of the core. */
function edit(statement: string, ...values: (string | number)[]): void {
  f.opened.store.execute({ text: statement, params: values });
}
const approved = (custodyId: string, action: string, params: Record<string, unknown>): Promise<ProposalView> =>
  f.approveAll(quorum, quorum.propose({ custodyId, action, params, requestedBy: f.enrolled[0]!.id }), [1, 2]);
async function keyIn(custodyId: string, label = 'signing'): Promise<string> {
  const params = {
    algorithm: 'EC-P256',
    label,
    usage: 'sign',
    backupable: false,
    cryptoperiodDays: 365,
    ckaId: randomBytes(16).toString('hex'),
  };
  expect((await approved(custodyId, 'key.generate', params)).state).toBe('executed');
  return params.ckaId;
}
const recorded = async (code: string) => {
  await new Promise((resolve) => setImmediate(resolve));
  return [...f.opened.audit.log().entries()]
    .map((e) => JSON.parse(e.entry) as { action: string; result: { status: string; code?: string } })
    .filter((e) => e.result.code === code)
    .map((e) => `${e.action} ${e.result.status}`);
};
const deleted = (code: string, id: string) =>
  expect.objectContaining({ code, message: expect.stringContaining(`${id} was deleted outside Custos`) });

describe('a deleted key is named, not left out of the inventory', () => {
  it('no key is generated again under the id of one whose row was deleted: KEY_TAMPERED, before the token', async () => {
    const keyId = await keyIn(custodyB, 'first');
    edit(`DELETE FROM keys WHERE id = ?`, keyId);
    const params = { algorithm: 'EC-P256', label: 'second', usage: 'sign', backupable: false, cryptoperiodDays: 365 };
    // Before: the token's own check (its objects are still there) was all that stood in the way.
    const again = await approved(custodyB, 'key.generate', { ...params, ckaId: keyId });
    expect(again).toMatchObject({ state: 'failed', outcome: { code: 'KEY_TAMPERED' } });
  });

  it('a compromised key’s row deleted: the key list and the key itself are refused (KEY_TAMPERED), recorded', async () => {
    const kept = await keyIn(custodyA, 'kept');
    const keyId = await keyIn(custodyB, 'leaked');
    inventory.transition(
      keyId,
      'compromise',
      'security-officer',
      { type: 'custodian', id: f.enrolled[4]!.id, role: 'security-officer' },
      'key file found on a shared drive',
    );
    edit(`DELETE FROM keys WHERE id = ?`, keyId);
    // Before: the list held only the other key, and the compromised one was simply unknown (KEY_NOT_FOUND).
    expect(() => inventory.list()).toThrow(deleted('KEY_TAMPERED', keyId));
    expect(() => inventory.get(keyId)).toThrow(deleted('KEY_TAMPERED', keyId));
    // Nor does any check read it as unknown (before: no public key, in no token, so a set could bring another in).
    expect(() => inventory.publicKey(keyId)).toThrow(deleted('KEY_TAMPERED', keyId));
    expect(() => inventory.livesIn(keyId, { serial: '', label: '' })).toThrow(deleted('KEY_TAMPERED', keyId));
    expect(inventory.known(kept)).toBe(true);
    expect(inventory.known('0'.repeat(32))).toBe(false);
    expect(inventory.get(kept).label).toBe('kept');
    expect(await recorded('KEY_TAMPERED')).toContain('key.tampered refused');
  });

  it('a key only generated (no entry of its own) and waiting for destruction: named from its generation', async () => {
    const keyId = await keyIn(custodyB);
    expect((await approved(custodyB, 'key.schedule-destruction', { keyId, waitDays: 30 })).state).toBe('executed');
    edit(`DELETE FROM destruction_schedules WHERE key_id = ?`, keyId);
    edit(`DELETE FROM keys WHERE id = ?`, keyId);
    // Before: an empty inventory, the pending destruction gone with it.
    expect(() => inventory.list()).toThrow(deleted('KEY_TAMPERED', keyId));
  });

  it('a key deleted with the proposal that generated it: the list is refused, naming the proposal (PROPOSAL_TAMPERED)', async () => {
    const keyId = await keyIn(custodyB);
    const { proposal_id: proposalId } = f.opened.store.get<{ proposal_id: string }>({
      text: 'SELECT proposal_id FROM keys WHERE id = ?',
      params: [keyId],
    })!;
    edit(`DELETE FROM keys WHERE id = ?`, keyId);
    for (const table of ['approvals', 'executions']) edit(`DELETE FROM ${table} WHERE proposal_id = ?`, proposalId);
    edit(`DELETE FROM proposals WHERE id = ?`, proposalId);
    // Before: an empty inventory.
    expect(() => inventory.list()).toThrow(
      expect.objectContaining({
        code: 'PROPOSAL_TAMPERED',
        message: expect.stringMatching(new RegExp(`proposal ${proposalId}, .* was deleted outside Custos`)),
      }),
    );
  });

  it('names no key when nothing was deleted, after a rotation (its successor named by the rotation’s outcome)', async () => {
    const keyId = await keyIn(custodyB);
    expect((await approved(custodyB, 'key.activate', { keyId })).state).toBe('executed');
    expect((await approved(custodyB, 'key.rotate', { keyId, ckaId: randomBytes(16).toString('hex') })).state).toBe(
      'executed',
    );
    expect(inventory.list()).toHaveLength(2);
  });
});

describe('a deleted custodian or custody is named, not left out of its list', () => {
  it('a custodian’s row deleted: the custodian list and the custodian are refused (CUSTODIAN_TAMPERED), recorded', async () => {
    const dora = f.enrolled[3]!.id; // holds no share, proposed nothing: no other row names her
    edit(`DELETE FROM custodians WHERE id = ?`, dora);
    // Before: four custodians listed, Dora unknown.
    expect(() => f.custodians.list()).toThrow(deleted('CUSTODIAN_TAMPERED', dora));
    expect(() => f.custodians.get(dora)).toThrow(deleted('CUSTODIAN_TAMPERED', dora));
    expect(await recorded('CUSTODIAN_TAMPERED')).toContain('custodian.tampered refused');
  });

  it('a custody record deleted with its shares: the custody list and the record are refused (CUSTODY_TAMPERED)', async () => {
    edit(`DELETE FROM custody_shares WHERE custody_id = ?`, custodyA);
    edit(`DELETE FROM custody WHERE id = ?`, custodyA);
    // Before: only token-b listed, token-a's custody unknown (CUSTODY_NOT_FOUND).
    expect(() => f.custody.list()).toThrow(deleted('CUSTODY_TAMPERED', custodyA));
    expect(() => f.custody.record(custodyA)).toThrow(deleted('CUSTODY_TAMPERED', custodyA));
    expect(await recorded('CUSTODY_TAMPERED')).toContain('custody.tampered refused');
  });
});
