import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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

/** Runs a key generation in a child process that is killed once the token holds the key. */
function generateAndCrash(algorithm: string): { proposalId: string; ckaId: string } {
  const child = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, '../testing/generate-until-killed.ts'), dataDir, algorithm], { encoding: 'utf8' });
  expect(child.signal).toBe('SIGKILL');
  return JSON.parse(child.stdout.split('\n')[0]!) as { proposalId: string; ckaId: string };
}

const actions = (c: CustosCore) => [...c.audit.log().entries()].map((e) => JSON.parse(e.entry) as { action: string; object: { id: string } | null; result: { status: string; code?: string } });

describe('a key generation interrupted by a crash', () => {
  it('is found at the next start: the key pair in the token is registered, with its audit entries, and the proposal is closed', async () => {
    const { proposalId, ckaId } = generateAndCrash('EC-P256');
    core = CustosCore.open({ dataDir, version: 'test', production: true, log: silentLog });
    expect(core.quorum.view(proposalId)).toMatchObject({ state: 'executed', outcome: { status: 'ok', result: { keyId: ckaId, reconciled: true } } });
    const key = core.keys.list().find((k) => k.id === ckaId)!;
    expect(key).toMatchObject({ label: 'interrupted', algorithm: 'EC-P256', state: 'pre-activation' });
    // The inventory holds exactly the public key the token holds.
    const pem = core.keys.exportPublic(ckaId, 'pem');
    expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const trail = actions(core).filter((e) => e.object?.id === proposalId).map((e) => e.action);
    expect(trail).toEqual(['proposal.create', 'proposal.approve', 'proposal.approve', 'proposal.execute.begin', 'proposal.reconcile']);
    expect((await core.verifyAudit()).ok).toBe(true);
  });

  it('fails the proposal as interrupted when the token shows nothing without a login (a secret key)', () => {
    const { proposalId, ckaId } = generateAndCrash('AES-256');
    core = CustosCore.open({ dataDir, version: 'test', production: true, log: silentLog });
    expect(core.quorum.view(proposalId)).toMatchObject({ state: 'failed', outcome: { status: 'failed', code: 'OPERATION_INTERRUPTED' } });
    expect(core.keys.list().some((k) => k.id === ckaId)).toBe(false);
    expect(actions(core).at(-1)).toMatchObject({ action: 'proposal.reconcile', result: { status: 'failed', code: 'OPERATION_INTERRUPTED' } });
    // A second start finds nothing left to settle.
    core.close();
    core = CustosCore.open({ dataDir, version: 'test', production: true, log: silentLog });
    expect(actions(core).filter((e) => e.action === 'proposal.reconcile')).toHaveLength(1);
  });
});
