import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ProposalView } from '../../../shared/quorum';
import { CustosCore } from '../custos-core';
import { totpCodeAt } from '../custodians/totp';
import { ceremonyInstallation } from '../testing/ceremony-fixture';

/** Certificate proposals made through the router, as the app makes them, on a real installation (SoftHSM2, SQLite). */
let dataDir: string;
let cleanup: () => void;
let clock: { now: Date };
let people: Record<string, { id: string; passphrase: string; secret: string }>;
let token: { serial: string; label: string };
let core: CustosCore;

beforeEach(async () => {
  ({ dataDir, cleanup, clock, people, token } = await ceremonyInstallation());
  core = CustosCore.open({ dataDir, version: 'test', production: false, operator: 'test', clock: () => clock.now });
}, 30_000);
afterEach(() => {
  core.close();
  cleanup();
});

/** Factors of people giving them together, a TOTP step after the last ones used. */
function proofs(...names: string[]) {
  clock.now = new Date(clock.now.getTime() + 30_000);
  return names.map((name) => {
    const p = people[name]!;
    return { custodianId: p.id, passphrase: p.passphrase, code: totpCodeAt(p.secret, clock.now) };
  });
}
const proof = (name: string) => proofs(name)[0]!;

const entries = () =>
  [...core.audit.log().entries()].map(
    (e) =>
      JSON.parse(e.entry) as {
        action: string;
        object: { type: string; id: string } | null;
        params?: unknown;
        result: { status: string; code?: string };
      },
  );

async function propose(custodyId: string, action: string, params: Record<string, unknown>) {
  return core.router.dispatch('proposals.create', { custodyId, action, params, requester: proof('Ada') });
}

async function carriedOut(custodyId: string, action: string, params: Record<string, unknown>) {
  const made = await propose(custodyId, action, params);
  expect(made, JSON.stringify(made)).toMatchObject({ ok: true });
  const view = (made as { value: ProposalView }).value;
  for (const name of ['Babbage', 'Curie'])
    await core.router.dispatch('proposals.approve', {
      proposalId: view.id,
      fingerprint: view.shortFingerprint,
      approver: proof(name),
    });
  expect(core.quorum.list().find((p) => p.id === view.id)?.state).toBe('executed');
  return view;
}

/** Custody of the token (2 of Ada, Babbage, Curie), then an active EC P-256 signing key in it, by the quorum. */
async function activeKeyInCustody(label: string, cryptoperiodDays: number) {
  const custody = await core.custody.take({
    token,
    threshold: 2,
    holders: proofs('Ada', 'Babbage', 'Curie') as [ReturnType<typeof proof>, ...ReturnType<typeof proof>[]],
    currentSoPin: '87654321',
  });
  const generated = await carriedOut(custody.id, 'key.generate', {
    algorithm: 'EC-P256',
    label,
    usage: 'sign',
    backupable: false,
    cryptoperiodDays,
  });
  const keyId = (generated.params as { ckaId: string }).ckaId;
  await carriedOut(custody.id, 'key.activate', { keyId });
  return { custody, keyId };
}

describe('a certificate profile refused when proposed', () => {
  it('is recorded as the refused proposal, once, as the quorum’s other refusals are, before the proposer’s factors', async () => {
    const { custody, keyId } = await activeKeyInCustody('root-ca', 3650);
    const factorChecks = () => entries().filter((e) => e.action === 'custodian.factor.verify').length;
    const before = factorChecks();

    const notACa = {
      subject: { commonName: 'Example Root CA', organization: 'Example' },
      notBefore: new Date(clock.now.getTime()).toISOString().replace(/\.\d+Z$/, 'Z'),
      notAfter: new Date(clock.now.getTime() + 365 * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z'),
      ca: false,
      keyUsage: ['digitalSignature'],
    };
    const refused = await propose(custody.id, 'cert.self-sign', { keyId, profile: notACa });
    expect(refused).toMatchObject({ ok: false, error: { code: 'CERT_PROFILE_REFUSED' } });
    expect(factorChecks()).toBe(before);
    expect(core.quorum.list().filter((p) => p.action === 'cert.self-sign')).toEqual([]);
    // As KEY_WRONG_TOKEN or KEY_PERIOD_ENDED are: the proposal refused on its custody, saying which action; not a
    // request the router alone saw fail.
    const recorded = entries().filter((e) => e.result.code === 'CERT_PROFILE_REFUSED');
    expect(recorded.map(({ action, object, result }) => ({ action, object, result }))).toEqual([
      {
        action: 'proposal.create',
        object: { type: 'custody', id: custody.id },
        result: { status: 'refused', code: 'CERT_PROFILE_REFUSED' },
      },
    ]);
  });
});

describe('a key past its usage period, proposed through the router', () => {
  it('is recorded as the refused proposal once, not again by the router as a failed request', async () => {
    const { custody, keyId } = await activeKeyInCustody('short-lived', 1);
    clock.now = new Date(clock.now.getTime() + 2 * 86_400_000);
    const refused = await propose(custody.id, 'key.test-signature', { keyId, challenge: 'may this key sign?' });
    expect(refused).toMatchObject({ ok: false, error: { code: 'KEY_PERIOD_ENDED' } });
    const recorded = entries().filter((e) => e.result.code === 'KEY_PERIOD_ENDED');
    expect(recorded.map(({ action, result }) => `${action} ${result.status}`)).toEqual(['proposal.create refused']);
  });
});
