import { realpathSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ModuleStatus, TokenInfo } from '../../../shared/tokens';
import { CustosCore } from '../custos-core';
import { totpCodeAt } from '../custodians/totp';
import { findSoftHsmLibrary } from '../hsm/softhsm';
import { silentLog } from '../log';
import { enrolPeople, type EnrolledPerson } from '../testing/enrolment';
import { describeOnOpencryptoki, OPENCRYPTOKI_MODULE, resetOpencryptoki } from '../testing/opencryptoki-fixture';
import { initSoftHsmToken, tempDataDir } from '../testing/softhsm-fixture';

/**
 * opencryptoki 3.8's C_Initialize crashes the process (SIGSEGV) when its library was finalised and
 * loaded again while SoftHSM2 is loaded, and Custos always has SoftHSM2 loaded for its audit token.
 * Switching modules and refreshing must therefore never finalise a library while Custos runs.
 */
describeOnOpencryptoki('switching between opencryptoki and the built-in SoftHSM2 in one process', () => {
  const clock = { now: new Date() };
  let core: CustosCore;
  let officer: EnrolledPerson;
  let rehearsal: { serial: string; label: string };
  let cleanup = () => {};

  beforeAll(async () => {
    resetOpencryptoki();
    const temp = tempDataDir();
    cleanup = temp.cleanup;
    rehearsal = initSoftHsmToken(temp.dataDir, 'rehearsal');
    core = CustosCore.open({
      dataDir: temp.dataDir,
      version: 'test',
      production: true,
      log: silentLog,
      clock: () => clock.now,
      kdfCost: { N: 2 ** 14, r: 8, p: 1 },
      pickModule: () => Promise.resolve(OPENCRYPTOKI_MODULE),
    });
    const passphrase = 'granite lantern orchard sleeps 1917 quietly';
    const enrolled = await enrolPeople(core.custodians, clock, [
      { name: 'Olive', roles: ['security-officer'], passphrase },
    ]);
    officer = enrolled.people[0]!;
  });
  afterAll(() => {
    core?.close();
    cleanup();
  });

  /** The officer's two factors, one TOTP step later each time (a step is never accepted twice). */
  const proof = () => {
    clock.now = new Date(clock.now.getTime() + 30_000);
    return { custodianId: officer.id, passphrase: officer.passphrase, code: totpCodeAt(officer.secret, clock.now) };
  };
  const switchTo = async (source: 'picked' | 'built-in') => {
    const result = await core.router.dispatch('settings.setModule', { source, officer: proof() });
    expect(result).toMatchObject({ ok: true });
    return (result as { value: ModuleStatus }).value;
  };
  const refresh = async () => {
    const result = await core.router.dispatch('tokens.status', {});
    expect(result).toMatchObject({ ok: true });
    return (result as { value: ModuleStatus }).value;
  };
  const tokens = (status: ModuleStatus): TokenInfo[] => {
    expect(status.state).toBe('ready');
    return status.state === 'ready' ? status.slots.flatMap((slot) => (slot.token ? [slot.token] : [])) : [];
  };
  const expectOpencryptoki = (status: ModuleStatus) => {
    expect(status).toMatchObject({ state: 'ready', module: { kind: 'configured', manufacturer: 'IBM' } });
    expect(tokens(status)).toEqual([expect.objectContaining({ model: 'IBM SoftTok', serial: '123' })]);
  };
  const expectSoftHsm = (status: ModuleStatus) => {
    const path = realpathSync(findSoftHsmLibrary()!);
    expect(status).toMatchObject({ state: 'ready', module: { kind: 'embedded-softhsm', path } });
    const listed = tokens(status);
    expect(listed.map((t) => t.serial)).toContain(rehearsal.serial);
    expect(listed.every((t) => t.model === 'SoftHSM v2')).toBe(true);
  };

  it('recognises opencryptoki’s token as software by its model, and the library as software through it', async () => {
    const status = await switchTo('picked');
    const [token] = tokens(status);
    expect(token?.software).toEqual({
      software: true,
      product: 'opencryptoki software token',
      reason:
        'Known software token: opencryptoki software token (“IBM Corp.”, model “IBM SoftTok”); its slot is not a hardware slot.',
    });
    expect(status).toMatchObject({
      module: {
        softwareToken: true,
        software: {
          product: 'opencryptoki software token',
          reason: expect.stringContaining('Every token “IBM Meta PKCS11 LIBRARY” shows is a known software token'),
        },
        notice: expect.stringMatching(
          /^Software token \(opencryptoki software token\).*not a FIPS 140-3 validated HSM/,
        ),
      },
    });
    const findings = (await core.router.dispatch('compliance.view', {})) as {
      value: { findings: { rule: string; subject: string; title: string }[] };
    };
    expect(findings.value.findings).toContainEqual(
      expect.objectContaining({
        rule: 'MODULE_NOT_VALIDATED',
        title: expect.stringContaining('is a software token (opencryptoki software token)'),
      }),
    );
    expectSoftHsm(await switchTo('built-in'));
  });

  it('lists the right tokens after every switch and every refresh, and keeps each library loaded once', async () => {
    expectSoftHsm(await refresh());
    for (let round = 0; round < 3; round++) {
      expectOpencryptoki(await switchTo('picked'));
      for (let i = 0; i < 3; i++) expectOpencryptoki(await refresh());
      expectSoftHsm(await switchTo('built-in'));
      for (let i = 0; i < 3; i++) expectSoftHsm(await refresh());
    }
    expect(core.host.isLoaded(OPENCRYPTOKI_MODULE)).toBe(true);
  });
});
