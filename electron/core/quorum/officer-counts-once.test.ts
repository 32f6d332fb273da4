import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findObjects } from '../hsm/find-objects';
import { sql } from '../store/sql';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import type { QuorumService } from './quorum-service';

/**
 * "t share holders + 1 security officer" (the destruction policy): one person counts once, either
 * as a holder or as the officer. Dora is a custodian who holds a share and is also an officer.
 */
let cleanup: () => void;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let quorum: QuorumService;
let custodyId: string;
let runs: number;

const ADA = 0;
const BABBAGE = 1;
const CURIE = 2;
const DORA = 3;
const OLGA = 4;

beforeEach(async () => {
  let dataDir: string;
  ({ dataDir, cleanup } = tempDataDir());
  f = await quorumFixture(dataDir, [
    { name: 'Ada' },
    { name: 'Babbage' },
    { name: 'Curie' },
    { name: 'Dora', roles: ['custodian', 'security-officer'] },
    { name: 'Olga', roles: ['security-officer'] },
  ]);
  runs = 0;
  // Stands in for the destruction (whose policy asks for the officer): it runs only in a session the rebuilt PIN
  // opened.
  quorum = f.quorum({
    'key.destroy': ({ session, lib }) => {
      runs += 1;
      const objects = findObjects(lib, session, [{ type: pkcs11js.CKA_TOKEN, value: true }], 100).length;
      // Shaped as the catalogue records a destruction, which is checked when the outcome is read back.
      return {
        keyId: '0'.repeat(32),
        objectsDestroyed: objects,
        searchedFor: 'CKA_TOKEN',
        remaining: 0,
        checkedAt: '',
        approvedBy: [],
      };
    },
  });
  custodyId = (
    await f.custody.take({
      token: { serial: '', label: '' },
      threshold: 2,
      holders: f.holders(ADA, BABBAGE, CURIE, DORA),
      label: 'once',
    })
  ).id;
});
afterEach(() => {
  quorum.forgetAll();
  f.close();
  cleanup();
});

const destroyApprovedBy = (...approvers: number[]) =>
  f.approveAll(
    quorum,
    quorum.propose({ custodyId, action: 'key.destroy', params: {}, requestedBy: f.enrolled[ADA]!.id }),
    approvers,
  );

describe('a security officer who holds a share counts once', () => {
  it('does not run with an officer-holder and t−1 other holders: the officer counted as a holder', async () => {
    const view = await destroyApprovedBy(DORA, BABBAGE);
    expect(view).toMatchObject({
      state: 'open',
      threshold: 2,
      securityOfficersRequired: 1,
      securityOfficersApproved: 0,
    });
    expect(view.approvals.filter((a) => a.held)).toHaveLength(2);
    expect(runs).toBe(0);
  });

  it('runs with t holders and a distinct officer who holds no share', async () => {
    const view = await destroyApprovedBy(BABBAGE, CURIE, OLGA);
    expect(view).toMatchObject({ state: 'executed', securityOfficersApproved: 1, outcome: { status: 'ok' } });
    expect(runs).toBe(1);
  });

  it('runs with an officer who holds a share and t other holders', async () => {
    const waiting = await destroyApprovedBy(DORA, BABBAGE);
    expect(waiting.state).toBe('open');
    const view = await f.approveAll(quorum, waiting, [CURIE]);
    expect(view).toMatchObject({ state: 'executed', securityOfficersApproved: 1, outcome: { status: 'ok' } });
    expect(runs).toBe(1);
  });

  it('counts only an officer whose factors were checked: an approvals row written into the database is not the officer', async () => {
    const proposal = quorum.propose({ custodyId, action: 'key.destroy', params: {}, requestedBy: f.enrolled[ADA]!.id });
    // A database writer adds Olga's approval; she never typed her factors.
    f.opened.store.execute(
      sql`INSERT INTO approvals (proposal_id, custodian_id, approved_at) VALUES (${proposal.id}, ${f.enrolled[OLGA]!.id}, ${f.clock.now.toISOString()})`,
    );
    const view = await f.approveAll(quorum, proposal, [BABBAGE, CURIE]);
    expect(view).toMatchObject({ state: 'open', securityOfficersApproved: 0 });
    expect(runs).toBe(0);
    // Olga approving for real (her forged row does not stand in her way) completes it.
    expect(await f.approveAll(quorum, view, [OLGA])).toMatchObject({ state: 'executed', securityOfficersApproved: 1 });
    expect(runs).toBe(1);
  });
});
