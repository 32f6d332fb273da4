import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { Envelope } from '../../../shared/errors';
import type { RunView } from '../../../shared/ceremony-script';
import type { RehearsalStatus } from '../../../shared/rehearsals';
import type { ModuleStatus } from '../../../shared/tokens';
import type { KeyRecord } from '../../../shared/keys';
import { CustosCore } from '../custos-core';
import {
  call,
  core,
  CUSTODY,
  dataDir,
  KEY,
  proof,
  reopen,
  script,
  spawnChild,
  spawned,
  takeRealCustody,
} from '../testing/rehearsal-bed';
import { clock, people, realAction, runThrough, token, useRehearsalBed } from '../testing/rehearsal-bed';
import { verifyReport } from '../reports/report-verify';
import { publicKeyFromPem } from '../audit/audit-key';
import type { FromRehearsal, RehearsalProcess } from './rehearsal-protocol';

/**
 * Main's side of the channel to a rehearsal process, attacked from the process's side: it is less trusted than main
 * (its installation is a folder whoever can write the data directory can shape), so what it says is checked here.
 */
useRehearsalBed(CustosCore.open);

/** A real rehearsal process whose messages to main the test can forge (`forge`) or keep back (`withhold`). */
function forgingChild(withhold: (message: Parameters<RehearsalProcess['post']>[0]) => boolean = () => false) {
  /** `deliver` speaks as the latest process; `as[i]` as the i-th, also once it has gone. */
  const forged: { deliver: (message: unknown) => void; as: ((message: unknown) => void)[] } = {
    deliver: () => {},
    as: [],
  };
  reopen({
    spawnRehearsal: () => {
      const child = spawnChild();
      spawned.push(child);
      return {
        ...child,
        post: (message) => (withhold(message) ? undefined : child.post(message)),
        onMessage: (listener) => {
          forged.deliver = (message) => listener(message as FromRehearsal);
          forged.as.push(forged.deliver);
          child.onMessage(listener);
        },
      };
    },
  });
  return forged;
}

const exitOf = (child: RehearsalProcess) => new Promise<void>((resolve) => child.onExit(() => resolve()));

it('a malformed message from the rehearsal process stops the rehearsal and does not bring main down (fixed)', async () => {
  core.close();
  const forged = forgingChild();
  await call('rehearsals.start', { script: script(CUSTODY + KEY) });
  const exited = exitOf(spawned[0]!);
  // Before the fix the first threw a TypeError in main's message listener: an uncaught exception in the main process.
  for (const message of [null, 42, { type: 'reply', id: 1 }, { type: 'event', name: { toString: null } }])
    expect(() => forged.deliver(message)).not.toThrow();
  await exited;
  const status = await call<RehearsalStatus>('rehearsals.status');
  expect(status).toMatchObject({ active: null, last: { outcome: 'incomplete', how: 'stopped' } });
  expect((await call<{ dataDir: string }>('app.snapshot')).dataDir).toBe(dataDir);
});

it.each([
  ['names a run of the real installation', 'real run', null],
  ['puts its report in the real data directory', null, 'data dir'],
] as const)('a rehearsal’s end that %s is not recorded as it says (fixed)', async (_, runId, reportDir) => {
  const text = script(CUSTODY + KEY);
  const real = await call<RunView>('ceremonies.start', { script: text, administrator: proof('Ada') });
  core.close();
  // The process answers the end with a run that passed, under the real run's id, or with the real data directory.
  let forged: { deliver: (message: unknown) => void } = { deliver: () => {} };
  forged = forgingChild((message) => {
    if (message.type !== 'finish') return false;
    forged.deliver({
      type: 'finished',
      id: message.id,
      run: { id: runId === null ? 'b'.repeat(16) : real.id, state: 'done' },
      reportDir: reportDir === null ? null : dataDir,
      reportSha256: 'a'.repeat(64),
      factors: {},
    });
    return true;
  });
  await call('rehearsals.start', { script: text });
  const exited = exitOf(spawned[0]!);
  const answer = await core.router.dispatch('rehearsals.end', {});
  await exited;
  // Before the fix: recorded as a passed rehearsal, of the real run or with the real data directory as its report.
  expect(answer).toMatchObject({ ok: false, error: { code: 'REHEARSAL_STOPPED' } });
  const status = await call<RehearsalStatus>('rehearsals.status');
  expect(status).toMatchObject({ active: null, last: { outcome: 'incomplete', how: 'stopped', reportDir: null } });
  expect(core.ceremonies.rehearsals()).toMatchObject([{ outcome: 'incomplete', runId: null, reportSha256: null }]);
});

it('a rehearsal process that never opens its installation does not keep the real one refusing for good (fixed)', async () => {
  core.close();
  reopen({
    rehearsalOpenDeadlineMs: 1_500,
    spawnRehearsal: () => {
      const child = spawnChild();
      spawned.push(child);
      // As if it hung making the scratch installation.
      return { ...child, post: (message) => (message.type === 'open' ? undefined : child.post(message)) };
    },
  });
  const starting = core.router.dispatch('rehearsals.start', { script: script(CUSTODY + KEY) });
  const late = new Promise<'still opening'>((resolve) => setTimeout(() => resolve('still opening'), 10_000));
  // Before the fix it never answered, and every request meanwhile was refused: "A rehearsal is opening".
  expect(await Promise.race([starting, late])).toMatchObject({ ok: false, error: { code: 'REHEARSAL_STOPPED' } });
  expect(await call<RehearsalStatus>('rehearsals.status')).toMatchObject({ active: null });
  const snapshot = (await core.router.dispatch('app.snapshot', {})) as Envelope<{ dataDir: string }>;
  expect(snapshot).toMatchObject({ ok: true, value: { dataDir } });
});

it('the rehearsal process sees only its own tokens, though main’s SOFTHSM2_CONF names the real store (held)', async () => {
  const real = await call<ModuleStatus>('tokens.status');
  expect(process.env.SOFTHSM2_CONF?.startsWith(dataDir)).toBe(true);
  const serials = (status: ModuleStatus) =>
    status.state === 'ready' ? status.slots.flatMap((s) => (s.token ? [s.token.serial] : [])) : [];
  expect(serials(real)).toContain(token.serial);
  const started = await call<RehearsalStatus>('rehearsals.start', { script: script(CUSTODY + KEY) });
  // Forwarded to the rehearsal process, whose environment it inherited from main's: it opens its own store.
  const there = await call<ModuleStatus>('tokens.status');
  expect(serials(there)).toContain(started.active!.token.serial);
  expect(serials(there)).not.toContain(token.serial);
  expect(await core.router.dispatch('tokens.select', token)).toMatchObject({ ok: false });
  await call('rehearsals.end');
});

it('a rehearsal’s report is typed as one, and does not verify against the real installation’s audit key (held)', async () => {
  const text = script(CUSTODY + KEY);
  await call('rehearsals.start', { script: text });
  const run = await runThrough(text);
  const ended = await call<RehearsalStatus>('rehearsals.end');
  const dir = ended.last!.reportDir!;
  const json = readFileSync(join(dir, 'report.json'));
  const signature = readFileSync(join(dir, 'report.sig'));
  expect(verifyReport(json, signature, core.audit.noteKey()!)).toMatchObject({ ok: false, type: 'ceremony.rehearsal' });
  // It verifies only against the scratch audit key beside it, whose token went with the rehearsal's installation.
  const scratchKey = publicKeyFromPem(readFileSync(join(dir, 'audit-key.pem'), 'utf8'));
  const name = (JSON.parse(json.toString('utf8')) as { auditKey: { name: string } }).auditKey.name;
  expect(verifyReport(json, signature, { name, publicKey: scratchKey })).toMatchObject({
    ok: true,
    type: 'ceremony.rehearsal',
  });
  // Its run is not one of the real installation's, nor is its report among the real reports.
  expect((await call<RunView[]>('ceremonies.runs')).map((r) => r.id)).not.toContain(run.id);
  expect((await call<{ ceremonyId: string | null }[]>('reports.list')).map((r) => r.ceremonyId)).not.toContain(run.id);
});

it('an earlier rehearsal’s process is not heard in the next one: its answers count for nothing here (fixed)', async () => {
  core.close();
  const forged = forgingChild();
  const text = script(CUSTODY + KEY);
  await call('rehearsals.start', { script: text });
  await call('rehearsals.end');
  await call('rehearsals.start', { script: text });
  const babbage = people.Babbage!.id;
  const before = core.custodians.get(babbage).failures;
  // The first process, ended, answers as if it were still asked: Babbage failed five times there.
  forged.as[0]!({
    type: 'reply',
    id: 10_000,
    envelope: { ok: true, value: null },
    factors: { [babbage]: { lastTimeStep: null, failures: before + 5, throttledUntil: null, locked: false } },
  });
  // Before the fix it was counted here, in the middle of the next rehearsal.
  expect(core.custodians.get(babbage).failures).toBe(before);
  expect((await call<RehearsalStatus>('rehearsals.status')).active).not.toBeNull();
  await call('rehearsals.end');
  expect(core.custodians.get(babbage).failures).toBe(before);
});

it('a rehearsal process that says it opened on the real token, or one not labelled REHEARSAL, is stopped (fixed)', async () => {
  core.close();
  for (const claimed of [
    { ...token, label: 'REHEARSAL' },
    { serial: '0123456789abcdef', label: 'Root CA' },
  ]) {
    let forged: { deliver: (message: unknown) => void } = { deliver: () => {} };
    forged = forgingChild((message) => {
      if (message.type === 'open') forged.deliver({ type: 'ready', token: claimed });
      return false;
    });
    const answer = await core.router.dispatch('rehearsals.start', { script: script(CUSTODY + KEY) });
    // Before the fix the screens said the rehearsal was open on the token it named: the real one, or any other.
    expect(answer).toMatchObject({ ok: false, error: { code: 'REHEARSAL_STOPPED' } });
    expect(await call<RehearsalStatus>('rehearsals.status')).toMatchObject({ active: null });
    core.close();
  }
  reopen();
});

it('a rehearsal process that answers the stand-ins proposal with what is not a proposal id is stopped (fixed)', async () => {
  const custody = (await takeRealCustody()) as { id: string };
  await realAction(custody.id, 'key.generate', {
    algorithm: 'EC-P256',
    label: 'old-signing',
    usage: 'sign',
    backupable: false,
    cryptoperiodDays: 365,
  });
  const [real] = await call<KeyRecord[]>('keys.list');
  const text = script(
    `  - { id: activate, title: Activate, by: Ada, action: key.activate, params: { keyId: ${real!.id} }, ` +
      'approvers: [Babbage, Curie] }\n',
  );
  core.close();
  let forged: { deliver: (message: unknown) => void } = { deliver: () => {} };
  forged = forgingChild((message) => {
    if (message.type !== 'propose-stand-ins') return false;
    forged.deliver({ type: 'reply', id: message.id, envelope: { ok: true, value: { proposalId: 42 } }, factors: {} });
    return true;
  });
  const told: unknown[] = [];
  core.events.subscribe((name, payload) => name === 'rehearsals.changed' && told.push(payload));
  await call('rehearsals.start', { script: text });
  await call('rehearsals.takeCustody', { holders: [proof('Ada'), proof('Babbage'), proof('Curie')] });
  const exited = exitOf(spawned[0]!);
  const answer = await core.router.dispatch('rehearsals.proposeStandIns', { proposer: proof('Ada') });
  // Before the fix it was kept as the proposal's id: the answer, the status and the push all failed their schema.
  expect(answer).toMatchObject({ ok: false, error: { code: 'REHEARSAL_STOPPED' } });
  await exited;
  expect(await call<RehearsalStatus>('rehearsals.status')).toMatchObject({
    active: null,
    last: { outcome: 'incomplete', how: 'stopped' },
  });
  expect(told.at(-1)).toMatchObject({ active: null, last: { outcome: 'incomplete', how: 'stopped' } });
  expect(core.ceremonies.rehearsals()).toMatchObject([{ outcome: 'incomplete', runId: null }]);
});

it('counts what a rehearsal reports back only for the people copied into it, not for a real officer (fixed)', async () => {
  core.close();
  const forged = forgingChild();
  await call('rehearsals.start', { script: script(CUSTODY + KEY) });
  const officer = people['Olga Setup']!.id;
  const babbage = people.Babbage!.id;
  const before = { officer: core.custodians.get(officer), babbage: core.custodians.get(babbage).failures };
  // Olga, a security officer the script does not name, was never copied in; the process says she is locked out.
  const locked = { lastTimeStep: null, failures: 10, throttledUntil: null, locked: true };
  forged.deliver({
    type: 'reply',
    id: 10_000,
    envelope: { ok: true, value: null },
    factors: { [officer]: locked, [babbage]: { ...locked, failures: before.babbage + 1, locked: false } },
  });
  // Before the fix Olga's count was signed here (locked out, or made to wait as the last officer standing).
  expect(core.custodians.get(officer)).toEqual(before.officer);
  expect(core.custodians.get(babbage).failures).toBe(before.babbage + 1);
  await call('rehearsals.end');
  expect(core.custodians.get(officer)).toEqual(before.officer);
});

it('a throttle a rehearsal process reports runs at most the longest wait from now, not until the year 9999 (fixed)', async () => {
  core.close();
  const forged = forgingChild();
  await call('rehearsals.start', { script: script(CUSTODY + KEY) });
  const babbage = people.Babbage!.id;
  const failures = core.custodians.get(babbage).failures + 1;
  const state = { lastTimeStep: null, failures, throttledUntil: '9999-12-31T00:00:00.000Z', locked: false };
  forged.deliver({ type: 'reply', id: 10_000, envelope: { ok: true, value: null }, factors: { [babbage]: state } });
  // Before the fix Babbage waited until 9999 (and the last officer standing, so made to wait, would have for good).
  const until = core.custodians.get(babbage).throttledUntil!;
  expect(Date.parse(until)).toBeLessThanOrEqual(clock.now.getTime() + 3600_000);
  expect(core.custodians.get(babbage).failures).toBe(failures);
  await call('rehearsals.end');
});
