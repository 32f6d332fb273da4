import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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

describe('a long subject the profile allows, proposed through the router', () => {
  const instant = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
  /** An openssl request for a fresh P-256 key, under a short name of its own. */
  function request(): string {
    const key = join(dataDir, 'leaf.key');
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
    execFileSync('openssl', ['req', '-new', '-key', key, '-subj', '/CN=leaf', '-out', join(dataDir, 'leaf.csr')]);
    return readFileSync(join(dataDir, 'leaf.csr'), 'utf8');
  }

  it('is proposed with every warning Custos finds: its own warnings never break their limit', async () => {
    const { custody, keyId } = await activeKeyInCustody('root-ca', 3650);
    const now = clock.now.getTime();
    await carriedOut(custody.id, 'cert.self-sign', {
      keyId,
      profile: {
        subject: { commonName: 'Custos Root CA', organization: 'Custos' },
        notBefore: instant(now),
        notAfter: instant(now + 5 * 365 * 86_400_000),
        ca: true,
        pathLength: 0,
        keyUsage: ['keyCertSign', 'cRLSign'],
      },
    });
    // Every field as long as the profile allows, Cyrillic letters among Latin ones in each, commas escaped in words.
    const mixed = (length: number) =>
      'Pаyраl, Ваnk Оrgаnіsаtіоn Ѕеrvісеs Ехсерtіоnаl Сусlе '.repeat(4).slice(0, length);
    const subject = {
      commonName: mixed(64),
      organization: mixed(64),
      organizationalUnit: mixed(64),
      locality: mixed(128),
      state: mixed(128),
      country: 'NL',
    };
    const made = await propose(custody.id, 'cert.issue', {
      issuerKeyId: keyId,
      csr: request(),
      profile: {
        subject,
        notBefore: instant(now),
        notAfter: instant(now + 365 * 86_400_000),
        ca: false,
        keyUsage: ['digitalSignature'],
      },
    });
    // Before, the warning naming the subject passed 400 characters and the letters of other scripts made over 20
    // warnings: the proposal was refused as PROPOSAL_INVALID for `warnings`, which nobody but Custos wrote.
    expect(made, JSON.stringify(made)).toMatchObject({ ok: true });
    const warnings = ((made as { value: ProposalView }).value.params as { warnings: string[] }).warnings;
    expect(warnings).toContainEqual(expect.stringMatching(/^The certificate will name “CN=Pаyраl\\, Ваnk/));
    expect(warnings.filter((w) => w.startsWith("The subject's "))).toHaveLength(5);
    // One warning per field, naming three letters of the other script and counting the rest.
    expect(warnings).toContainEqual(
      expect.stringMatching(
        /^The subject's state “.*” has U\+0050 ‘P’ \(Latin\) among Cyrillic letters; .*; and 7 more/,
      ),
    );
  });
});
