import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findObjects } from '../hsm/find-objects';
import { KeyInventory } from '../keys/key-inventory';
import { keyOperations } from '../keys/key-operations';
import { ACTION_PARAMS } from '../../../shared/actions';
import type { QuorumService } from '../quorum/quorum-service';
import type { ProposalView } from '../../../shared/quorum';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { BackupService } from './backup-service';
import { proveKey } from './key-wrap';

let cleanup: () => void;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let inventory: KeyInventory;
let backups: BackupService;
let quorum: QuorumService;
let source: string;

beforeEach(async () => {
  let dataDir: string;
  ({ dataDir, cleanup } = tempDataDir());
  f = await quorumFixture(dataDir, [{ name: 'Ada' }, { name: 'Babbage' }, { name: 'Curie' }]);
  const now = () => f.clock.now;
  inventory = new KeyInventory(f.opened.store, f.opened.audit, now);
  backups = new BackupService({
    store: f.opened.store,
    audit: f.opened.audit,
    custodians: f.custodians,
    keys: inventory,
    module: () => f.module,
    quorum: () => quorum,
    clock: now,
  });
  quorum = f.quorum(
    keyOperations(f.opened.store, now, inventory),
    { 'key.backup': backups.backupCeremony(), 'key.restore': backups.restoreCeremony() },
    ACTION_PARAMS,
  );
  source = (
    await f.custody.take({
      token: { serial: '', label: '' },
      threshold: 2,
      holders: f.holders(0, 1, 2),
      label: 'source',
    })
  ).id;
});
afterEach(() => {
  quorum.forgetAll();
  backups.forgetAll();
  f.close();
  cleanup();
});

const approved = (action: string, params: unknown) =>
  f.approveAll(quorum, quorum.propose({ custodyId: source, action, params, requestedBy: f.enrolled[0]!.id }), [1, 2]);
const keyOf = (view: ProposalView) => (view.outcome as { result: { keyId: string } }).result.keyId;
const aes = () =>
  approved('key.generate', {
    algorithm: 'AES-256',
    label: 'sealing',
    usage: 'encrypt',
    backupable: true,
    cryptoperiodDays: 365,
    ckaId: randomBytes(16).toString('hex'),
  });

describe('restore refusals say what happened', () => {
  it('KEY_ALREADY_IN_TOKEN: a restore into a token that already holds the keys imports nothing', async () => {
    const keyId = keyOf(await aes());
    const setId = (
      (
        await approved('key.backup', {
          keyIds: [keyId],
          holders: f.enrolled.slice(0, 3).map((c) => c.id),
          threshold: 2,
        })
      ).outcome as { result: { setId: string } }
    ).result.setId;
    const cards = backups.printableCards(setId);
    const restore = await approved('key.restore', { setId });
    await backups.enterShare(restore.id, cards[0]!.text);
    const done = await backups.enterShare(restore.id, cards[1]!.text);
    expect(done).toMatchObject({
      state: 'failed',
      outcome: { code: 'KEY_ALREADY_IN_TOKEN', message: expect.stringContaining('already holds “sealing”') },
    });
  });

  it('RESTORE_MISMATCH: a key whose check value is not the recorded one is refused as a different key', async () => {
    const keyId = keyOf(await aes());
    const key = inventory.get(keyId);
    const shape = {
      id: keyId,
      algorithm: key.algorithm,
      usage: key.usage,
      backupable: key.backupable,
      label: key.label,
      publicKey: null,
      kcv: key.kcv === '000000' ? '111111' : '000000',
    };
    const proved = await f.loggedIn(source, [1, 2], (session, lib) => {
      const [handle] = findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') }], 1);
      try {
        return proveKey(lib, session, handle!, shape);
      } catch (error) {
        return error;
      }
    });
    expect(proved).toMatchObject({
      code: 'RESTORE_MISMATCH',
      message: expect.stringContaining(`check value ${key.kcv}, not ${shape.kcv}`),
    });
  });
});
