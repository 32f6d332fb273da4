import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackupService } from '../backup/backup-service';
import { KeyInventory } from '../keys/key-inventory';
import { Settings } from '../settings/settings';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { ComplianceService } from './compliance-service';

let cleanup: () => void;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let compliance: ComplianceService;

beforeEach(async () => {
  let dataDir: string;
  ({ dataDir, cleanup } = tempDataDir());
  f = await quorumFixture(dataDir, [{ name: 'Ada' }, { name: 'Babbage' }, { name: 'Curie', roles: ['custodian', 'security-officer'] }]);
  const now = () => f.clock.now;
  const keys = new KeyInventory(f.opened.store, f.opened.audit, now);
  const quorum = f.quorum({});
  const backups = new BackupService({ store: f.opened.store, audit: f.opened.audit, custodians: f.custodians, keys, module: () => f.module, quorum: () => quorum, clock: now });
  compliance = new ComplianceService({ store: f.opened.store, audit: f.opened.audit, settings: new Settings(f.opened.store), keys, custody: f.custody, custodians: f.custodians, backups, modules: () => [f.module.info()], clock: now });
});
afterEach(() => {
  f.close();
  cleanup();
});

const rules = () => compliance.view().findings.map((f) => f.rule);

describe('compliance gathered from the database', () => {
  it('sees the embedded SoftHSM2 as not validated, a t = n custody, and a custody that never completed', async () => {
    await f.custody.take({ token: { serial: '', label: '' }, threshold: 3, holders: f.holders(0, 1, 2), label: 'all-three' });
    expect(rules()).toEqual(expect.arrayContaining(['MODULE_NOT_VALIDATED', 'QUORUM_T_EQUALS_N', 'AUDIT_NOT_VERIFIED', 'POLICY_REVIEW_DUE']));
    expect(rules()).not.toContain('CUSTODY_PENDING');
    // As a crash between the journal and the entry that activates the custody leaves it.
    const record = f.opened.audit.record.bind(f.opened.audit);
    const crash = vi.spyOn(f.opened.audit, 'record').mockImplementation((event, change) => {
      if (event.action !== 'custody.take') return record(event, change);
      crash.mockRestore();
      throw new Error('simulated crash');
    });
    await expect(f.custody.take({ token: { serial: '', label: '' }, threshold: 2, holders: f.holders(0, 1, 2), label: 'crashed' })).rejects.toThrow('simulated crash');
    expect(compliance.view().findings[0]).toMatchObject({ rule: 'CUSTODY_PENDING', severity: 'critical' });
  });

  it('records a policy review and a module validation with the officer as the actor', () => {
    const officer = { type: 'custodian', id: f.enrolled[2]!.id, role: 'security-officer' } as const;
    compliance.recordPolicyReview(officer);
    expect(rules()).not.toContain('POLICY_REVIEW_DUE');
    const view = compliance.recordValidation({ modulePath: f.module.info().path, standard: 'FIPS 140-3', certificate: '4711', level: 3 }, officer);
    // SoftHSM2 stays unvalidated whatever is recorded for it.
    expect(view.findings.map((x) => x.rule)).toContain('MODULE_NOT_VALIDATED');
    const actors = [...f.opened.audit.log().entries()].map((e) => JSON.parse(e.entry) as { action: string; actor: { id: string } }).filter((e) => e.action.startsWith('compliance.'));
    expect(actors.map((e) => `${e.action} ${e.actor.id}`)).toEqual([`compliance.policy-review ${officer.id}`, `compliance.validation.record ${officer.id}`]);
  });
});
