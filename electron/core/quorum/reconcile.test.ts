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
  // A key pair waits too: its public half shows without a login, but anyone can create a public object, and only a
  // login shows the private half and lets both be read back.
  it.each([
    ['a secret key', 'AES-256', { kcv: expect.stringMatching(/^[0-9A-F]{6}$/) }, { fingerprint: null }],
    ['a key pair', 'EC-P256', { kcv: null }, { fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/) }],
  ])('waits for %s, and registers it at the next quorum login on the token', async (_kind, algorithm, made, record) => {
    const { proposalId, ckaId, custodyId, custodians } = generateAndCrash(algorithm);
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
        result: { keyId: ckaId, reconciled: true, ...made },
      },
    });
    expect(core.keys.get(ckaId)).toMatchObject({ label: 'interrupted', algorithm, state: 'pre-activation', ...record });
    expect((await core.verifyAudit()).ok).toBe(true);
  });
});
