import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BackupService } from '../backup/backup-service';
import { turnover } from '../custody/turnover';
import type { KeyInventory } from '../keys/key-inventory';
import type { QuorumService } from '../quorum/quorum-service';
import type { ProposalView } from '../../../shared/quorum';
import { ReportService } from '../reports/report-service';
import { asDatabaseWriter, openAudit } from '../testing/audit-fixture';
import { backupInstallation, type BackupInstallation } from '../testing/backup-installation';
import { tempDataDir } from '../testing/softhsm-fixture';

/**
 * Every ceremony ends on a signed checkpoint that the audit token keeps: what a ceremony recorded
 * cannot be cut off the end of the log afterwards, even before anyone exports anything.
 */
let dataDir: string;
let cleanup: () => void;
let bed: BackupInstallation | undefined;
let f: BackupInstallation['f'];
let quorum: QuorumService;
let backups: BackupService;
let inventory: KeyInventory;
let custodyId: string;

beforeEach(async () => {
  ({ dataDir, cleanup } = tempDataDir());
  bed = await backupInstallation(dataDir, {
    officer: true,
    ceremonies: (parts) => ({ 'custody.redeal': turnover(parts.custody) }),
    source: 'keys',
  });
  ({ f, quorum, backups, inventory, source: custodyId } = bed);
});
afterEach(() => {
  bed?.close();
  cleanup();
});

const id = (who: number) => f.enrolled[who]!.id;
async function approved(
  action: string,
  params: Record<string, unknown>,
  approvers = [1, 2],
  on = custodyId,
): Promise<ProposalView> {
  return f.approveAll(quorum, quorum.propose({ custodyId: on, action, params, requestedBy: id(0) }), approvers);
}

/** The latest checkpoint covers the whole log (its last entry included), and the token holds it. */
function expectClosedByCheckpoint(reason: RegExp) {
  const log = f.opened.audit.log();
  const latest = log.checkpoints().at(-1)!;
  expect(latest.reason).toMatch(reason);
  expect(latest.treeSize).toBe(log.size());
  expect(f.opened.audit.anchors()).toEqual([latest.note]);
}

describe('a checkpoint at the end of every ceremony', () => {
  it('custody, key generation, backup, restore, turnover, destruction and a report each end on an anchored checkpoint', async () => {
    expectClosedByCheckpoint(/^custody ceremony$/);

    const generated = await approved('key.generate', {
      algorithm: 'AES-256',
      label: 'vault kek',
      usage: 'wrap',
      backupable: true,
      cryptoperiodDays: 365,
      ckaId: randomBytes(16).toString('hex'),
    });
    expect(generated.state).toBe('executed');
    expectClosedByCheckpoint(/^key\.generate /);
    const keyId = (generated.outcome as { result: { keyId: string } }).result.keyId;

    const backedUp = await approved('key.backup', { keyIds: [keyId], holders: [id(0), id(1), id(2)], threshold: 2 });
    expect(backedUp.state).toBe('executed');
    expectClosedByCheckpoint(/^key\.backup /);
    const setId = (backedUp.outcome as { result: { setId: string } }).result.setId;
    const cards = backups.printableCards(setId);

    const fresh = (
      await f.custody.take({
        token: { serial: '', label: '' },
        threshold: 2,
        holders: f.holders(0, 1, 2),
        label: 'fresh',
      })
    ).id;
    const restore = await approved('key.restore', { setId }, [1, 2], fresh);
    await backups.enterShare(restore.id, cards[0]!.text);
    expect(await backups.enterShare(restore.id, cards[1]!.text)).toMatchObject({ state: 'executed' });
    expectClosedByCheckpoint(/^key\.restore /);

    const redeal = quorum.propose({
      custodyId: fresh,
      action: 'custody.redeal',
      params: { threshold: 3, holders: [id(0), id(1), id(2)] },
      requestedBy: id(0),
    });
    expect(await f.approveAll(quorum, redeal, [1, 0, 2])).toMatchObject({ state: 'executed' });
    expectClosedByCheckpoint(/^custody\.redeal /);

    // The restored key now lives in the fresh token; destruction is shown on a key of the first one.
    const doomed = await approved('key.generate', {
      algorithm: 'EC-P256',
      label: 'doomed',
      usage: 'sign',
      backupable: false,
      cryptoperiodDays: 365,
      ckaId: randomBytes(16).toString('hex'),
    });
    const doomedId = (doomed.outcome as { result: { keyId: string } }).result.keyId;
    expect((await approved('key.schedule-destruction', { keyId: doomedId, waitDays: 7 })).state).toBe('executed');
    f.clock.now = new Date(f.clock.now.getTime() + 8 * 86_400_000);
    const destroyed = await approved('key.destroy', { keyId: doomedId }, [1, 2, 3]);
    expect(destroyed.state).toBe('executed');
    expectClosedByCheckpoint(/^key\.destroy /);

    const reports = new ReportService({
      store: f.opened.store,
      audit: f.opened.audit,
      custodians: f.custodians,
      custody: f.custody,
      backups,
      keys: inventory,
      quorum,
      clock: () => f.clock.now,
      token: (ref) => ({ ...ref }),
    });
    reports.create({ proposalId: destroyed.id });
    expectClosedByCheckpoint(/^report [0-9a-f]+ signed$/);
  });

  it('a ceremony’s entries cannot be cut off the end of the log afterwards', async () => {
    const generated = await approved('key.generate', {
      algorithm: 'EC-P256',
      label: 'signing',
      usage: 'sign',
      backupable: false,
      cryptoperiodDays: 365,
      ckaId: randomBytes(16).toString('hex'),
    });
    expect(generated.state).toBe('executed');
    const size = f.opened.audit.log().size();
    bed!.close();
    bed = undefined;
    // Everything the ceremony recorded, from its first approval on, is removed with its checkpoints.
    asDatabaseWriter(dataDir, (db) => {
      const first = db
        .prepare('SELECT min(seq) FROM audit_entries WHERE entry LIKE \'%"action":"proposal.create"%\'')
        .pluck()
        .get() as number;
      db.prepare('DELETE FROM audit_entries WHERE seq >= ?').run(first);
      db.prepare('DELETE FROM audit_checkpoints WHERE tree_size > ?').run(first);
    });
    const reopened = openAudit(dataDir);
    try {
      expect(reopened.audit.status()).toMatchObject({
        state: 'unavailable',
        code: 'AUDIT_ROLLBACK',
        message: expect.stringContaining(`covers ${size} entries`),
      });
    } finally {
      reopened.close();
    }
  });
});
