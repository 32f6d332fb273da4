import { execFileSync } from 'node:child_process';
import {
  mkdtempSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CustosCore } from '../custos-core';
import { softHsmPaths } from '../hsm/softhsm';
import { silentLog } from '../log';
import { initSoftHsmToken } from '../testing/softhsm-fixture';
import { placeRecordPath } from './placement';

let parent: string;
let core: CustosCore | undefined;
beforeEach(() => (parent = mkdtempSync(join(tmpdir(), 'custos-place-'))));
afterEach(() => {
  core?.close();
  core = undefined;
  rmSync(parent, { recursive: true, force: true });
});

function openCore(dataDir: string): CustosCore {
  core?.close();
  core = CustosCore.open({ dataDir, version: 'test', production: true, log: silentLog });
  return core;
}

function closeCore(): void {
  core?.close();
  core = undefined;
}

/** A data directory with a rehearsal token selected and a few entries, closed. */
async function installation(dataDir: string) {
  const token = initSoftHsmToken(dataDir, 'rehearsal');
  const opened = openCore(dataDir);
  expect(await opened.router.dispatch('tokens.select', token)).toMatchObject({ ok: true });
  const origin = opened.audit.origin;
  const keyId = opened.audit.status().state === 'ready' ? (opened.audit.status() as { keyId: string }).keyId : null;
  closeCore();
  return { token, origin, keyId };
}

function actions(opened: CustosCore): { action: string; object: unknown }[] {
  return [...opened.audit.log().entries()].map((e) => JSON.parse(e.entry) as { action: string; object: unknown });
}

const from = (id: string) => ({ type: 'data-dir', id });
const tokendirLine = (dataDir: string) => `directories.tokendir = ${softHsmPaths(dataDir).tokenDir}\n`;
const config = (dataDir: string) => readFileSync(softHsmPaths(dataDir).configPath, 'utf8');
const entry = (action: string, was: string) => expect.objectContaining({ action, object: from(was) });

describe('a data directory that is moved', () => {
  it('keeps its audit token, its rehearsal tokens and its log, and records the move', async () => {
    const first = join(parent, 'data');
    const { token, origin, keyId } = await installation(first);
    const moved = join(parent, 'data2');
    renameSync(first, moved);

    const opened = openCore(moved);
    expect(opened.audit.status()).toMatchObject({ state: 'ready', origin, keyId });
    expect(config(moved)).toContain(tokendirLine(moved));
    expect(await opened.verifyAudit()).toMatchObject({ ok: true });
    expect(await opened.router.dispatch('tokens.mechanisms', token)).toMatchObject({ ok: true });
    expect(await opened.router.dispatch('audit.checkpoint', {})).toMatchObject({ ok: true });
    expect(actions(opened)).toContainEqual(entry('installation.move', first));
    expect(JSON.parse(readFileSync(placeRecordPath(moved), 'utf8'))).toMatchObject({ location: moved });
    expect(statSync(placeRecordPath(moved)).mode & 0o777).toBe(0o600);

    // The next start is at home again: the move is recorded once.
    const again = openCore(moved);
    expect(actions(again).filter((e) => e.action === 'installation.move')).toHaveLength(1);
    expect(await again.verifyAudit()).toMatchObject({ ok: true });
  });
});

describe('a data directory that is copied while the original stays', () => {
  it('refuses the copy with DATA_DIR_COPIED and records nothing, while the original keeps working', async () => {
    const original = join(parent, 'data');
    const { token } = await installation(original);
    const copy = join(parent, 'copy');
    execFileSync('cp', ['-a', original, copy]);
    const originalEntries = (openCore(original), actions(core!).length);
    closeCore();

    const opened = openCore(copy);
    expect(opened.audit.status()).toMatchObject({ state: 'unavailable', code: 'DATA_DIR_COPIED' });
    const status = opened.audit.status() as { message: string; remedy: string[] };
    expect(status.message).toContain(`still at ${original}`);
    expect(status.remedy.join('\n')).toContain(`custos --data-dir ${copy} data-dir adopt`);
    const refused = await opened.router.dispatch('tokens.select', token);
    expect(refused).toMatchObject({ ok: false, error: { code: 'DATA_DIR_COPIED' } });
    // The copy's SoftHSM2 configuration now names its own token files, never the original's.
    expect(config(copy)).toContain(tokendirLine(copy));
    closeCore();

    const back = openCore(original);
    expect(back.audit.status()).toMatchObject({ state: 'ready' });
    expect(actions(back)).toHaveLength(originalEntries);
    expect(await back.verifyAudit()).toMatchObject({ ok: true });
    closeCore();
    // Refused again at the next start: nothing about the copy changed.
    expect(openCore(copy).audit.status()).toMatchObject({ state: 'unavailable', code: 'DATA_DIR_COPIED' });
  });

  it('is caught for a copy made before Custos kept a place record: its configuration names the original', async () => {
    const original = join(parent, 'data');
    await installation(original);
    rmSync(placeRecordPath(original));
    const copy = join(parent, 'copy');
    execFileSync('cp', ['-a', original, copy]);
    expect(openCore(copy).audit.status()).toMatchObject({ state: 'unavailable', code: 'DATA_DIR_COPIED' });
    closeCore();
    // The configuration was rewritten for the copy; the refusal still holds at the next start.
    expect(openCore(copy).audit.status()).toMatchObject({ state: 'unavailable', code: 'DATA_DIR_COPIED' });
  });

  it('works once the original is gone: that was a move', async () => {
    const original = join(parent, 'data');
    await installation(original);
    const copy = join(parent, 'copy');
    execFileSync('cp', ['-a', original, copy]);
    rmSync(original, { recursive: true });
    const opened = openCore(copy);
    expect(opened.audit.status()).toMatchObject({ state: 'ready' });
    expect(actions(opened)).toContainEqual(entry('installation.move', original));
  });

  it('opens, with the decision in its log, once an operator adopts the copy', async () => {
    const original = join(parent, 'data');
    const { token, keyId } = await installation(original);
    const copy = join(parent, 'copy');
    execFileSync('cp', ['-a', original, copy]);
    const opened = openCore(copy);
    expect(opened.audit.adoptCopy()).toEqual({ from: original, to: copy });
    expect(opened.audit.status()).toMatchObject({ state: 'ready', keyId });
    expect(actions(opened)).toContainEqual(entry('installation.adopt-copy', original));
    expect(await opened.router.dispatch('tokens.select', token)).toMatchObject({ ok: true });
    expect(await opened.verifyAudit()).toMatchObject({ ok: true });
    expect(opened.audit.adoptCopy()).toBeNull();
    const again = openCore(copy);
    expect(again.audit.status()).toMatchObject({ state: 'ready' });
    expect(actions(again).filter((e) => e.action === 'installation.adopt-copy')).toHaveLength(1);
  });
});

describe('adopting a copy asks for no factors (README, Data directory)', () => {
  it('because the copy’s holder gets past the refusal by editing installation.json, with no adoption at all', async () => {
    const original = join(parent, 'data');
    const { keyId } = await installation(original);
    const copy = join(parent, 'copy');
    execFileSync('cp', ['-a', original, copy]);
    const place = JSON.parse(readFileSync(placeRecordPath(copy), 'utf8')) as Record<string, unknown>;
    writeFileSync(placeRecordPath(copy), JSON.stringify({ ...place, location: realpathSync(copy) }));
    const opened = openCore(copy);
    expect(opened.audit.status()).toMatchObject({ state: 'ready', keyId });
    expect(actions(opened).map((e) => e.action)).not.toContain('installation.adopt-copy');
  });

  it('and a page adopting one through app.adoptCopy gains only an open log that records it', async () => {
    const original = join(parent, 'data');
    await installation(original);
    const copy = join(parent, 'copy');
    execFileSync('cp', ['-a', original, copy]);
    const opened = openCore(copy);
    expect(await opened.router.dispatch('app.adoptCopy', {})).toMatchObject({ ok: true, value: { adopted: true } });
    expect(actions(opened)).toContainEqual(entry('installation.adopt-copy', original));
    // Everything past that still asks for its quorum: nobody is enrolled, so nothing can be approved.
    expect(opened.custodians.list()).toEqual([]);
  });
});

describe('a data directory moved with a link left at its old path', () => {
  it('is a move, recorded, not a copy of itself (its old path reaches the same directory)', async () => {
    const first = join(parent, 'data');
    const { origin } = await installation(first);
    const moved = join(parent, 'disk2');
    renameSync(first, moved);
    symlinkSync(moved, first);

    const opened = openCore(moved);
    expect(opened.audit.status()).toMatchObject({ state: 'ready', origin });
    expect(actions(opened)).toContainEqual(entry('installation.move', first));
    // Started through the link, it is the same place.
    const again = openCore(first);
    expect(again.audit.status()).toMatchObject({ state: 'ready', origin });
    expect(actions(again).filter((e) => e.action === 'installation.move')).toHaveLength(1);
  });
});
