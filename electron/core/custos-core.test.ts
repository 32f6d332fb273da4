import Database from 'better-sqlite3';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { totpCodeAt } from './custodians/totp';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ModuleStatus } from '../../shared/tokens';
import { AuditEntry } from '../../shared/audit';
import { channelNames } from '../../shared/ipc-schema';
import { CustosCore } from './custos-core';
import { findSoftHsmLibrary, softHsmPaths } from './hsm/softhsm';
import { DATABASE_FILE } from './store/database';
import { sql } from './store/sql';
import { silentLog } from './log';
import { enrolPeople } from './testing/enrolment';
import { initSoftHsmToken, tempDataDir } from './testing/softhsm-fixture';

let dataDir: string;
let cleanup: () => void;
let core: CustosCore | undefined;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => {
  core?.close();
  core = undefined;
  cleanup();
});
const openCore = (moduleOverride?: string) =>
  (core = CustosCore.open({ dataDir, version: 'test', production: true, log: silentLog, moduleOverride }));

describe('CustosCore through its router', () => {
  it('shows the embedded SoftHSM2 token, its serial and its mechanisms', async () => {
    const token = initSoftHsmToken(dataDir, 'rehearsal');
    const router = openCore().router;
    const snapshot = await router.dispatch('app.snapshot', {});
    expect(snapshot.ok).toBe(true);
    const status = (snapshot as { value: { tokens: ModuleStatus } }).value.tokens;
    expect(status.state).toBe('ready');
    if (status.state !== 'ready') return;
    expect(status.module.kind).toBe('embedded-softhsm');
    expect(status.slots.map((s) => s.token?.serial)).toContain(token.serial);
    const mechanisms = await router.dispatch('tokens.mechanisms', token);
    expect(mechanisms).toMatchObject({
      ok: true,
      value: { mechanisms: expect.arrayContaining([expect.objectContaining({ name: 'CKM_AES_KEY_WRAP_PAD' })]) },
    });
  });

  it('remembers the selected token across restarts', async () => {
    const token = initSoftHsmToken(dataDir, 'rehearsal');
    expect(await openCore().router.dispatch('tokens.select', token)).toEqual({ ok: true, value: token });
    core!.close();
    expect(openCore().snapshot().selectedToken).toEqual(token);
  });

  it('refuses to select a token that is not attached', async () => {
    initSoftHsmToken(dataDir, 'rehearsal');
    const result = await openCore().router.dispatch('tokens.select', { serial: 'deadbeef', label: 'ghost' });
    expect(result).toMatchObject({ ok: false, error: { code: 'TOKEN_NOT_FOUND' } });
    expect(core!.snapshot().selectedToken).toBeNull();
  });

  it('reports a removed token directory as SOFTHSM_TOKEN_DIR_MISSING instead of crashing', async () => {
    initSoftHsmToken(dataDir, 'rehearsal');
    const router = openCore().router;
    const { tokenDir } = softHsmPaths(dataDir);
    renameSync(tokenDir, `${tokenDir}.gone`);
    const status = await router.dispatch('tokens.status', {});
    expect(status).toMatchObject({ ok: true, value: { state: 'unavailable', code: 'SOFTHSM_TOKEN_DIR_MISSING' } });
    expect(await router.dispatch('tokens.mechanisms', { serial: 'x', label: 'y' })).toMatchObject({
      ok: false,
      error: { code: 'SOFTHSM_TOKEN_DIR_MISSING' },
    });
  });

  it('reports a configured module that does not exist as MODULE_NOT_FOUND', async () => {
    const status = await openCore('/opt/vendor/missing-pkcs11.so').router.dispatch('tokens.status', {});
    expect(status).toMatchObject({
      ok: true,
      value: { state: 'unavailable', code: 'MODULE_NOT_FOUND', path: '/opt/vendor/missing-pkcs11.so' },
    });
  });

  it('pushes the token status to subscribers when it changes', async () => {
    initSoftHsmToken(dataDir, 'rehearsal');
    const seen: string[] = [];
    openCore().events.subscribe((event) => seen.push(event));
    await core!.router.dispatch('tokens.status', {});
    expect(seen).toContain('tokens.changed');
  });
});

/** Security officers enrolled through the router, with real scrypt and TOTP; proof(n) is n steps later. */
async function enrolOfficers(
  router: CustosCore['router'],
  names: string[],
  roles: string[] = ['security-officer'],
  // After the installation's first officer, every enrolment is approved by an officer (their next TOTP step).
  approver?: { proof: (step: number) => { custodianId: string; passphrase: string; code: string } },
) {
  const start = Date.now();
  const people = [];
  for (const name of names) {
    const passphrase = `long quiet harbour walk number ${people.length + 7}`;
    const officers = approver ? { officers: [approver.proof(1)] } : {};
    const begun = (await router.dispatch('custodians.enrolBegin', { name, roles, passphrase, ...officers })) as {
      ok: true;
      value: { enrolmentId: string; secret: string };
    };
    const saved = (await router.dispatch('custodians.enrolConfirm', {
      enrolmentId: begun.value.enrolmentId,
      code: totpCodeAt(begun.value.secret, new Date(start)),
    })) as { value: { id: string } };
    const secret = begun.value.secret;
    people.push({
      id: saved.value.id,
      proof: (step: number) => ({
        custodianId: saved.value.id,
        passphrase,
        code: totpCodeAt(secret, new Date(start + step * 30_000)),
      }),
    });
  }
  return people;
}

describe('choosing the PKCS#11 module', () => {
  const entries = () =>
    [...core!.audit.log().entries()].map(
      (e) =>
        JSON.parse(e.entry) as {
          action: string;
          actor: { id: string };
          object: { id: string } | null;
          result: { status: string; code?: string };
        },
    );
  const openWithPicker = (pick: () => Promise<string | null>) =>
    (core = CustosCore.open({
      dataDir,
      version: 'test',
      production: true,
      log: silentLog,
      pickModule: pick,
      kdfCost: { N: 2 ** 14, r: 8, p: 1 },
    }));
  const mappedLibz = () =>
    readFileSync('/proc/self/maps', 'utf8')
      .split('\n')
      .filter((line) => /\/libz\.so/.test(line)).length;

  it('refuses the old renderer request that named a library, records it and loads nothing', async () => {
    initSoftHsmToken(dataDir, 'rehearsal');
    const router = openWithPicker(() => Promise.resolve(null)).router;
    const libz =
      ['/usr/lib/x86_64-linux-gnu/libz.so.1', '/lib/x86_64-linux-gnu/libz.so.1', '/usr/lib/libz.so.1'].find((p) =>
        existsSync(p),
      ) ?? '/usr/lib/libz.so.1';
    const before = mappedLibz();
    const result = await router.dispatch('settings.setModule', { path: libz });
    expect(result).toMatchObject({ ok: false, error: { code: 'IPC_INVALID_PAYLOAD' } });
    expect(mappedLibz()).toBe(before);
    expect(core!.host.isLoaded(libz)).toBe(false);
    expect(core!.settings.get('token.modulePath')).toBeNull();
    expect(entries().at(-1)).toMatchObject({
      action: 'settings.module.set',
      result: { status: 'refused', code: 'IPC_INVALID_PAYLOAD' },
    });
  });

  it('refuses without a security officer’s two factors and never opens the picker', async () => {
    const pick = vi.fn(() => Promise.resolve(findSoftHsmLibrary()!));
    const router = openWithPicker(pick).router;
    const [officer] = await enrolOfficers(router, ['Olive']);
    const [custodian] = await enrolOfficers(router, ['Carl'], ['custodian'], officer);
    expect(
      await router.dispatch('settings.setModule', { source: 'picked', officer: custodian!.proof(1) }),
    ).toMatchObject({ ok: false, error: { code: 'NOT_AUTHORIZED' } });
    expect(
      await router.dispatch('settings.setModule', {
        source: 'picked',
        officer: { ...officer!.proof(1), passphrase: 'not the passphrase at all' },
      }),
    ).toMatchObject({
      ok: false,
      error: { code: 'PASSPHRASE_INCORRECT' },
    });
    expect(await router.dispatch('settings.setModule', { source: 'picked' })).toMatchObject({
      ok: false,
      error: { code: 'IPC_INVALID_PAYLOAD' },
    });
    expect(pick).not.toHaveBeenCalled();
    expect(core!.settings.get('token.modulePath')).toBeNull();
    expect(
      entries()
        .filter((e) => e.action === 'settings.module.set')
        .map((e) => e.result.code),
    ).toEqual(['NOT_AUTHORIZED', 'IPC_INVALID_PAYLOAD']);
  });

  it('loads the library the officer picked and records the officer as the one who chose it', async () => {
    initSoftHsmToken(dataDir, 'rehearsal');
    const library = vendorCopy(dataDir);
    const router = openWithPicker(() => Promise.resolve(library)).router;
    const [officer] = await enrolOfficers(router, ['Olive']);
    const result = await router.dispatch('settings.setModule', { source: 'picked', officer: officer!.proof(1) });
    expect(result).toMatchObject({
      ok: true,
      value: { state: 'ready', module: { path: library, kind: 'configured' } },
    });
    expect(core!.settings.get('token.modulePath')).toBe(library);
    expect(entries().at(-1)).toMatchObject({
      action: 'settings.module.set',
      actor: { id: officer!.id },
      object: { id: library },
      result: { status: 'ok' },
    });
  });

  it('refuses to load a module path written into the database by anyone but an officer through Custos', async () => {
    initSoftHsmToken(dataDir, 'rehearsal');
    const library = vendorCopy(dataDir);
    const router = openWithPicker(() => Promise.resolve(library)).router;
    const [officer] = await enrolOfficers(router, ['Olive']);
    expect(await router.dispatch('settings.setModule', { source: 'picked', officer: officer!.proof(1) })).toMatchObject(
      { ok: true },
    );
    core!.close();
    // A database writer points the saved module at another library (a copy as good as the first).
    const other = join(dirname(library), 'libother-pkcs11.so');
    copyFileSync(library, other);
    const db = new Database(join(dataDir, DATABASE_FILE));
    db.prepare(`UPDATE settings SET value = ? WHERE key = 'token.modulePath'`).run(JSON.stringify(other));
    db.close();
    const reopened = openWithPicker(() => Promise.resolve(null));
    const status = await reopened.router.dispatch('tokens.status', {});
    expect(status).toMatchObject({ ok: true, value: { state: 'unavailable', code: 'MODULE_SETTING_TAMPERED' } });
    expect(reopened.host.isLoaded(other)).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(
      entries().some((e) => e.action === 'settings.module.tampered' && e.result.code === 'MODULE_SETTING_TAMPERED'),
    ).toBe(true);
  });

  it('refuses an older signed module choice put back after the officer chose another', async () => {
    initSoftHsmToken(dataDir, 'rehearsal');
    const library = vendorCopy(dataDir);
    const router = openWithPicker(() => Promise.resolve(library)).router;
    const [officer] = await enrolOfficers(router, ['Olive']);
    expect(await router.dispatch('settings.setModule', { source: 'picked', officer: officer!.proof(1) })).toMatchObject(
      { ok: true },
    );
    const older = ['token.modulePath', 'token.moduleSignature'].map((key) =>
      core!.store.get<{ value: string }>(sql`SELECT value FROM settings WHERE key = ${key}`),
    );
    // The officer's later choice (the service directly: the factors are not what this is about).
    core!.tokens.setModule(null, { type: 'custodian', id: officer!.id, role: 'security-officer' });
    core!.close();
    // A database writer puts back the pair the audit key signed for the earlier choice.
    const db = new Database(join(dataDir, DATABASE_FILE));
    const put = db.prepare(`UPDATE settings SET value = ? WHERE key = ?`);
    put.run(older[0]!.value, 'token.modulePath');
    put.run(older[1]!.value, 'token.moduleSignature');
    db.close();
    const reopened = openWithPicker(() => Promise.resolve(null));
    expect(await reopened.router.dispatch('tokens.status', {})).toMatchObject({
      ok: true,
      value: { state: 'unavailable', code: 'MODULE_SETTING_TAMPERED' },
    });
    expect(reopened.host.isLoaded(library)).toBe(false);
  });

  it('keeps each library loaded once: refreshing and switching back reuse it, never initialise it again', async () => {
    const token = initSoftHsmToken(dataDir, 'rehearsal');
    const library = vendorCopy(dataDir);
    const clock = { now: new Date() };
    const kdfCost = { N: 2 ** 14, r: 8, p: 1 };
    const pickModule = () => Promise.resolve(library);
    core = CustosCore.open({
      dataDir,
      version: 'test',
      production: true,
      log: silentLog,
      clock: () => clock.now,
      pickModule,
      kdfCost,
    });
    const passphrase = 'long quiet harbour walk number 7';
    const {
      people: [officer],
    } = await enrolPeople(core.custodians, clock, [{ name: 'Olive', roles: ['security-officer'], passphrase }]);
    const switchTo = (source: 'picked' | 'built-in') => {
      clock.now = new Date(clock.now.getTime() + 30_000);
      const code = totpCodeAt(officer!.secret, clock.now);
      return core!.router.dispatch('settings.setModule', {
        source,
        officer: { custodianId: officer!.id, passphrase, code },
      });
    };
    expect(await switchTo('picked')).toMatchObject({ ok: true });
    const vendor = core.tokens.ready();
    const refreshed = await core.router.dispatch('tokens.status', {});
    expect(refreshed).toMatchObject({ ok: true, value: { state: 'ready', module: { path: library } } });
    expect(core.tokens.ready()).toBe(vendor);
    expect(await switchTo('built-in')).toMatchObject({ ok: true, value: { module: { kind: 'embedded-softhsm' } } });
    expect(core.host.isLoaded(library)).toBe(true);
    expect(await switchTo('picked')).toMatchObject({ ok: true, value: { module: { path: library } } });
    expect(core.tokens.ready()).toBe(vendor);
    expect(vendor.slots().map((s) => s.token?.serial)).toContain(token.serial);
  });

  it('keeps the module in use when the picked file fails to load, and says which one it is', async () => {
    initSoftHsmToken(dataDir, 'rehearsal');
    const broken = join(dataDir, 'vendor', 'libbroken-pkcs11.so');
    mkdirSync(dirname(broken), { mode: 0o755 });
    writeFileSync(broken, 'not a shared object', { mode: 0o644 });
    const router = openWithPicker(() => Promise.resolve(broken)).router;
    const [officer] = await enrolOfficers(router, ['Olive']);
    const inUse = core!.tokens.ready();
    const result = await router.dispatch('settings.setModule', { source: 'picked', officer: officer!.proof(1) });
    expect(result).toMatchObject({
      ok: false,
      error: { code: 'MODULE_LOAD_FAILED', message: expect.stringContaining(`Custos still uses ${inUse.path}`) },
    });
    expect(core!.tokens.ready()).toBe(inUse);
    expect(core!.tokens.status()).toMatchObject({
      state: 'ready',
      module: { path: inUse.path, kind: 'embedded-softhsm' },
    });
    expect(core!.settings.get('token.modulePath')).toBeNull();
    expect(entries().at(-1)).toMatchObject({
      action: 'settings.module.set',
      result: { status: 'failed', code: 'MODULE_LOAD_FAILED' },
    });
  });

  it.each([
    ['a relative path', 'opensc-pkcs11.so', 'MODULE_UNSAFE'],
    ['a file that is not a library', '/etc/passwd', 'MODULE_UNSAFE'],
    ['a library that does not exist', '/usr/lib/nowhere/opensc-pkcs11.so', 'MODULE_NOT_FOUND'],
  ])('refuses %s before loading anything', async (_what, picked, code) => {
    const router = openWithPicker(() => Promise.resolve(picked)).router;
    const [officer] = await enrolOfficers(router, ['Olive']);
    expect(await router.dispatch('settings.setModule', { source: 'picked', officer: officer!.proof(1) })).toMatchObject(
      { ok: false, error: { code } },
    );
    expect(core!.settings.get('token.modulePath')).toBeNull();
  });

  it('changes nothing when the officer cancels the dialog', async () => {
    const router = openWithPicker(() => Promise.resolve(null)).router;
    const [officer] = await enrolOfficers(router, ['Olive']);
    expect(await router.dispatch('settings.setModule', { source: 'picked', officer: officer!.proof(1) })).toMatchObject(
      { ok: false, error: { code: 'MODULE_NOT_CHOSEN' } },
    );
    expect(entries().at(-1)).toMatchObject({
      action: 'settings.module.set',
      result: { status: 'failed', code: 'MODULE_NOT_CHOSEN' },
    });
  });
});

/** A copy of SoftHSM2 where a vendor's installer would put its module: owned by us, not writable by others. */
function vendorCopy(dir: string): string {
  const library = join(dir, 'vendor', 'libvendor-pkcs11.so');
  mkdirSync(dirname(library), { mode: 0o755, recursive: true });
  copyFileSync(findSoftHsmLibrary()!, library);
  chmodSync(library, 0o644);
  return library;
}

describe('every request is in the audit log', () => {
  const actions = () =>
    [...core!.audit.log().entries()].map((e) => {
      const entry = JSON.parse(e.entry) as {
        action: string;
        result: { status: string; code?: string };
        object: { id: string } | null;
      };
      return `${entry.action} ${entry.result.status}${entry.result.code ? ` ${entry.result.code}` : ''}`;
    });

  it('records a selection in the same step as the setting, and reads, failures and refusals after', async () => {
    const token = initSoftHsmToken(dataDir, 'rehearsal');
    const router = openCore().router;
    await router.dispatch('tokens.status', {});
    await router.dispatch('tokens.select', token);
    await router.dispatch('tokens.select', { serial: 'deadbeef', label: 'ghost' });
    await router.dispatch('tokens.select', { serial: 42 });
    await router.dispatch('keys.exportEverything', {});
    expect(actions().slice(1)).toEqual([
      'token.list ok',
      'token.select ok',
      'token.select failed TOKEN_NOT_FOUND',
      'token.select refused IPC_INVALID_PAYLOAD',
      'ipc.request refused IPC_UNKNOWN_CHANNEL',
    ]);
  });

  it('refuses a 5 MB token label and records the refusal in a short entry the viewer can read', async () => {
    const router = openCore().router;
    const result = await router.dispatch('tokens.select', { serial: '1', label: 'x'.repeat(5_000_000) });
    expect(result).toMatchObject({ ok: false, error: { code: 'IPC_INVALID_PAYLOAD' } });
    expect(JSON.stringify(result).length).toBeLessThan(2_000);
    const last = [...core!.audit.log().entries()].at(-1)!;
    expect(last.entry.length).toBeLessThan(1_000);
    expect(AuditEntry.parse(JSON.parse(last.entry))).toMatchObject({
      action: 'token.select',
      object: null,
      result: { status: 'refused', code: 'IPC_INVALID_PAYLOAD' },
    });
    expect(await router.dispatch('audit.entry', { seq: last.seq })).toMatchObject({ ok: true });
  });

  it('records a null or missing payload on every channel as refused', async () => {
    const router = openCore().router;
    const before = core!.audit.log().size();
    for (const name of channelNames) {
      for (const payload of [null, undefined])
        expect(await router.dispatch(name, payload), name).toMatchObject({
          ok: false,
          error: { code: 'IPC_INVALID_PAYLOAD' },
        });
    }
    const recorded = [...core!.audit.log().entries()]
      .slice(before)
      .map((e) => (JSON.parse(e.entry) as { result: { code?: string } }).result.code);
    expect(recorded).toEqual(channelNames.flatMap(() => ['IPC_INVALID_PAYLOAD', 'IPC_INVALID_PAYLOAD']));
  });

  it('refuses to select the audit token itself', async () => {
    const router = openCore().router;
    const auditToken = core!.audit.auditToken()!;
    expect(await router.dispatch('tokens.select', auditToken)).toMatchObject({
      ok: false,
      error: { code: 'TOKEN_RESERVED' },
    });
    expect(core!.snapshot().selectedToken).toBeNull();
  });

  it('refuses to change the saved module while a command-line override is in force', async () => {
    const router = openCore('/usr/lib/softhsm/libsofthsm2.so').router;
    const [officer] = await enrolOfficers(router, ['Olive']);
    expect(
      await router.dispatch('settings.setModule', { source: 'built-in', officer: officer!.proof(1) }),
    ).toMatchObject({ ok: false, error: { code: 'MODULE_OVERRIDDEN' } });
  });
  it('signs a checkpoint on demand that covers the request for it', async () => {
    const router = openCore().router;
    const result = await router.dispatch('audit.checkpoint', {});
    expect(result).toMatchObject({ ok: true, value: { reason: 'on demand' } });
    const { treeSize, note } = (result as { value: { treeSize: number; note: string } }).value;
    expect(treeSize).toBe(core!.audit.log().size());
    expect(note).toContain('\n\n\u2014 custos.local/audit/');
    expect(actions().at(-1)).toBe('audit.checkpoint ok');
  });
});

describe('audit viewer requests', () => {
  it('pages through entries, filters by indexed fields, and shows one entry with its proofs checked', async () => {
    const router = openCore().router;
    for (let i = 0; i < 30; i++) await router.dispatch('tokens.status', {});
    await router.dispatch('audit.checkpoint', {});
    const all = (await router.dispatch('audit.page', { filter: {}, offset: 25, limit: 10 })) as {
      ok: true;
      value: { total: number; rows: { seq: number }[] };
    };
    expect(all.value.total).toBe(32); // the key's creation, 30 reads, the checkpoint request
    expect(all.value.rows.map((r) => r.seq)).toEqual([25, 26, 27, 28, 29, 30, 31]);
    const lists = (await router.dispatch('audit.page', {
      filter: { action: 'token.list' },
      offset: 0,
      limit: 500,
    })) as { ok: true; value: { total: number; rows: { action: string }[] } };
    expect(lists.value.total).toBe(30);
    expect(lists.value.rows.every((r) => r.action === 'token.list')).toBe(true);
    const prefix = (await router.dispatch('audit.page', { filter: { action: 'audit.' }, offset: 0, limit: 500 })) as {
      ok: true;
      value: { rows: { action: string }[] };
    };
    expect(prefix.value.rows.map((r) => r.action)).toContain('audit.key.create');
    const changes = (await router.dispatch('audit.page', { filter: { hideReads: true }, offset: 0, limit: 500 })) as {
      ok: true;
      value: { total: number; rows: { action: string }[] };
    };
    expect(changes.value.rows.map((r) => r.action)).toEqual(['audit.key.create', 'audit.checkpoint']);
    const detail = await router.dispatch('audit.entry', { seq: 3 });
    expect(detail).toMatchObject({
      ok: true,
      value: {
        seq: 3,
        signatureValid: true,
        inclusion: { verified: true, checkpoint: expect.stringContaining('\u2014 ') },
      },
    });
  });

  it('shows an entry as included only against a checkpoint whose signature verifies', async () => {
    const router = openCore().router;
    await router.dispatch('tokens.status', {});
    const genuine = ((await router.dispatch('audit.checkpoint', {})) as { value: { note: string } }).value.note;
    await router.dispatch('tokens.status', {});
    // A checkpoint row with a later size and a garbage signature (INSERT is allowed by the triggers).
    const forged = genuine.replace(/\n(\d+)\n/, (_m, n: string) => `\n${Number(n) + 1}\n`);
    core!.store.execute(
      sql`INSERT INTO audit_checkpoints (tree_size, note, reason, created_at) VALUES (${999}, ${forged}, ${'forged'}, ${'now'})`,
    );
    const detail = (await router.dispatch('audit.entry', { seq: 1 })) as {
      ok: true;
      value: { inclusion: { checkpoint: string | null; verified: boolean } };
    };
    expect(detail.value.inclusion.checkpoint).toBe(genuine);
    expect(detail.value.inclusion.verified).toBe(true);
  });

  it('verifies on request and pushes progress', async () => {
    const router = openCore().router;
    const progress: unknown[] = [];
    core!.events.subscribe((event, payload) => event === 'audit.verifyProgress' && progress.push(payload));
    expect(await router.dispatch('audit.verify', {})).toMatchObject({ ok: true, value: { ok: true, first: null } });
    expect(progress.length).toBeGreaterThan(0);
  });

  it('refuses a page request that asks for too much', async () => {
    expect(await openCore().router.dispatch('audit.page', { filter: {}, offset: 0, limit: 100000 })).toMatchObject({
      ok: false,
      error: { code: 'IPC_INVALID_PAYLOAD' },
    });
  });
});

describe('custodian requests', () => {
  it('never lets a passphrase into the audit log or the database, even when the request fails', async () => {
    const router = openCore().router;
    const passphrase = 'unmistakable-marker lantern orchard 42';
    const challenge = (await router.dispatch('custodians.enrolBegin', {
      name: 'Ada',
      roles: ['custodian', 'security-officer'],
      passphrase,
    })) as { ok: true; value: { enrolmentId: string; secret: string } };
    expect(challenge.ok).toBe(true);
    await router.dispatch('custodians.enrolConfirm', {
      enrolmentId: challenge.value.enrolmentId,
      code: totpCodeAt(challenge.value.secret, new Date()),
    });
    const [ada] = core!.custodians.list();
    await router.dispatch('custodians.check', {
      custodianId: ada!.id,
      passphrase: `${passphrase}-wrong`,
      code: '123456',
    });
    await router.dispatch('custodians.check', { custodianId: ada!.id, passphrase, code: 12 });
    const entries = [...core!.audit.log().entries()].map((e) => e.entry).join('\n');
    expect(entries).not.toContain('unmistakable');
    expect(entries).toMatch(/"action":"custodian\.factor\.verify".*"code":"PASSPHRASE_INCORRECT"/);
    expect(entries.match(/custodian\.factor\.verify/g)).toHaveLength(2); // the failure, and the malformed request
    core!.close();
    core = undefined;
    const db = readFileSync(join(dataDir, 'custos.db'));
    expect(db.includes(Buffer.from('unmistakable'))).toBe(false);
    expect(db.includes(Buffer.from(challenge.value.secret))).toBe(false);
  });
});

describe('key generation through the router', () => {
  it('binds a fresh CKA_ID into a key.generate proposal, so approvers approve exactly that key', async () => {
    let now = new Date();
    core = CustosCore.open({
      dataDir,
      version: 'test',
      production: true,
      log: silentLog,
      kdfCost: { N: 2 ** 14, r: 8, p: 1 },
      clock: () => now,
    });
    const router = core.router;
    const people: { id: string; passphrase: string; secret: string }[] = [];
    // Ada sets the installation up as its security officer, then approves Babbage's enrolment.
    for (const name of ['Ada', 'Babbage']) {
      const passphrase = `copper window orchard ${name.length} steps`;
      const officers = people
        .slice(0, 1)
        .map((o) => ({ custodianId: o.id, passphrase: o.passphrase, code: totpCodeAt(o.secret, now) }));
      const roles = people.length === 0 ? ['custodian', 'security-officer'] : ['custodian'];
      const c = (await router.dispatch('custodians.enrolBegin', {
        name,
        roles,
        passphrase,
        ...(officers.length ? { officers } : {}),
      })) as { value: { enrolmentId: string; secret: string } };
      const saved = (await router.dispatch('custodians.enrolConfirm', {
        enrolmentId: c.value.enrolmentId,
        code: totpCodeAt(c.value.secret, now),
      })) as { value: { id: string } };
      people.push({ id: saved.value.id, passphrase, secret: c.value.secret });
      now = new Date(now.getTime() + 30_000);
    }
    // Each step a TOTP period later, as in a room.
    const proof = (i: number) => ({
      custodianId: people[i]!.id,
      passphrase: people[i]!.passphrase,
      code: totpCodeAt(people[i]!.secret, now),
    });
    now = new Date(now.getTime() + 30_000);
    const custody = (await router.dispatch('custody.take', {
      token: { serial: '', label: '' },
      threshold: 2,
      holders: [proof(0), proof(1)],
      label: 'router-keys',
    })) as { ok: boolean; value: { id: string } };
    expect(custody.ok).toBe(true);
    const proposal = (await router.dispatch('proposals.create', {
      custodyId: custody.value.id,
      action: 'key.generate',
      params: { algorithm: 'EC-P256', label: 'k1', usage: 'sign', backupable: false, cryptoperiodDays: 730 },
      requester: ((now = new Date(now.getTime() + 30_000)), proof(0)),
    })) as { ok: boolean; value: { params: { ckaId: string } } };
    expect(proposal).toMatchObject({
      ok: true,
      value: { params: { algorithm: 'EC-P256', ckaId: expect.stringMatching(/^[0-9a-f]{32}$/) } },
    });
  });
});

describe('a security officer’s emergency action', () => {
  it('reaches only the keys of the token the officer names (and an export naming a token), refused and recorded otherwise', async () => {
    let now = new Date();
    core = CustosCore.open({
      dataDir,
      version: 'test',
      production: true,
      log: silentLog,
      kdfCost: { N: 2 ** 14, r: 8, p: 1 },
      clock: () => now,
    });
    const router = core.router;
    const people: { id: string; passphrase: string; secret: string }[] = [];
    // Olga sets the installation up; she approves each custodian's enrolment, a TOTP period apart.
    for (const [name, role] of [
      ['Olga', 'security-officer'],
      ['Ada', 'custodian'],
      ['Babbage', 'custodian'],
      ['Curie', 'custodian'],
    ] as const) {
      const passphrase = `copper window orchard ${name.length} steps ${people.length}`;
      const olga = people[0];
      now = new Date(now.getTime() + 30_000);
      const officers = olga
        ? { officers: [{ custodianId: olga.id, passphrase: olga.passphrase, code: totpCodeAt(olga.secret, now) }] }
        : {};
      const c = (await router.dispatch('custodians.enrolBegin', { name, roles: [role], passphrase, ...officers })) as {
        value: { enrolmentId: string; secret: string };
      };
      const saved = (await router.dispatch('custodians.enrolConfirm', {
        enrolmentId: c.value.enrolmentId,
        code: totpCodeAt(c.value.secret, now),
      })) as { value: { id: string } };
      people.push({ id: saved.value.id, passphrase, secret: c.value.secret });
    }
    // Indexes as the steps below use them: three holders, then the officer.
    people.push(people.shift()!);
    // Each step a TOTP period later, as in a room.
    const at = (i: number) => ({
      custodianId: people[i]!.id,
      passphrase: people[i]!.passphrase,
      code: totpCodeAt(people[i]!.secret, now),
    });
    const proof = (i: number) => ((now = new Date(now.getTime() + 30_000)), at(i));
    const take = async (label: string) => {
      const taken = await router.dispatch('custody.take', {
        token: { serial: '', label: '' },
        threshold: 2,
        holders: [proof(0), at(1), at(2)],
        label,
      });
      expect(taken).toMatchObject({ ok: true });
      return (taken as { value: { id: string; token: { serial: string; label: string } } }).value;
    };
    const a = await take('token-a');
    const b = await take('token-b');
    const params = { algorithm: 'EC-P256', label: 'b-key', usage: 'sign', backupable: false, cryptoperiodDays: 730 };
    const proposal = (await router.dispatch('proposals.create', {
      custodyId: b.id,
      action: 'key.generate',
      params,
      requester: proof(0),
    })) as { value: { id: string; shortFingerprint: string } };
    for (const i of [1, 2])
      await router.dispatch('proposals.approve', {
        proposalId: proposal.value.id,
        fingerprint: proposal.value.shortFingerprint,
        approver: proof(i),
      });
    const [key] = core.keys.list();
    expect(key).toMatchObject({ label: 'b-key', token: b.token });

    const wrong = await router.dispatch('keys.emergency', {
      keyId: key!.id,
      transition: 'compromise',
      reason: 'HSM backup tape lost in transit',
      token: a.token,
      officer: proof(3),
    });
    expect(wrong).toMatchObject({ ok: false, error: { code: 'KEY_WRONG_TOKEN' } });
    expect(core.keys.get(key!.id).state).toBe('pre-activation');
    const entries = [...core.audit.log().entries()].map(
      (e) => JSON.parse(e.entry) as { action: string; object: unknown; result: { code?: string } },
    );
    expect(entries.filter((e) => e.action === 'key.emergency').map((e) => e.result.code)).toEqual(['KEY_WRONG_TOKEN']);
    // A refusal sits in the history of the key it named; so does one of a backup set.
    expect(entries.find((e) => e.action === 'key.emergency')).toMatchObject({ object: { type: 'key', id: key!.id } });
    const noSet = 'ab'.repeat(16);
    expect(await router.dispatch('backups.exportFile', { setId: noSet })).toMatchObject({
      ok: false,
      error: { code: 'BACKUP_NOT_FOUND' },
    });
    expect([...core.audit.log().entries()].map((e) => JSON.parse(e.entry) as { action: string }).at(-1)).toMatchObject({
      action: 'backup.export',
      object: { type: 'backup', id: noSet },
      result: { code: 'BACKUP_NOT_FOUND' },
    });

    // A public-key export that names a token is refused unless the key lives in it.
    expect(await router.dispatch('keys.exportPublic', { keyId: key!.id, format: 'pem', token: a.token })).toMatchObject(
      { ok: false, error: { code: 'KEY_WRONG_TOKEN' } },
    );
    expect(await router.dispatch('keys.exportPublic', { keyId: key!.id, format: 'pem', token: b.token })).toMatchObject(
      { ok: true },
    );
    // Each export is recorded against the key, answered or refused, so the key's history finds it.
    const exports = () =>
      [...core!.audit.log().entries()]
        .map((e) => JSON.parse(e.entry) as { action: string; object: unknown; result: { status: string } })
        .filter((e) => e.action === 'key.export-public');
    expect(exports().map((e) => [e.object, e.result.status])).toEqual([
      [{ type: 'key', id: key!.id }, 'failed'],
      [{ type: 'key', id: key!.id }, 'ok'],
    ]);

    // Marking a key compromised without a reason is refused by the schema, before any factor is tried.
    const silent = { keyId: key!.id, transition: 'compromise', token: b.token, officer: proof(3) };
    expect(await router.dispatch('keys.emergency', silent)).toMatchObject({
      ok: false,
      error: { code: 'IPC_INVALID_PAYLOAD', message: expect.stringContaining('reason') },
    });
    const right = await router.dispatch('keys.emergency', {
      keyId: key!.id,
      transition: 'compromise',
      reason: 'HSM backup tape lost in transit',
      token: b.token,
      officer: proof(3),
    });
    expect(right).toMatchObject({
      ok: true,
      value: { state: 'compromised', compromiseReason: 'HSM backup tape lost in transit' },
    });
    // A transition the key's state rules out is refused before the officer's factors are tried: the code just used
    // would otherwise be refused as replayed, a failed attempt counted against the officer.
    expect(
      await router.dispatch('keys.emergency', {
        keyId: key!.id,
        transition: 'suspend',
        token: b.token,
        officer: at(3),
      }),
    ).toMatchObject({ ok: false, error: { code: 'KEY_STATE_FORBIDS' } });
    // Its revocation notice was signed and written under the data directory, and is listed like every report.
    const notice = (right as { value: { revocationNotice: { id: string; dir: string } } }).value.revocationNotice;
    expect(notice.dir).toBe(join(dataDir, 'reports', notice.id));
    expect(existsSync(join(notice.dir, 'report.pdf'))).toBe(true);
    expect(core.reports.list()).toContainEqual(expect.objectContaining({ id: notice.id, type: 'revocation-notice' }));

    // Its compromise impact report lists both public-key exports: whoever received one may still rely on the key.
    const impact = await router.dispatch('reports.create', { impact: { keyId: key!.id } });
    expect(impact).toMatchObject({ ok: true });
    const report = JSON.parse(
      readFileSync(join((impact as { value: { dir: string } }).value.dir, 'report.json'), 'utf8'),
    ) as { impact: { publicKeyExports: { seq: number; actor: string; result: string }[] } };
    expect(report.impact.publicKeyExports.map((e) => [e.actor, e.result])).toEqual([
      ['desktop', 'failed'],
      ['desktop', 'ok'],
    ]);
  });
});

describe('responsiveness during factor checks', () => {
  it('answers other requests while an approval derives its passphrase key (real scrypt at production cost)', async () => {
    let now = new Date();
    const people: { id: string; passphrase: string; secret: string }[] = [];
    // Ada sets the installation up at a low scrypt cost; Babbage, the approver, is enrolled at
    // DEFAULT_KDF, the cost a real approval pays (fewer production-cost derivations keep it quick).
    for (const name of ['Ada', 'Babbage']) {
      core?.close();
      core = CustosCore.open({
        dataDir,
        version: 'test',
        production: true,
        log: silentLog,
        clock: () => now,
        ...(name === 'Ada' ? { kdfCost: { N: 2 ** 14, r: 8, p: 1 } } : {}),
      });
      const router = core.router;
      const passphrase = `copper window orchard ${name.length} steps`;
      const officers = people
        .slice(0, 1)
        .map((o) => ({ custodianId: o.id, passphrase: o.passphrase, code: totpCodeAt(o.secret, now) }));
      const roles = people.length === 0 ? ['custodian', 'security-officer'] : ['custodian'];
      const c = (await router.dispatch('custodians.enrolBegin', {
        name,
        roles,
        passphrase,
        ...(officers.length ? { officers } : {}),
      })) as { value: { enrolmentId: string; secret: string } };
      const saved = (await router.dispatch('custodians.enrolConfirm', {
        enrolmentId: c.value.enrolmentId,
        code: totpCodeAt(c.value.secret, now),
      })) as { value: { id: string } };
      people.push({ id: saved.value.id, passphrase, secret: c.value.secret });
      now = new Date(now.getTime() + 30_000);
    }
    const router = core!.router;
    const proof = (i: number) => ({
      custodianId: people[i]!.id,
      passphrase: people[i]!.passphrase,
      code: totpCodeAt(people[i]!.secret, now),
    });
    now = new Date(now.getTime() + 30_000);
    const custody = (await router.dispatch('custody.take', {
      token: { serial: '', label: '' },
      threshold: 2,
      holders: [proof(0), proof(1)],
      label: 'responsive',
    })) as { value: { id: string } };
    now = new Date(now.getTime() + 30_000);
    const proposal = (await router.dispatch('proposals.create', {
      custodyId: custody.value.id,
      action: 'token.quorum-drill',
      params: {},
      requester: proof(0),
    })) as {
      ok: boolean;
      value: { id: string; shortFingerprint: string };
    };
    expect(proposal.ok).toBe(true);

    const started = performance.now();
    const approval = router
      .dispatch('proposals.approve', {
        proposalId: proposal.value.id,
        fingerprint: proposal.value.shortFingerprint,
        approver: proof(1),
      })
      .then((result) => ({ result, at: performance.now() }));
    // Asked a moment after the approval, as a second window or a status poll would.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const snapshot = await router.dispatch('app.snapshot', {});
    const answered = performance.now();
    const approved = await approval;

    expect(snapshot.ok).toBe(true);
    expect(approved.result).toMatchObject({
      ok: true,
      value: { approvals: [expect.objectContaining({ custodianId: people[1]!.id })] },
    });
    expect(answered).toBeLessThan(approved.at);
    // The snapshot did not wait for scrypt: a blocking KDF would delay even the timer above.
    expect(answered - started).toBeLessThan((approved.at - started) / 2);
  }, 180_000);
});

describe('the data directory’s permissions', () => {
  it('tightens a data directory others could read at start, and records it in the audit log', async () => {
    openCore();
    await core!.router.dispatch('tokens.status', {});
    core!.close();
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, 'custos.db'), 0o644);
    openCore();
    expect((statSync(dataDir).mode & 0o777).toString(8)).toBe('700');
    expect((statSync(join(dataDir, 'custos.db')).mode & 0o777).toString(8)).toBe('600');
    await core!.router.dispatch('tokens.status', {});
    const tightened = [...core!.audit.log().entries()]
      .map((e) => JSON.parse(e.entry) as { action: string; object: { id: string } | null })
      .filter((e) => e.action === 'system.file-mode.tightened');
    expect(tightened.map((e) => e.object?.id).sort()).toEqual(['.', 'custos.db']);
  });
});

describe('someone with the database file alone', () => {
  it('deletes a custodian’s row: the compliance findings name it (RECORD_TAMPERED) instead of failing', async () => {
    const clock = { now: new Date() };
    core = CustosCore.open({
      dataDir,
      version: 'test',
      production: true,
      log: silentLog,
      clock: () => clock.now,
      kdfCost: { N: 2 ** 14, r: 8, p: 1 },
    });
    const { people } = await enrolPeople(core.custodians, clock, [
      { name: 'Olive', roles: ['security-officer'], passphrase: 'long quiet harbour walk number 7' },
      { name: 'Ada', passphrase: 'long quiet harbour walk number 8' },
    ]);
    core.store.execute(sql`DELETE FROM custodians WHERE id = ${people[1]!.id}`);
    expect(() => core!.custodians.list()).toThrow(expect.objectContaining({ code: 'CUSTODIAN_TAMPERED' }));
    // Before: the rehearsal tracking read the custodian list outside its guard, so the whole view was refused.
    expect(core.compliance.view().findings).toContainEqual(
      expect.objectContaining({
        rule: 'RECORD_TAMPERED',
        subject: 'custodians',
        severity: 'critical',
        evidence: [expect.stringContaining(`custodian ${people[1]!.id} was deleted outside Custos`)],
      }),
    );
  });
});
