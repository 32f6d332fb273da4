import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { RunView } from '../../../shared/ceremony-script';
import type { ProposalView } from '../../../shared/quorum';
import type { RehearsalStatus } from '../../../shared/rehearsals';
import type { BackupSummary } from '../../../shared/backups';
import Database from 'better-sqlite3';
import pkcs11js from 'pkcs11js';
import type { KeyRecord } from '../../../shared/keys';
import { findObjects } from '../hsm/find-objects';
import { backupFileText } from '../backup/manifest';
import { DATABASE_FILE } from '../store/database';
import { CustosCore } from '../custos-core';
import {
  call,
  core,
  CUSTODY,
  dataDir,
  people,
  proof,
  runThrough,
  script,
  spawned,
  takeRealCustody,
  token,
  clock,
  useRehearsalBed,
  walkRun,
} from '../testing/rehearsal-bed';

useRehearsalBed(CustosCore.open);

async function realAction(custodyId: string, action: string, params: Record<string, unknown>) {
  const proposed = await call<ProposalView>('proposals.create', { custodyId, action, params, requester: proof('Ada') });
  let view = proposed;
  for (const name of ['Babbage', 'Curie']) {
    if (view.state !== 'open') break;
    view = await call<ProposalView>('proposals.approve', {
      proposalId: view.id,
      fingerprint: view.shortFingerprint,
      approver: proof(name),
    });
  }
  expect(view.state).toBe('executed');
  return view;
}

/** The objects in the real token carrying a CKA_ID, found without a login (a key pair's public half). */
function objectsInRealToken(keyId: string): number {
  return core.tokens
    .ready()
    .withSession(token, {}, (session, lib) =>
      findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') }], 8),
    ).length;
}

it('a script on a real key is rehearsed on a stand-in the holders approve: the real key and token stay as they were', async () => {
  const custody = (await takeRealCustody()) as { id: string };
  const real = await realKey(custody.id, 'old-signing');
  await realAction(custody.id, 'key.schedule-destruction', { keyId: real.id, waitDays: 7 });
  clock.now = new Date(clock.now.getTime() + 8 * 86_400_000);
  const before = (await call<KeyRecord[]>('keys.list'))[0]!;
  expect(before.destructionNotBefore).not.toBeNull();
  const text = script(`  - id: destroy-old
    title: Destroy the old signing key
    by: Ada
    action: key.destroy
    params: { keyId: ${real.id} }
    approvers: [Babbage, Curie, Olga Setup]
`).replace('witnesses: [Eve] }', 'securityOfficer: Olga Setup, witnesses: [Eve] }');

  const started = await call<RehearsalStatus>('rehearsals.start', { script: text });
  expect(started.active!.standIns).toEqual({ keys: ['old-signing'], by: 'Ada', proposalId: null });
  // Ada performs the step on the real key, so proposes the stand-ins and cannot approve them: two other holders
  // must take the token.
  expect(
    await core.router.dispatch('rehearsals.takeCustody', { holders: [proof('Ada'), proof('Babbage')] }),
  ).toMatchObject({ ok: false, error: { code: 'CEREMONY_STEP_REFUSED' } });
  const adaTook = proof('Ada');
  const taken = await call<RehearsalStatus>('rehearsals.takeCustody', {
    holders: [adaTook, proof('Babbage'), proof('Curie')],
  });
  // Nothing is proposed in anyone's name: Ada proposes the stand-ins herself, with both factors.
  expect(taken.active!.standIns).toEqual({ keys: ['old-signing'], by: 'Ada', proposalId: null });
  expect(await call<ProposalView[]>('proposals.list')).toEqual([]);
  const refusals = [
    [{ ...proof('Ada'), passphrase: 'not her passphrase at all' }, 'PASSPHRASE_INCORRECT'],
    // The code she took the token with counts once.
    [adaTook, 'TOTP_REPLAYED'],
    // Only the performer of the first step on a real key proposes them.
    [proof('Babbage'), 'CEREMONY_STEP_REFUSED'],
  ] as const;
  for (const [proposer, code] of refusals)
    expect(await core.router.dispatch('rehearsals.proposeStandIns', { proposer }), code).toMatchObject({
      ok: false,
      error: { code },
    });
  expect(await call<ProposalView[]>('proposals.list')).toEqual([]);
  const proposed = await call<RehearsalStatus>('rehearsals.proposeStandIns', { proposer: proof('Ada') });
  const proposalId = proposed.active!.standIns!.proposalId!;
  const proposal = (await call<ProposalView[]>('proposals.list')).find((p) => p.id === proposalId)!;
  expect(proposal).toMatchObject({ action: 'rehearsal.stand-ins', state: 'open', requestedBy: people.Ada!.id });
  // Once is enough: a second proposal is refused.
  expect(await core.router.dispatch('rehearsals.proposeStandIns', { proposer: proof('Ada') })).toMatchObject({
    ok: false,
    error: { code: 'CEREMONY_STEP_REFUSED' },
  });
  // Nothing stands in before the holders approve, and the run cannot start on a key the rehearsal does not have.
  expect(await call<KeyRecord[]>('keys.list')).toEqual([]);
  expect(
    await core.router.dispatch('proposals.approve', {
      proposalId,
      fingerprint: proposal.shortFingerprint,
      approver: proof('Ada'),
    }),
  ).toMatchObject({ ok: false, error: { code: 'SELF_APPROVAL' } });
  for (const name of ['Babbage', 'Curie'])
    await call('proposals.approve', { proposalId, fingerprint: proposal.shortFingerprint, approver: proof(name) });

  // The stand-in: the real key's id, label, algorithm, usage, state and waiting destruction, in the rehearsal token.
  const [standIn] = await call<KeyRecord[]>('keys.list');
  expect(standIn).toMatchObject({
    id: real.id,
    label: 'old-signing',
    algorithm: 'EC-P256',
    usage: 'sign',
    state: 'pre-activation',
    token: started.active!.token,
    destructionNotBefore: before.destructionNotBefore,
  });
  // A new key, not a copy: its public key differs from the real one's.
  expect(standIn!.fingerprint).not.toBe(real.fingerprint);

  expect(await runThrough(text)).toMatchObject({ state: 'done', rehearsal: true });
  expect((await call<KeyRecord[]>('keys.list'))[0]).toMatchObject({ id: real.id, state: 'destroyed' });
  const ended = await call<RehearsalStatus>('rehearsals.end');
  expect(ended.last).toMatchObject({ outcome: 'passed' });
  // The rehearsal report says which keys were stand-ins, with the entries of the proposal that made them.
  const report = JSON.parse(readFileSync(join(ended.last!.reportDir!, 'report.json'), 'utf8')) as {
    ceremony: { standIns: unknown };
    audit: unknown;
  };
  expect(report.ceremony.standIns).toEqual([
    { proposalId, approvedBy: ['Babbage', 'Curie'], keys: [{ keyId: real.id, label: 'old-signing' }] },
  ]);
  expect(JSON.stringify(report.audit)).toContain(proposalId);
  const pdf = execFileSync('pdftotext', ['-layout', join(ended.last!.reportDir!, 'report.pdf'), '-'], {
    encoding: 'utf8',
  });
  expect(pdf).toContain('Stand-in keys');
  expect(pdf).toContain(real.id);

  // Back in the real installation: the real key still waits for its destruction, and its objects are in its token.
  expect(await call<KeyRecord[]>('keys.list')).toEqual([before]);
  expect(objectsInRealToken(real.id)).toBeGreaterThan(0);
  // And the real installation makes no stand-ins, however it is asked.
  expect(() =>
    core.quorum.propose({
      custodyId: custody.id,
      action: 'rehearsal.stand-ins',
      params: { keys: [{ ...standInOf(real), keyId: 'ab'.repeat(16) }] },
      requestedBy: people.Ada!.id,
    }),
  ).toThrow(expect.objectContaining({ code: 'REHEARSAL_ONLY' }));
}, 120_000);

it('a CA’s issuance is rehearsed under a stand-in CA with a certificate of its own; the real CA issues nothing', async () => {
  const custody = (await takeRealCustody()) as { id: string };
  const root = await realRoot(custody.id);
  const realCerts = await call<{ serial: string }[]>('certificates.list');
  expect(realCerts).toHaveLength(1);
  const work = join(dataDir, 'csr');
  const csr = opensslCsr(work, 'Rehearsed Issuing CA');
  const text = script(`  - id: issue
    title: Issue the intermediate
    by: Ada
    action: cert.issue
    params:
      issuerKeyId: ${root.id}
      csr: |
${csr
  .trim()
  .split('\n')
  .map((l) => `        ${l}`)
  .join('\n')}
      profile:
        subject: { commonName: Rehearsed Issuing CA, organization: Custos }
        notBefore: '${at(0)}'
        notAfter: '${at(3 * 365)}'
        ca: true
        pathLength: 0
        keyUsage: [keyCertSign, cRLSign]
    approvers: [Babbage, Curie]
`);
  await call('rehearsals.start', { script: text });
  await standInsApproved(['Ada', 'Babbage', 'Curie'], ['Babbage', 'Curie']);
  // The stand-in CA has a certificate of its own, with the real one's subject, signed by the stand-in.
  const [standInRoot] = await call<{ serial: string; subject: string; selfSigned: boolean }[]>('certificates.list');
  expect(standInRoot).toMatchObject({ subject: 'CN=Rehearsal Test Root CA, O=Custos, C=NL', selfSigned: true });
  expect(standInRoot!.serial).not.toBe(realCerts[0]!.serial);

  expect(await runThrough(text)).toMatchObject({ state: 'done', rehearsal: true });
  const issued = await call<{ serial: string; issuer: string }[]>('certificates.list');
  expect(issued).toHaveLength(2);
  // The rehearsal's intermediate chains to the stand-in root, as openssl checks with nothing of Custos.
  const pemOf = async (serial: string) =>
    (await call<{ text: string }>('certificates.export', { serial, format: 'pem' })).text;
  const intermediate = issued.find((c) => c.serial !== standInRoot!.serial)!;
  writeFileSync(join(work, 'root.pem'), await pemOf(standInRoot!.serial));
  writeFileSync(join(work, 'issued.pem'), await pemOf(intermediate.serial));
  expect(
    execFileSync(
      'openssl',
      // At the installation's clock (the fixture's runs ahead of the machine's).
      [
        'verify',
        '-attime',
        String(Math.floor(clock.now.getTime() / 1000) + 3600),
        '-CAfile',
        join(work, 'root.pem'),
        join(work, 'issued.pem'),
      ],
      {
        encoding: 'utf8',
      },
    ),
  ).toContain('OK');
  expect((await call<RehearsalStatus>('rehearsals.end')).last).toMatchObject({ outcome: 'passed' });
  // The real CA issued nothing.
  expect(await call<unknown[]>('certificates.list')).toHaveLength(1);
}, 120_000);

/** The real installation's root CA: a key activated and self-signed, for five years. */
async function realRoot(custodyId: string): Promise<KeyRecord> {
  const root = await realKey(custodyId, 'root-ca', 3650);
  await realAction(custodyId, 'key.activate', { keyId: root.id });
  await realAction(custodyId, 'cert.self-sign', {
    keyId: root.id,
    profile: {
      subject: { commonName: 'Rehearsal Test Root CA', organization: 'Custos', country: 'NL' },
      notBefore: at(-1),
      notAfter: at(5 * 365),
      ca: true,
      pathLength: 1,
      keyUsage: ['keyCertSign', 'cRLSign'],
    },
  });
  return root;
}

/** An instant `days` from the installation's clock, as a certificate profile takes it. */
const at = (days: number) => new Date(clock.now.getTime() + days * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');

/** A certificate request made with openssl alone, for an EC P-256 key of its own, in `work`. */
function opensslCsr(work: string, commonName: string): string {
  execFileSync('mkdir', ['-p', work]);
  execFileSync('openssl', [
    'genpkey',
    '-algorithm',
    'EC',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-out',
    join(work, 'k'),
  ]);
  return execFileSync('openssl', ['req', '-new', '-key', join(work, 'k'), '-subj', `/O=Custos/CN=${commonName}`], {
    encoding: 'utf8',
  });
}

it('a revocation list of certificates the real CA issued is rehearsed on the stand-in CA’s copies of them', async () => {
  const custody = (await takeRealCustody()) as { id: string };
  const root = await realRoot(custody.id);
  const work = join(dataDir, 'crl');
  await realAction(custody.id, 'cert.issue', {
    issuerKeyId: root.id,
    csr: opensslCsr(work, 'Issuing CA to revoke'),
    profile: {
      subject: { commonName: 'Issuing CA to revoke', organization: 'Custos' },
      notBefore: at(0),
      notAfter: at(365),
      ca: true,
      pathLength: 0,
      keyUsage: ['keyCertSign', 'cRLSign'],
    },
  });
  const real = await call<{ serial: string; subject: string; selfSigned: boolean }[]>('certificates.list');
  const revoked = real.find((c) => !c.selfSigned)!;
  const text = script(`  - id: crl
    title: Revoke the issuing CA
    by: Ada
    action: crl.issue
    params: { issuerKeyId: ${root.id}, revoke: ['${revoked.serial}:keyCompromise'], nextUpdateDays: 30 }
    approvers: [Babbage, Curie]
`);
  // Before: "the list revokes certificates the real CA issued, which a rehearsal does not have".
  expect(core.ceremonies.lint(text).rehearsal?.limits).toEqual([]);
  await call('rehearsals.start', { script: text });
  await standInsApproved(['Ada', 'Babbage', 'Curie'], ['Babbage', 'Curie']);
  // The stand-in root issued the revoked certificate again: same serial and subject, under the stand-in.
  const copies = await call<{ serial: string; subject: string; selfSigned: boolean }[]>('certificates.list');
  expect(copies.find((c) => !c.selfSigned)).toMatchObject({ serial: revoked.serial, subject: revoked.subject });
  const pemOf = async (serial: string) =>
    (await call<{ text: string }>('certificates.export', { serial, format: 'pem' })).text;
  writeFileSync(join(work, 'root.pem'), await pemOf(copies.find((c) => c.selfSigned)!.serial));
  expect(await runThrough(text)).toMatchObject({ state: 'done', rehearsal: true });
  const crl = (await call<ProposalView[]>('proposals.list')).find((p) => p.action === 'crl.issue')!;
  writeFileSync(join(work, 'crl.pem'), (crl.outcome as { result: { pem: string } }).result.pem);
  // openssl, with nothing of Custos: the list verifies under the stand-in root and revokes the serial.
  const checked = spawnSync(
    'openssl',
    ['crl', '-in', join(work, 'crl.pem'), '-CAfile', join(work, 'root.pem'), '-noout', '-text'],
    { encoding: 'utf8' },
  );
  expect(checked.stderr).toContain('verify OK');
  expect(checked.status).toBe(0);
  expect(checked.stdout).toContain(`Serial Number: ${revoked.serial.toUpperCase()}`);
  expect((await call<RehearsalStatus>('rehearsals.end')).last).toMatchObject({ outcome: 'passed' });
  // The real CA signed no list, and its certificate is not revoked.
  expect(await call<{ status: string }[]>('certificates.list')).toMatchObject([
    { status: 'valid' },
    { status: 'valid' },
  ]);
}, 120_000);

it('what a stand-in cannot rehearse is refused before anything opens, each with its reason', async () => {
  await takeRealCustody();
  const text = script(`  - id: retire
    title: Retire the old set
    by: Ada
    action: backup.retire
    params: { setId: ${'fe'.repeat(16)}, reason: Superseded }
    approvers: [Babbage, Curie]
`);
  const answer = await core.router.dispatch('rehearsals.start', { script: text });
  expect(answer).toMatchObject({ ok: false, error: { code: 'CEREMONY_SCRIPT_INVALID' } });
  expect(JSON.stringify(answer)).toContain('real backup set');
  expect(spawned).toHaveLength(0);
});

function standInOf(key: KeyRecord) {
  return {
    keyId: key.id,
    label: key.label,
    algorithm: key.algorithm,
    usage: key.usage,
    backupable: key.backupable,
    cryptoperiodDays: 365,
    expiresAt: key.expiresAt,
    state: 'active',
    family: null,
    version: null,
    destroyableFrom: null,
  };
}

async function realKey(custodyId: string, label: string, cryptoperiodDays = 365) {
  await realAction(custodyId, 'key.generate', {
    algorithm: 'EC-P256',
    label,
    usage: 'sign',
    backupable: false,
    cryptoperiodDays,
  });
  return (await call<KeyRecord[]>('keys.list')).find((k) => k.label === label)!;
}

/** A script step acting on one key. */
function stepOn(id: string, action: string, params: string, by = 'Ada', approvers = 'Babbage, Curie') {
  return `  - { id: ${id}, title: ${id}, by: ${by}, action: ${action}, params: { ${params} }, approvers: [${approvers}] }\n`;
}

/**
 * Takes the rehearsal token with the real custody's holders given; the proposer proposes the stand-ins, and the
 * others approve them.
 */
async function standInsApproved(holders: string[], approvers: string[], proposer = 'Ada') {
  await call<RehearsalStatus>('rehearsals.takeCustody', { holders: holders.map(proof) });
  const proposed = await call<RehearsalStatus>('rehearsals.proposeStandIns', { proposer: proof(proposer) });
  const proposalId = proposed.active!.standIns!.proposalId!;
  const proposal = (await call<ProposalView[]>('proposals.list')).find((p) => p.id === proposalId)!;
  let view = proposal;
  for (const name of approvers)
    view = await call<ProposalView>('proposals.approve', {
      proposalId,
      fingerprint: proposal.shortFingerprint,
      approver: proof(name),
    });
  expect(view.state).toBe('executed');
  return view;
}

it('stand-ins on a custody every holder must open: the step’s performer proposes them, not the administrator holder', async () => {
  const custody = (await call('custody.take', {
    token,
    threshold: 3,
    holders: [proof('Ada'), proof('Babbage'), proof('Curie')],
    currentSoPin: '87654321',
  })) as { id: string };
  // For real, 3 of 3 means the officer proposes and all three holders approve.
  clock.now = new Date(clock.now.getTime() + 60_000);
  const generate = {
    algorithm: 'EC-P256',
    label: 'three-of-three',
    usage: 'sign',
    backupable: false,
    cryptoperiodDays: 365,
  };
  let view = await call<ProposalView>('proposals.create', {
    custodyId: custody.id,
    action: 'key.generate',
    params: generate,
    requester: proof('Olga Setup'),
  });
  for (const name of ['Ada', 'Babbage', 'Curie'])
    view = await call<ProposalView>('proposals.approve', {
      proposalId: view.id,
      fingerprint: view.shortFingerprint,
      approver: proof(name),
    });
  const [real] = await call<KeyRecord[]>('keys.list');
  const text = script(stepOn('activate', 'key.activate', `keyId: ${real!.id}`, 'Olga Setup', 'Ada, Babbage, Curie'));
  expect(core.ceremonies.lint(text).problems).toEqual([]);
  await call('rehearsals.start', { script: text });
  // Before the fix Ada, the administrator and a holder, proposed them: 2 others could never reach 3, and the
  // refusal asked for "another holder" after all three had typed their factors.
  const made = await standInsApproved(['Ada', 'Babbage', 'Curie'], ['Ada', 'Babbage', 'Curie'], 'Olga Setup');
  expect(made.requestedBy).toBe(people['Olga Setup']!.id);
  expect(await runThrough(text)).toMatchObject({ state: 'done', rehearsal: true });
  expect((await call<RehearsalStatus>('rehearsals.end')).last).toMatchObject({ outcome: 'passed' });
  expect(await call<KeyRecord[]>('keys.list')).toEqual([real]);
}, 120_000);

it('stand-ins for a script whose administrator is an auditor: proposed by the step’s performer', async () => {
  const custody = (await takeRealCustody()) as { id: string };
  const real = await realKey(custody.id, 'audited');
  const text = script(stepOn('activate', 'key.activate', `keyId: ${real.id}`))
    .replace('administrator: Ada', 'administrator: Eve')
    .replace('witnesses: [Eve]', 'witnesses: []');
  expect(core.ceremonies.lint(text).problems).toEqual([]);
  await call('rehearsals.start', { script: text });
  // Before the fix: NOT_AUTHORIZED (an auditor proposes nothing) once the scratch token was taken, and every retry
  // TOKEN_IN_CUSTODY: the rehearsal could only be ended.
  const made = await standInsApproved(['Ada', 'Babbage', 'Curie'], ['Babbage', 'Curie']);
  expect(made.requestedBy).toBe(people.Ada!.id);
}, 120_000);

it('the destruction of a compromised key is rehearsed on a compromised stand-in; the real key is left as it was', async () => {
  const custody = (await takeRealCustody()) as { id: string };
  const real = await realKey(custody.id, 'leaked');
  await realAction(custody.id, 'key.activate', { keyId: real.id });
  clock.now = new Date(clock.now.getTime() + 60_000);
  await call('keys.emergency', {
    keyId: real.id,
    token,
    transition: 'compromise',
    reason: 'Its backup card was found in a bin',
    officer: proof('Olga Setup'),
  });
  const before = await call<KeyRecord[]>('keys.list');
  const text = script(stepOn('schedule', 'key.schedule-destruction', `keyId: ${real.id}, waitDays: 7`));
  expect(core.ceremonies.lint(text).problems).toEqual([]);
  // Before the fix: "“leaked” is compromised: no step can act on it", though the real installation schedules it.
  await call('rehearsals.start', { script: text });
  await standInsApproved(['Ada', 'Babbage', 'Curie'], ['Babbage', 'Curie']);
  expect(await call<KeyRecord[]>('keys.list')).toMatchObject([{ id: real.id, state: 'compromised' }]);
  expect(await runThrough(text)).toMatchObject({ state: 'done', rehearsal: true });
  expect((await call<KeyRecord[]>('keys.list'))[0]!.destructionNotBefore).not.toBeNull();
  expect((await call<RehearsalStatus>('rehearsals.end')).last).toMatchObject({ outcome: 'passed' });
  expect(await call<KeyRecord[]>('keys.list')).toEqual(before);
}, 120_000);

it('a stand-in keeps the real key’s usage period: a test signature the real run refuses is refused in the rehearsal', async () => {
  const custody = (await takeRealCustody()) as { id: string };
  const real = await realKey(custody.id, 'short-lived', 1);
  await realAction(custody.id, 'key.activate', { keyId: real.id });
  // An hour before the real key's usage period ends, the script lints and its rehearsal starts.
  clock.now = new Date(Date.parse(real.expiresAt) - 3_600_000);
  const text = script(stepOn('sign', 'key.test-signature', `keyId: ${real.id}, challenge: Past its period`));
  await call('rehearsals.start', { script: text });
  await standInsApproved(['Ada', 'Babbage', 'Curie'], ['Babbage', 'Curie']);
  expect(await call<KeyRecord[]>('keys.list')).toMatchObject([
    { id: real.id, state: 'active', expiresAt: real.expiresAt, usagePeriodEnded: false },
  ]);
  // Past its end, the real run's signature is refused: so is the rehearsal's. Before the fix the stand-in's period
  // began when it was made, a day later than the real key's, and the rehearsal signed.
  clock.now = new Date(Date.parse(real.expiresAt) + 60_000);
  const answer = await core.router.dispatch('ceremonies.start', { script: text, administrator: proof('Ada') });
  expect(answer).toMatchObject({ ok: false, error: { code: 'CEREMONY_SCRIPT_INVALID' } });
  expect(JSON.stringify(answer)).toContain('(KEY_PERIOD_ENDED)');
  await call<RehearsalStatus>('rehearsals.end');
  expect(core.ceremonies.lint(text).problems).toEqual([expect.stringContaining('(KEY_PERIOD_ENDED)')]);
}, 120_000);

it('a backup and a rotation of real keys are rehearsed on stand-ins: the successor is numbered as it will be', async () => {
  const custody = (await takeRealCustody()) as { id: string };
  const generate = { algorithm: 'EC-P256', usage: 'sign', cryptoperiodDays: 365 };
  await realAction(custody.id, 'key.generate', { ...generate, label: 'kept', backupable: true });
  const kept = (await call<KeyRecord[]>('keys.list')).find((k) => k.label === 'kept')!;
  const first = await realKey(custody.id, 'rotated');
  await realAction(custody.id, 'key.activate', { keyId: first.id });
  await realAction(custody.id, 'key.rotate', { keyId: first.id });
  const second = (await call<KeyRecord[]>('keys.list')).find((k) => k.label === 'rotated' && k.id !== first.id)!;
  const before = await call<KeyRecord[]>('keys.list');
  const objects = [kept.id, first.id, second.id].map(objectsInRealToken);
  const text = script(
    stepOn('backup', 'key.backup', `keyIds: [${kept.id}], holders: [Ada, Babbage, Curie], threshold: 2`) +
      stepOn('rotate', 'key.rotate', `keyId: ${second.id}`),
  );
  await call('rehearsals.start', { script: text });
  await standInsApproved(['Ada', 'Babbage', 'Curie'], ['Babbage', 'Curie']);
  expect(await runThrough(text)).toMatchObject({ state: 'done', rehearsal: true });
  const successor = (await call<KeyRecord[]>('keys.list')).find((k) => k.previous === second.id)!;
  expect(successor).toMatchObject({ family: first.id, version: 3, state: 'active' });
  // The rehearsal's set holds a stand-in under the real key's id; its signed manifest says it was made in a rehearsal,
  // so a copy of it taken out of the scratch database is never imported (before: stored, pending its cards).
  const [scratchDir] = readdirSync(join(dataDir, 'rehearsals'));
  // The rehearsal process holds its database exclusively: the copy is read, as a thief of the directory would.
  const copy = join(dataDir, 'scratch-copy.db');
  for (const suffix of ['', '-wal'])
    copyFileSync(join(dataDir, 'rehearsals', scratchDir!, DATABASE_FILE + suffix), copy + suffix);
  const scratch = new Database(copy, { readonly: true });
  const row = scratch.prepare('SELECT manifest, signature FROM backups').get() as {
    manifest: string;
    signature: Buffer;
  };
  scratch.close();
  expect(JSON.parse(row.manifest)).toMatchObject({
    keys: [{ id: kept.id }],
    proposal: expect.stringMatching(/^rehearsal practice set: /),
  });
  expect(() => core.backups.importFile(backupFileText(row.manifest, row.signature))).toThrow(
    expect.objectContaining({ code: 'BACKUP_INVALID', message: expect.stringContaining('made in a rehearsal') }),
  );
  expect((await call<RehearsalStatus>('rehearsals.end')).last).toMatchObject({ outcome: 'passed' });
  expect(await call<BackupSummary[]>('backups.list')).toEqual([]);
  // Nothing real changed: the inventory, nor the objects under each real key's CKA_ID in the real token.
  expect(await call<KeyRecord[]>('keys.list')).toEqual(before);
  expect([kept.id, first.id, second.id].map(objectsInRealToken)).toEqual(objects);
}, 120_000);

it('stand-ins not approved in time, or a rehearsal process stopped before they are: the rehearsal does not pass', async () => {
  const custody = (await takeRealCustody()) as { id: string };
  const real = await realKey(custody.id, 'late');
  const before = await call<KeyRecord[]>('keys.list');
  const text = script(stepOn('activate', 'key.activate', `keyId: ${real.id}`));
  await call('rehearsals.start', { script: text });
  await call('rehearsals.takeCustody', { holders: [proof('Ada'), proof('Babbage'), proof('Curie')] });
  const proposed = await call<RehearsalStatus>('rehearsals.proposeStandIns', { proposer: proof('Ada') });
  const proposalId = proposed.active!.standIns!.proposalId!;
  const proposal = (await call<ProposalView[]>('proposals.list')).find((p) => p.id === proposalId)!;
  clock.now = new Date(Date.parse(proposal.expiresAt) + 1000);
  expect(
    await core.router.dispatch('proposals.approve', {
      proposalId,
      fingerprint: proposal.shortFingerprint,
      approver: proof('Babbage'),
    }),
  ).toMatchObject({ ok: false, error: { code: 'PROPOSAL_EXPIRED' } });
  // Without its stand-in the rehearsal has no such key: the run does not start.
  expect(await core.router.dispatch('ceremonies.start', { script: text, administrator: proof('Ada') })).toMatchObject({
    ok: false,
    error: { code: 'CEREMONY_SCRIPT_INVALID' },
  });
  expect((await call<RehearsalStatus>('rehearsals.end')).last).toMatchObject({ outcome: 'incomplete' });

  await call('rehearsals.start', { script: text });
  await call('rehearsals.takeCustody', { holders: [proof('Ada'), proof('Babbage'), proof('Curie')] });
  const exited = new Promise<void>((resolve) => spawned[1]!.onExit(() => resolve()));
  spawned[1]!.kill();
  await exited;
  expect((await call<RehearsalStatus>('rehearsals.status')).last).toMatchObject({ outcome: 'incomplete' });
  expect(core.ceremonies.rehearsals()).toMatchObject([
    { outcome: 'incomplete', runId: null },
    { outcome: 'incomplete', runId: null },
  ]);
  expect(await call<KeyRecord[]>('keys.list')).toEqual(before);
  expect(objectsInRealToken(real.id)).toBeGreaterThan(0);
}, 120_000);

it('a restore drill of a real backup set is rehearsed on a practice set: its holders type practice cards; nothing real is touched', async () => {
  const custody = (await takeRealCustody()) as { id: string };
  await realAction(custody.id, 'key.generate', {
    algorithm: 'EC-P256',
    label: 'payments',
    usage: 'sign',
    backupable: true,
    cryptoperiodDays: 365,
  });
  const [real] = await call<KeyRecord[]>('keys.list');
  await realAction(custody.id, 'key.activate', { keyId: real!.id });
  const holders = ['Ada', 'Babbage', 'Curie'].map((n) => people[n]!.id);
  await realAction(custody.id, 'key.backup', { keyIds: [real!.id], holders, threshold: 2, verify: true });
  const [set] = await call<BackupSummary[]>('backups.list');
  const realCards = core.backups.printableCards(set!.setId).map((c) => c.text);
  core.backups.forgetCards(set!.setId);
  const before = { keys: await call<KeyRecord[]>('keys.list'), sets: await call<BackupSummary[]>('backups.list') };
  // The drill restores into a fresh token, then signs with the restored key.
  const text = script(
    CUSTODY +
      stepOn('restore', 'key.restore', `setId: ${set!.setId}, overrideDestroyed: false`) +
      stepOn('sign', 'key.test-signature', `keyId: ${real!.id}, challenge: Restore drill`, 'Babbage', 'Ada, Curie'),
  ).replace(`token: { serial: "${token.serial}", label: "${token.label}" }`, 'token: { serial: "d1", label: "drill" }');
  expect(core.ceremonies.lint(text).problems).toEqual([]);
  expect(core.ceremonies.lint(text).rehearsal?.limits ?? []).toEqual([]);

  const started = await call<RehearsalStatus>('rehearsals.start', { script: text });
  expect(started.active).toMatchObject({ custody: null, standIns: null });
  expect(started.active!.practiceSets).toEqual([
    { setId: set!.setId, threshold: 2, holders: ['Ada', 'Babbage', 'Curie'], keys: ['payments'] },
  ]);
  // The practice set stands in: the real set's id, threshold and holders; a stand-in key, not the real one.
  const [practice] = await call<BackupSummary[]>('backups.list');
  expect(practice).toMatchObject({ setId: set!.setId, threshold: 2, keys: [{ id: real!.id, label: 'payments' }] });
  expect(practice!.token.label).toBe('PRACTICE');
  expect(practice!.fingerprint).not.toBe(set!.fingerprint);
  // It never leaves the rehearsal as a backup file.
  await expect(call('backups.exportFile', { setId: set!.setId })).rejects.toThrow('REHEARSAL_ACTIVE');
  // Each holder takes their own practice card with both factors; it says REHEARSAL.
  expect(await core.router.dispatch('backups.card', { setId: set!.setId, holder: proof('Eve') })).toMatchObject({
    ok: false,
    error: { code: 'NOT_AUTHORIZED' },
  });
  const cards: Record<string, string> = {};
  for (const name of ['Ada', 'Curie']) {
    const card = await call<{ text: string; rehearsal: boolean }>('backups.card', {
      setId: set!.setId,
      holder: proof(name),
    });
    expect(card.rehearsal).toBe(true);
    cards[name] = card.text;
  }
  // A real card opens nothing here: it belongs to the real set, whose commitments the practice set does not share.
  const run = await call<RunView>('ceremonies.start', { script: text, administrator: proof('Ada') });
  expect(run.rehearsal).toBe(true);
  const restoring = await runUntilCards(run.id);
  expect(await core.router.dispatch('backups.enterShare', { proposalId: restoring, text: realCards[0] })).toMatchObject(
    { ok: false, error: { code: 'SHARE_MISMATCH' } },
  );
  for (const card of [cards.Ada!, cards.Curie!])
    await call('backups.enterShare', { proposalId: restoring, text: card });
  const done = await walkRun(await call<RunView>('ceremonies.run', { runId: run.id }));
  expect(done).toMatchObject({ state: 'done', rehearsal: true });
  // In the rehearsal the stand-in came back in the rehearsal token and signed, with the real key's usage period
  // (before: one that began when the practice set was made).
  expect(await call<KeyRecord[]>('keys.list')).toMatchObject([
    { id: real!.id, label: 'payments', state: 'active', token: started.active!.token, expiresAt: real!.expiresAt },
  ]);
  const ended = await call<RehearsalStatus>('rehearsals.end');
  expect(ended.last).toMatchObject({ outcome: 'passed' });
  // Its report says the restore restored a practice set, with the entry that made it (one its audit key signed).
  const report = JSON.parse(readFileSync(join(ended.last!.reportDir!, 'report.json'), 'utf8')) as {
    ceremony: { practiceSets: { seq: number }[] };
    audit: { entries: { seq: number; entry: string }[] };
  };
  expect(report.ceremony.practiceSets).toEqual([
    {
      seq: expect.any(Number),
      setId: set!.setId,
      threshold: 2,
      holders: ['Ada', 'Babbage', 'Curie'],
      keys: [{ keyId: real!.id, label: 'payments' }],
    },
  ]);
  const made = report.audit.entries.find((e) => e.seq === report.ceremony.practiceSets[0]!.seq)!;
  expect(JSON.parse(made.entry)).toMatchObject({ action: 'rehearsal.practice-set', actor: { type: 'system' } });
  const pdf = execFileSync('pdftotext', ['-layout', join(ended.last!.reportDir!, 'report.pdf'), '-'], {
    encoding: 'utf8',
  });
  expect(pdf).toContain('Practice backup sets');
  expect(pdf).toContain(set!.setId);
  // Nothing real changed: the key, its token, the set.
  expect(await call<KeyRecord[]>('keys.list')).toEqual(before.keys);
  expect(await call<BackupSummary[]>('backups.list')).toEqual(before.sets);
  expect(objectsInRealToken(real!.id)).toBeGreaterThan(0);
  // A set the real installation would refuse to restore is not rehearsed as if it could be (before: passed).
  await realAction(custody.id, 'backup.retire', { setId: set!.setId, reason: 'Superseded' });
  const retired = await core.router.dispatch('rehearsals.start', { script: text });
  expect(retired).toMatchObject({ ok: false, error: { code: 'CEREMONY_SCRIPT_INVALID' } });
  expect(JSON.stringify(retired)).toContain('BACKUP_RETIRED');
  // The real installation makes no practice set, whoever asks.
  await expect(
    core.backups.makePracticeSet({ setId: 'ab'.repeat(16), threshold: 2, holders: [], keys: [] }, token, {
      so: '87654321',
      user: '1234',
    }),
  ).rejects.toMatchObject({ code: 'REHEARSAL_ONLY' });
}, 180_000);

/** Starts nothing: walks the open run of the rehearsal to its restore step's approvals, and returns its proposal. */
async function runUntilCards(runId: string): Promise<string> {
  let run = await call<RunView>('ceremonies.run', { runId });
  for (;;) {
    const step = run.steps.find((s) => s.id === run.current)!;
    if (step.state === 'waiting' && step.kind === 'custody')
      run = await call('ceremonies.perform', {
        runId,
        stepId: step.id,
        by: proof('Ada'),
        holders: [proof('Babbage'), proof('Curie')],
      });
    else if (step.state === 'waiting')
      run = await call('ceremonies.perform', { runId, stepId: step.id, by: proof(step.by) });
    else if (step.state === 'performed')
      for (const w of step.witnesses.filter((x) => x.signedAt === null))
        run = await call('ceremonies.witness', { runId, stepId: step.id, witness: proof(w.name) });
    else {
      for (const name of step.approvers)
        await call('proposals.approve', {
          proposalId: step.proposalId,
          fingerprint: step.shortFingerprint,
          approver: proof(name),
        });
      return step.proposalId!;
    }
  }
}
