import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findObjects } from '../hsm/find-objects';
import { KeyInventory } from '../keys/key-inventory';
import { keyOperations, keyReconcilers } from '../keys/key-operations';
import { quorumDrill } from '../quorum/drill';
import { ACTION_PARAMS } from '../../../shared/actions';
import { QuorumService, type CeremonyOperation } from '../quorum/quorum-service';
import type { ProposalView } from '../../../shared/quorum';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { BackupService } from './backup-service';
import { reconcileRestore } from './reconcile-restore';
import type { TokenModule } from '../hsm/token-module';
import { pullTokenBefore } from '../testing/pulled-token';
import { plantAheadOfKey, plantPublicKey } from '../testing/planted-objects';
import { CKA_DESTROYABLE } from '../keys/key-attributes';
import { canonicalJson, sha256Hex } from '../canonical-json';

let cleanup: () => void;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let inventory: KeyInventory;
let backups: BackupService;
let quorum: QuorumService;

let dataDir: string;

beforeEach(async () => {
  ({ dataDir, cleanup } = tempDataDir());
  f = await quorumFixture(dataDir, [{ name: 'Ada' }, { name: 'Babbage' }, { name: 'Curie' }]);
  inventory = new KeyInventory(f.opened.store, f.opened.audit, () => f.clock.now);
  backups = backupService(() => f.module);
  quorum = started();
});

/** The backup service as a start of Custos builds it, on the fixture's current parts and this token library. */
function backupService(module: () => TokenModule): BackupService {
  return new BackupService({
    store: f.opened.store,
    audit: f.opened.audit,
    custodians: f.custodians,
    keys: inventory,
    module,
    quorum: () => quorum,
    clock: () => f.clock.now,
  });
}
afterEach(() => {
  quorum.forgetAll();
  backups.forgetAll();
  f.close();
  cleanup();
});

/** The quorum as a start of Custos builds it; `restore` stands in for the restore ceremony when given. */
function started(restore: CeremonyOperation = backups.restoreCeremony()): QuorumService {
  const now = () => f.clock.now;
  return new QuorumService({
    store: f.opened.store,
    audit: f.opened.audit,
    custodians: f.custodians,
    custody: f.custody,
    module: () => f.module,
    clock: now,
    params: ACTION_PARAMS,
    operations: { 'token.quorum-drill': quorumDrill, ...keyOperations(f.opened.store, now, inventory) },
    ceremonies: { 'key.backup': backups.backupCeremony(), 'key.restore': restore },
    reconcilers: {
      ...keyReconcilers(f.opened.store, now, inventory),
      'key.restore': reconcileRestore({
        store: f.opened.store,
        audit: f.opened.audit,
        keys: inventory,
        manifest: (setId) => backups.manifest(setId),
      }),
    },
  });
}

const custodyOf = async (label: string) =>
  (await f.custody.take({ token: { serial: '', label: '' }, threshold: 2, holders: f.holders(0, 1, 2), label })).id;
const approved = (custodyId: string, action: string, params: unknown) =>
  f.approveAll(quorum, quorum.propose({ custodyId, action, params, requestedBy: f.enrolled[0]!.id }), [1, 2]);
/** A backupable key generated in the custody's token. */
const generate = (custodyId: string, algorithm: string, usage: string) =>
  approved(custodyId, 'key.generate', {
    algorithm,
    label: `${algorithm} ${usage}`,
    usage,
    backupable: true,
    cryptoperiodDays: 365,
    ckaId: randomBytes(16).toString('hex'),
  });
const keyOf = (view: ProposalView) => (view.outcome as { result: { keyId: string } }).result.keyId;
const actions = () =>
  [...f.opened.audit.log().entries()].map((e) => JSON.parse(e.entry) as { action: string; object: unknown });

/** A restore of a wrapping AES key and an EC key pair that runs its token work in full, then dies unrecorded. */
async function restoreCrashedAfterTokenWork() {
  const source = await custodyOf('source');
  const keyIds = [keyOf(await generate(source, 'AES-256', 'wrap')), keyOf(await generate(source, 'EC-P256', 'sign'))];
  const setId = (
    await approved(source, 'key.backup', { keyIds, holders: f.enrolled.slice(0, 3).map((c) => c.id), threshold: 2 })
  ).outcome as { result: { setId: string } };
  const cards = backups.printableCards(setId.result.setId);
  const target = await custodyOf('target');
  let crashed!: () => void;
  const tokenWorkDone = new Promise<void>((resolve) => (crashed = resolve));
  const real = backups.restoreCeremony();
  quorum = started({
    ...real,
    run: async (context) => {
      await real.run(context);
      crashed();
      return new Promise<never>(() => {});
    },
  });
  const restore = await approved(target, 'key.restore', { setId: setId.result.setId });
  await backups.enterShare(restore.id, cards[0]!.text);
  void backups.enterShare(restore.id, cards[1]!.text);
  await tokenWorkDone;
  const inTarget = (who: number[]) =>
    f.loggedIn(target, who, (session, lib) =>
      keyIds.map(
        (id) => findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(id, 'hex') }], 100).length,
      ),
    );
  return { keyIds, target, restore, inTarget };
}

describe('a restore interrupted by a crash', () => {
  it('leaves private objects the inventory does not know; the next quorum login on that token removes them and records it', async () => {
    // The restore runs its token work in full, and the process dies before its outcome is recorded.
    const { keyIds, target, restore, inTarget } = await restoreCrashedAfterTokenWork();
    // The AES key and both halves of the EC key, none of them in the target token as far as the inventory knows.
    expect(await inTarget([0, 1])).toEqual([1, 2]);
    expect(keyIds.map((id) => inventory.livesIn(id, f.custody.record(target).token))).toEqual([false, false]);

    quorum = started();
    expect(quorum.reconcile()).toEqual([expect.objectContaining({ proposalId: restore.id, status: 'awaiting-login' })]);
    expect((await approved(target, 'token.quorum-drill', {})).state).toBe('executed');
    expect(quorum.view(restore.id)).toMatchObject({
      state: 'failed',
      outcome: { status: 'failed', code: 'OPERATION_INTERRUPTED', message: expect.stringContaining('were removed') },
    });
    expect(await inTarget([1, 2])).toEqual([0, 0]);
    expect(actions().filter((e) => e.action === 'backup.restore.removed')).toEqual([
      expect.objectContaining({ object: { type: 'proposal', id: restore.id } }),
    ]);
    // The keys stay where the inventory had them: in the source token, untouched.
    expect(keyIds.map((id) => inventory.get(id).token.label)).toEqual(['source', 'source']);
  });

  it('removes all it left however many objects anyone planted under the ids since, listed ahead of them', async () => {
    const { keyIds, target, restore, inTarget } = await restoreCrashedAfterTokenWork();
    // More than the one search of 16 the clean-up made, all listed before the restored key pair's halves.
    const planted = await plantAheadOfKey(f, target, keyIds[1]!, pkcs11js.CKO_PUBLIC_KEY, (lib, session) => {
      for (let i = 0; i < 5; i++) plantPublicKey(lib, session, keyIds[1]!, pkcs11js.CKO_PUBLIC_KEY);
    });
    try {
      expect(await inTarget([0, 1])).toEqual([1, 22]);
      quorum = started();
      quorum.reconcile();
      expect((await approved(target, 'token.quorum-drill', {})).state).toBe('executed');
      expect(quorum.view(restore.id)).toMatchObject({ state: 'failed', outcome: { code: 'OPERATION_INTERRUPTED' } });
      // Before: 16 planted objects went, and the EC key's unwrapped private half stayed in the token, unregistered.
      expect(await inTarget([1, 2])).toEqual([0, 0]);
    } finally {
      planted.close();
    }
  });

  it('removes what it left past an object planted under an id since that the token will not destroy', async () => {
    const { keyIds, target, restore, inTarget } = await restoreCrashedAfterTokenWork();
    f.module.withSession(f.custody.record(target).token, { write: true }, (session, lib) => {
      plantPublicKey(lib, session, keyIds[1]!, pkcs11js.CKO_PUBLIC_KEY, [{ type: CKA_DESTROYABLE, value: false }]);
    });
    quorum = started();
    quorum.reconcile();
    expect((await approved(target, 'token.quorum-drill', {})).state).toBe('executed');
    // Before: TOKEN_ERROR at C_DestroyObject, and the EC key's unwrapped private half stayed there, unregistered.
    expect(quorum.view(restore.id)).toMatchObject({ state: 'failed', outcome: { code: 'OPERATION_INTERRUPTED' } });
    expect(await inTarget([1, 2])).toEqual([0, 1]);
    const removed = [...f.opened.audit.log().entries()]
      .map((e) => JSON.parse(e.entry) as { action: string; params: string | null })
      .filter((e) => e.action === 'backup.restore.removed')
      .map((e) => e.params);
    const { setId } = backups.list()[0]!;
    const token = f.custody.record(target).token;
    const counted = [
      { keyId: keyIds[0]!, label: 'AES-256 wrap', objects: 1 },
      { keyId: keyIds[1]!, label: 'EC-P256 sign', objects: 2, left: 1 },
    ];
    expect(removed).toEqual([sha256Hex(canonicalJson({ setId, token, removed: counted }))]);
  });
});

describe('a restore interrupted before it touched the token', () => {
  it('removes nothing: a copy of the key the token held before (the inventory places it elsewhere) stays', async () => {
    const source = await custodyOf('source');
    const generated = await approved(source, 'key.generate', {
      algorithm: 'AES-256',
      label: 'sealing',
      usage: 'encrypt',
      backupable: true,
      cryptoperiodDays: 365,
      ckaId: randomBytes(16).toString('hex'),
    });
    const keyId = keyOf(generated);
    const backup = await approved(source, 'key.backup', {
      keyIds: [keyId],
      holders: f.enrolled.slice(0, 3).map((c) => c.id),
      threshold: 2,
    });
    const { setId } = (backup.outcome as { result: { setId: string } }).result;
    const cards = backups.printableCards(setId);
    // Restored into a second token: the inventory now places the key there; the source keeps its own copy.
    const target = await custodyOf('target');
    const first = await approved(target, 'key.restore', { setId });
    await backups.enterShare(first.id, cards[0]!.text);
    expect(await backups.enterShare(first.id, cards[1]!.text)).toMatchObject({ state: 'executed' });
    expect(inventory.get(keyId).token.label).toBe('target');

    // A restore of the same set into the source, which would be refused as "already holds"; the process dies after
    // its journal entry and before it opens the token (while the cards are combined).
    let crashed!: () => void;
    const dead = new Promise<void>((resolve) => (crashed = resolve));
    quorum = started({
      ...backups.restoreCeremony(),
      run: () => {
        crashed();
        return new Promise<never>(() => {});
      },
    });
    const again = await approved(source, 'key.restore', { setId });
    await backups.enterShare(again.id, cards[0]!.text);
    void backups.enterShare(again.id, cards[2]!.text);
    await dead;

    const inSource = (who: number[]) =>
      f.loggedIn(
        source,
        who,
        (session, lib) =>
          findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') }], 10).length,
      );
    quorum = started();
    quorum.reconcile();
    expect((await approved(source, 'token.quorum-drill', {})).state).toBe('executed');
    expect(quorum.view(again.id)).toMatchObject({ state: 'failed', outcome: { code: 'OPERATION_INTERRUPTED' } });
    expect(await inSource([1, 2])).toBe(1);
    expect(actions().filter((e) => e.action === 'backup.restore.removed')).toEqual([]);
  });
});

describe('a restore whose token is pulled out half-way', () => {
  it('waits like a crash; back in the token, the next login removes what it left, and a new restore works', async () => {
    const source = await custodyOf('source');
    const keyIds = [
      keyOf(await generate(source, 'AES-256', 'encrypt')),
      keyOf(await generate(source, 'EC-P256', 'sign')),
    ];
    const backup = await approved(source, 'key.backup', {
      keyIds,
      holders: f.enrolled.slice(0, 3).map((c) => c.id),
      threshold: 2,
    });
    const { setId } = (backup.outcome as { result: { setId: string } }).result;
    const cards = backups.printableCards(setId).map((c) => c.text);
    const target = await custodyOf('target');
    const inTarget = () =>
      f.loggedIn(target, [0, 1], (session, lib) =>
        keyIds.map(
          (id) => findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(id, 'hex') }], 10).length,
        ),
      );

    // The first key is unwrapped into the token for good; the token is pulled before the second, and the first can
    // no longer be destroyed either.
    const token = pullTokenBefore(f.module, dataDir, f.custody.record(target).token, 'C_UnwrapKey', 2);
    const failing = backupService(() => token.module);
    quorum = started(failing.restoreCeremony());
    const restore = await approved(target, 'key.restore', { setId });
    await failing.enterShare(restore.id, cards[0]!);
    const left = await failing.enterShare(restore.id, cards[1]!);
    expect(token.pulled()).toBe(true);
    expect(left).toMatchObject({
      state: 'open',
      waitingFor: [expect.stringContaining('may still hold part of it')],
    });
    expect(
      actions().filter((e) => e.action === 'backup.restore.unsettled' || e.action === 'proposal.execute.unsettled'),
    ).toEqual([
      expect.objectContaining({ object: { type: 'proposal', id: restore.id } }),
      expect.objectContaining({ object: { type: 'proposal', id: restore.id } }),
    ]);
    failing.forgetAll();

    // Put back and found at the next start: the AES key the restore could not take back, registered nowhere.
    token.putBack();
    f.restart();
    inventory = new KeyInventory(f.opened.store, f.opened.audit, () => f.clock.now);
    backups = backupService(() => f.module);
    quorum = started();
    expect(quorum.reconcile()).toEqual([expect.objectContaining({ proposalId: restore.id, status: 'awaiting-login' })]);
    expect(await inTarget()).toEqual([1, 0]);
    expect(keyIds.map((id) => inventory.livesIn(id, f.custody.record(target).token))).toEqual([false, false]);

    // A new restore of the set into that token: its login settles the first one, then it runs.
    const again = await approved(target, 'key.restore', { setId });
    await backups.enterShare(again.id, cards[0]!);
    expect(await backups.enterShare(again.id, cards[2]!)).toMatchObject({ state: 'executed' });
    expect(quorum.view(restore.id)).toMatchObject({
      state: 'failed',
      outcome: {
        code: 'OPERATION_INTERRUPTED',
        message: expect.stringMatching(/failed while restoring.*were removed/),
      },
    });
    expect(actions().filter((e) => e.action === 'backup.restore.removed')).toEqual([
      expect.objectContaining({ object: { type: 'proposal', id: restore.id } }),
    ]);
    expect(await inTarget()).toEqual([1, 2]);
    expect(keyIds.map((id) => inventory.get(id).token.label)).toEqual(['target', 'target']);
  });
});
