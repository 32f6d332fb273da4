import { randomBytes } from 'node:crypto';
import { BackupService } from '../backup/backup-service';
import { findObjects } from '../hsm/find-objects';
import { KeyInventory } from '../keys/key-inventory';
import { keyChecks, keyOperations } from '../keys/key-operations';
import { ACTION_PARAMS } from '../../../shared/actions';
import type { CeremonyOperation, QuorumOperation, QuorumService } from '../quorum/quorum-service';
import type { ProposalView } from '../../../shared/quorum';
import { quorumFixture, type QuorumFixture } from './quorum-fixture';
import { readAttributes } from './token-attributes';

/** Test-only: how many objects the logged-in session sees in the token (private ones included). */
const countObjects: QuorumOperation = ({ session, lib }) => findObjects(lib, session, [], 1000).length;

/**
 * One whole Custos installation for backup tests: its own data directory, audit token, three
 * custodians (Ada, Babbage, Curie), a custody token "source" held 2 of 3, and the backup service
 * with its two ceremonies and the retirement on a quorum, wired with the key operations and their
 * proposal-time checks as the core wires them. Close it before opening another in the same process.
 */
export async function backupInstallation(
  dataDir: string,
  options: {
    /** Olga, a security officer, enrolled after the three holders. */
    officer?: boolean;
    /** Ceremonies beside the backup and the restore. */
    ceremonies?: (f: QuorumFixture) => Record<string, CeremonyOperation>;
    /** The label of the custody token the keys are made in. */
    source?: string;
  } = {},
) {
  const f = await quorumFixture(dataDir, [
    { name: 'Ada' },
    { name: 'Babbage' },
    { name: 'Curie' },
    ...(options.officer ? [{ name: 'Olga', roles: ['security-officer' as const] }] : []),
  ]);
  const now = () => f.clock.now;
  const inventory = new KeyInventory(f.opened.store, f.opened.audit, now);
  let quorum: QuorumService | null = null;
  const backups = new BackupService({
    store: f.opened.store,
    audit: f.opened.audit,
    custodians: f.custodians,
    keys: inventory,
    module: () => f.module,
    quorum: () => quorum!,
    clock: now,
  });
  const copiesOf = (keyId: string) => backups.copiesOf(keyId);
  const operations = {
    ...keyOperations(f.opened.store, now, inventory, copiesOf),
    'backup.retire': backups.retirements.operation(),
    'test.read-attributes': readAttributes,
    'test.count-objects': countObjects,
  };
  quorum = f.quorum(
    operations,
    {
      'key.backup': backups.backupCeremony(),
      'key.restore': backups.restoreCeremony(),
      ...options.ceremonies?.(f),
    },
    ACTION_PARAMS,
    { ...keyChecks(f.opened.store, now, inventory), 'backup.retire': backups.retirements.check },
  );
  const q = quorum;
  const id = (who: number) => f.enrolled[who]!.id;
  const freshCustody = async (label: string) =>
    (await f.custody.take({ token: { serial: '', label: '' }, threshold: 2, holders: f.holders(0, 1, 2), label })).id;
  const source = await freshCustody(options.source ?? 'source');
  /** Proposed by Ada, approved by Babbage and Curie unless told otherwise. */
  const approved = (
    custodyId: string,
    action: string,
    params: Record<string, unknown>,
    approvers = [1, 2],
  ): Promise<ProposalView> => f.approveAll(q, q.propose({ custodyId, action, params, requestedBy: id(0) }), approvers);
  return {
    f,
    quorum: q,
    backups,
    inventory,
    copiesOf,
    source,
    id,
    freshCustody,
    approved,
    async generate(algorithm: string, usage = 'sign', label = `${algorithm} ${usage}`): Promise<string> {
      const params = {
        algorithm,
        label,
        usage,
        backupable: true,
        cryptoperiodDays: 365,
        ckaId: randomBytes(16).toString('hex'),
      };
      const done = await approved(source, 'key.generate', params);
      if (done.state !== 'executed') throw new Error(`key.generate ${algorithm} ended ${done.state}`);
      return (done.outcome as { result: { keyId: string } }).result.keyId;
    },
    /** A 2-of-3 backup of the keys; returns its set id (the cards stay printable in the service). */
    async backUp(keyIds: string[]): Promise<string> {
      const done = await approved(source, 'key.backup', { keyIds, holders: [0, 1, 2].map(id), threshold: 2 });
      if (done.state !== 'executed') throw new Error(`key.backup ended ${done.state}`);
      return (done.outcome as { result: { setId: string } }).result.setId;
    },
    /** Objects in a custody's token, counted in a quorum session (the count is the outcome). */
    async objectsIn(custodyId: string): Promise<number> {
      // A test-only action: the catalogue does not type its outcome.
      const { outcome } = await approved(custodyId, 'test.count-objects', {});
      return (outcome as unknown as { result: number }).result;
    },
    close() {
      q.forgetAll();
      backups.forgetAll();
      f.close();
    },
  };
}
export type BackupInstallation = Awaited<ReturnType<typeof backupInstallation>>;
