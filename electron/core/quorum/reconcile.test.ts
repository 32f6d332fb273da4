import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { totpCodeAt } from '../custodians/totp';
import { CustosCore } from '../custos-core';
import { silentLog } from '../log';
import { tempDataDir } from '../testing/softhsm-fixture';

let dataDir: string;
let cleanup: () => void;
let core: CustosCore | null = null;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => {
  core?.close();
  core = null;
  cleanup();
});

interface Crashed {
  proposalId: string;
  ckaId: string;
  custodyId: string;
  custodians: { id: string; passphrase: string; secret: string }[];
}

/** Runs a key generation in a child process that is killed once the token holds the key. */
function generateAndCrash(algorithm: string): Crashed {
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(__dirname, '../testing/generate-until-killed.ts'), dataDir, algorithm],
    { encoding: 'utf8' },
  );
  expect(child.signal).toBe('SIGKILL');
  return JSON.parse(child.stdout.split('\n')[0]!) as Crashed;
}

const actions = (c: CustosCore) =>
  [...c.audit.log().entries()].map(
    (e) =>
      JSON.parse(e.entry) as {
        action: string;
        object: { id: string } | null;
        result: { status: string; code?: string };
      },
  );

describe('a key generation interrupted by a crash', () => {
  it('is found at the next start: the key pair in the token is registered, with its audit entries, and the proposal is closed', async () => {
    const { proposalId, ckaId } = generateAndCrash('EC-P256');
    core = CustosCore.open({ dataDir, version: 'test', production: true, log: silentLog });
    expect(core.quorum.view(proposalId)).toMatchObject({
      state: 'executed',
      outcome: { status: 'ok', result: { keyId: ckaId, reconciled: true } },
    });
    const key = core.keys.list().find((k) => k.id === ckaId)!;
    expect(key).toMatchObject({ label: 'interrupted', algorithm: 'EC-P256', state: 'pre-activation' });
    // The inventory holds exactly the public key the token holds.
    const pem = core.keys.exportPublic(ckaId, 'pem');
    expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const trail = actions(core)
      .filter((e) => e.object?.id === proposalId)
      .map((e) => e.action);
    expect(trail).toEqual([
      'proposal.create',
      'proposal.approve',
      'proposal.approve',
      'proposal.execute.begin',
      'proposal.reconcile',
    ]);
    expect((await core.verifyAudit()).ok).toBe(true);
  });

  it('waits for a secret key, which shows only at a login, and registers it at the next quorum login on the token', async () => {
    const { proposalId, ckaId, custodyId, custodians } = generateAndCrash('AES-256');
    const clock = { now: new Date(Date.now() + 10 * 60_000) };
    const open = () =>
      CustosCore.open({ dataDir, version: 'test', production: true, log: silentLog, clock: () => clock.now });
    core = open();
    expect(core.quorum.view(proposalId)).toMatchObject({
      state: 'open',
      outcome: null,
      waitingFor: [expect.stringContaining('next quorum login')],
    });
    expect(core.keys.list().some((k) => k.id === ckaId)).toBe(false);
    expect(actions(core).at(-1)).toMatchObject({ action: 'proposal.reconcile.deferred', object: { id: proposalId } });
    // A second start records the wait once.
    core.close();
    core = open();
    expect(actions(core).filter((e) => e.action === 'proposal.reconcile.deferred')).toHaveLength(1);

    // The next quorum login on that token (a drill) re-examines it: the key is there, so it is registered.
    const drill = core.quorum.propose({
      custodyId,
      action: 'token.quorum-drill',
      params: {},
      requestedBy: custodians[0]!.id,
    });
    for (const c of custodians.slice(1, 3)) {
      clock.now = new Date(clock.now.getTime() + 30_000);
      await core.quorum.approve({
        proposalId: drill.id,
        custodianId: c.id,
        passphrase: c.passphrase,
        code: totpCodeAt(c.secret, clock.now),
        fingerprint: drill.shortFingerprint,
      });
    }
    expect(core.quorum.view(drill.id).state).toBe('executed');
    expect(core.quorum.view(proposalId)).toMatchObject({
      state: 'executed',
      outcome: {
        status: 'ok',
        result: { keyId: ckaId, reconciled: true, kcv: expect.stringMatching(/^[0-9A-F]{6}$/) },
      },
    });
    expect(core.keys.get(ckaId)).toMatchObject({
      label: 'interrupted',
      algorithm: 'AES-256',
      state: 'pre-activation',
      fingerprint: null,
    });
    expect((await core.verifyAudit()).ok).toBe(true);
  });
});
