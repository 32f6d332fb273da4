import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findObjects } from '../hsm/find-objects';
import type { KeyInventory } from '../keys/key-inventory';
import type { ProposalView } from '../../../shared/quorum';
import { backupInstallation, type BackupInstallation } from '../testing/backup-installation';
import { tempDataDir } from '../testing/softhsm-fixture';
import type { BackupService } from './backup-service';
import { proveKey } from './key-wrap';

let cleanup: () => void;
let bed: BackupInstallation;
let f: BackupInstallation['f'];
let inventory: KeyInventory;
let backups: BackupService;
let source: string;

beforeEach(async () => {
  let dataDir: string;
  ({ dataDir, cleanup } = tempDataDir());
  bed = await backupInstallation(dataDir);
  ({ f, backups, inventory, source } = bed);
});
afterEach(() => {
  bed.close();
  cleanup();
});

const approved = (action: string, params: Record<string, unknown>) => bed.approved(source, action, params);
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
