import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { canonicalJson } from '../canonical-json';
import { CustosCore } from '../custos-core';
import { silentLog } from '../log';
import { backupInstallation } from '../testing/backup-installation';
import { tempDataDirs } from '../testing/softhsm-fixture';
import { sql } from '../store/sql';
import { PRACTICE_SET_PROPOSAL } from './backup-service';
import { backupFileText, parseBackupFile, signManifest } from './manifest';
import { auditKeyFingerprint } from './manifest-authenticity';

/**
 * The app's import (backups.importFile): the file read is the one main's picker answers (a file
 * dialog in the app), never a path from the renderer; it goes through the same core call and the
 * same audit entries as `custos backup import`.
 */
const { newDir, cleanupAll } = tempDataDirs();
afterAll(cleanupAll);

// Installation 1 made a backup and exported its file; then it is gone.
let made: { setId: string; path: string; auditKey: string; origin: string };
beforeAll(async () => {
  const one = await backupInstallation(newDir());
  try {
    const setId = await one.backUp([await one.generate('EC-P256', 'sign', 'payments')]);
    const path = join(newDir(), `custos-backup-${setId}.json`);
    writeFileSync(path, one.backups.exportFile(setId));
    const audit = one.f.opened.audit;
    made = { setId, path, auditKey: auditKeyFingerprint(audit.noteKey()!.publicKey), origin: audit.origin };
  } finally {
    one.close();
  }
}, 120_000);

let core: CustosCore | undefined;
afterEach(() => {
  core?.close();
  core = undefined;
});
/** Installation 2, from nothing, whose "choose a file" answers `chosen`. */
function installationTwo(chosen: string | null) {
  const pickBackupFile = vi.fn(() => Promise.resolve(chosen));
  core = CustosCore.open({ dataDir: newDir(), version: 'test', production: true, log: silentLog, pickBackupFile });
  const imports = () =>
    [...core!.audit.log().entries()]
      .map(
        (e) =>
          JSON.parse(e.entry) as {
            action: string;
            object: { id: string } | null;
            result: { status: string; code?: string };
          },
      )
      .filter((e) => e.action === 'backup.import');
  return { router: core.router, pickBackupFile, imports, stored: () => core!.backups.list().map((b) => b.setId) };
}
// As people copy it from a printout: upper case, in pairs separated by colons.
const printed = (fingerprint: string) => fingerprint.toUpperCase().match(/../g)!.join(':');

describe('importing a backup file in the app', () => {
  it('reads the file the person chose in main, pinned to the audit key from the printout, and records who made it and how it was checked', async () => {
    const two = installationTwo(made.path);
    const result = await two.router.dispatch('backups.importFile', { expectAuditKey: printed(made.auditKey) });
    expect(result).toMatchObject({
      ok: true,
      value: {
        outcome: 'imported',
        authentication: 'pinned-audit-key',
        backup: { setId: made.setId, madeBy: { installation: made.origin, auditKey: made.auditKey, here: false } },
      },
    });
    expect(two.pickBackupFile).toHaveBeenCalledTimes(1);
    expect(two.stored()).toEqual([made.setId]);
    expect(two.imports()).toEqual([
      expect.objectContaining({
        object: { type: 'backup', id: `${made.setId} made-by ${made.auditKey} via pinned-audit-key` },
        result: { status: 'ok' },
      }),
    ]);
  });

  it('refuses another set under the id of one already here, whoever signed it: it never shadows the one here', async () => {
    const two = installationTwo(made.path);
    await two.router.dispatch('backups.importFile', { expectAuditKey: printed(made.auditKey) });
    const before = core!.backups.list();
    // The same set id, signed by an audit key (here installation 2's own), with other contents: a rehearsal's practice
    // set carries a real set's id, so a file of one must never take the real set's place.
    const { manifest } = parseBackupFile(readFileSync(made.path, 'utf8'));
    const own = { installation: core!.audit.origin, auditKey: core!.audit.noteKey()!.publicKey.toString('base64') };
    const other = signManifest(core!.audit, { ...manifest, ...own, createdAt: new Date(0).toISOString() });
    expect(() => core!.backups.importFile(backupFileText(other.text, other.signature))).toThrow(
      `This file holds a different backup set under the id of set ${made.setId.slice(0, 8)}`,
    );
    expect(core!.backups.list()).toEqual(before);
    expect(two.imports().at(-1)).toMatchObject({
      object: { id: made.setId },
      result: { status: 'refused', code: 'BACKUP_INVALID' },
    });
    // The file already here, imported again, is still the same set: nothing to refuse.
    expect(core!.backups.importFile(readFileSync(made.path, 'utf8'))).toMatchObject({ setId: made.setId });
  });

  it('refuses a rehearsal’s practice set, whose signed manifest says so, even under an id not held here', async () => {
    const two = installationTwo(made.path);
    const { manifest } = parseBackupFile(readFileSync(made.path, 'utf8'));
    const own = { installation: core!.audit.origin, auditKey: core!.audit.noteKey()!.publicKey.toString('base64') };
    const practice = signManifest(core!.audit, { ...manifest, ...own, proposal: PRACTICE_SET_PROPOSAL });
    expect(() => core!.backups.importFile(backupFileText(practice.text, practice.signature))).toThrow(
      'This file is a backup set made in a rehearsal',
    );
    expect(two.stored()).toEqual([]);
    expect(two.imports()).toEqual([expect.objectContaining({ result: { status: 'refused', code: 'BACKUP_INVALID' } })]);
  });

  it('refuses a manifest whose names break the label rule (a bidi override), when made and when read, recorded', async () => {
    const two = installationTwo(made.path);
    const { manifest } = parseBackupFile(readFileSync(made.path, 'utf8'));
    const own = { installation: core!.audit.origin, auditKey: core!.audit.noteKey()!.publicKey.toString('base64') };
    // Shown as “paymentsexe.jpg”: the approvers would read another name than the one signed.
    const keys = manifest.keys.map((k) => ({ ...k, label: 'payments\u202Egpj.exe' }));
    const forged = { ...manifest, ...own, setId: 'cd'.repeat(16), keys };
    const unreadable = expect.objectContaining({
      code: 'BACKUP_INVALID',
      remedy: expect.arrayContaining([expect.stringContaining('key label “paymentsU+202Egpj.exe”')]),
    });
    expect(() => signManifest(core!.audit, forged)).toThrow(unreadable);
    // Signed anyway (as a forger with this audit key would): the file is refused on import, and nothing is stored.
    const text = canonicalJson(forged);
    const file = backupFileText(text, core!.audit.signDocument(Buffer.from(text, 'utf8')));
    expect(() => core!.backups.importFile(file)).toThrow(unreadable);
    expect(two.stored()).toEqual([]);
    expect(two.imports()).toEqual([expect.objectContaining({ result: { status: 'refused', code: 'BACKUP_INVALID' } })]);
  });

  it('refuses keys dated, labelled or fingerprinted as Custos never records them, under a valid signature', async () => {
    const two = installationTwo(made.path);
    const { manifest } = parseBackupFile(readFileSync(made.path, 'utf8'));
    const own = { installation: core!.audit.origin, auditKey: core!.audit.noteKey()!.publicKey.toString('base64') };
    const key = manifest.keys[0]!;
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'der', type: 'spki' });
    // Each as a forger with an audit key writes it; before, each was stored, and a restore wrote it into the inventory.
    const forgeries: [Partial<typeof key>, string][] = [
      [{ createdAt: 'garbage' }, 'createdAt is not a UTC time'],
      [{ expiresAt: '2026-01-01T00:00:00+02:00' }, 'expiresAt is not a UTC time'],
      [{ expiresAt: '2000-01-01T00:00:00.000Z' }, `expiresAt is before its createdAt (${key.createdAt})`],
      [{ cryptoperiodDays: 0 }, 'cryptoperiodDays is not a whole number of days from 1 to 3650'],
      [{ cryptoperiodDays: 36500 }, 'cryptoperiodDays is not a whole number of days from 1 to 3650'],
      [{ label: 'p'.repeat(65) }, 'label is longer than 64 characters'],
      [{ fingerprint: 'ab'.repeat(32) }, 'fingerprint is not the SHA-256 of its public key'],
      [{ publicKey: rsa.toString('base64') }, 'publicKey is RSA-2048, not EC-P256'],
      [{ publicKey: Buffer.from('not a key').toString('base64') }, 'publicKey is not a public key'],
      [{ kcv: 'ABCDEF' }, 'kcv is given for an EC-P256 key pair, which has none'],
    ];
    for (const [i, [change, says]] of forgeries.entries()) {
      const setId = i.toString(16).padStart(2, '0').repeat(16);
      const forged = { ...manifest, ...own, setId, keys: [{ ...key, ...change }] };
      // Not made so here either.
      expect(() => signManifest(core!.audit, forged), says).toThrow(says);
      const text = canonicalJson(forged);
      const file = backupFileText(text, core!.audit.signDocument(Buffer.from(text, 'utf8')));
      expect(() => core!.backups.importFile(file), says).toThrow(
        expect.objectContaining({ code: 'BACKUP_INVALID', message: expect.stringContaining(says) }),
      );
    }
    expect(two.stored()).toEqual([]);
    expect(two.imports().map((e) => e.result)).toEqual(
      Array(forgeries.length).fill({ status: 'refused', code: 'BACKUP_INVALID' }),
    );
  });

  it('an imported set is not verified here, whatever a database writer sets', async () => {
    installationTwo(made.path);
    core!.backups.importFile(readFileSync(made.path, 'utf8'));
    core!.store.execute(
      sql`UPDATE backups SET verified_at = ${'2026-01-01T00:00:00.000Z'} WHERE set_id = ${made.setId}`,
    );
    expect(core!.backups.list()[0]).toMatchObject({ setId: made.setId, verifiedAt: null });
  });

  it('a set imported here and then deleted from the database is missed: the copies of any key are refused', async () => {
    installationTwo(made.path);
    core!.backups.importFile(readFileSync(made.path, 'utf8'));
    core!.store.execute(sql`DELETE FROM backups WHERE set_id = ${made.setId}`);
    expect(() => core!.backups.copiesOf('00'.repeat(16))).toThrow(
      expect.objectContaining({ code: 'BACKUP_INVALID', message: expect.stringContaining(made.setId.slice(0, 8)) }),
    );
  });

  it('without a fingerprint, stores it pending: the cards will check it', async () => {
    const two = installationTwo(made.path);
    expect(await two.router.dispatch('backups.importFile', {})).toMatchObject({
      ok: true,
      value: { outcome: 'imported', authentication: 'kek-mac-pending' },
    });
  });

  it('never reads a path the renderer names: refused before the picker opens, nothing stored, the refusal recorded', async () => {
    const two = installationTwo(made.path);
    for (const request of [
      { path: made.path },
      { file: made.path, expectAuditKey: made.auditKey },
      { expectAuditKey: made.path },
    ]) {
      expect(await two.router.dispatch('backups.importFile', request)).toMatchObject({
        ok: false,
        error: { code: 'IPC_INVALID_PAYLOAD' },
      });
    }
    expect(two.pickBackupFile).not.toHaveBeenCalled();
    expect(two.stored()).toEqual([]);
    expect(two.imports().map((e) => e.result)).toEqual(
      Array(3).fill({ status: 'refused', code: 'IPC_INVALID_PAYLOAD' }),
    );
  });

  it('changes nothing when the person cancels the dialog', async () => {
    const two = installationTwo(null);
    expect(await two.router.dispatch('backups.importFile', { expectAuditKey: made.auditKey })).toEqual({
      ok: true,
      value: { outcome: 'cancelled' },
    });
    expect(two.stored()).toEqual([]);
    expect(two.imports()).toEqual([]);
  });

  it('refuses a file signed by another audit key than the one entered, records the refusal once, and stores nothing', async () => {
    const two = installationTwo(made.path);
    const other = made.auditKey.replace(/^./, made.auditKey.startsWith('0') ? '1' : '0');
    expect(await two.router.dispatch('backups.importFile', { expectAuditKey: other })).toMatchObject({
      ok: false,
      error: { code: 'BACKUP_AUDIT_KEY_MISMATCH' },
    });
    expect(two.stored()).toEqual([]);
    expect(two.imports().map((e) => e.result)).toEqual([{ status: 'refused', code: 'BACKUP_AUDIT_KEY_MISMATCH' }]);
  });

  it('says which file is missing when the chosen one is gone, recorded once', async () => {
    const two = installationTwo(join(made.path, '..', 'moved-away.json'));
    expect(await two.router.dispatch('backups.importFile', {})).toMatchObject({
      ok: false,
      error: { code: 'FILE_NOT_FOUND', message: expect.stringContaining('moved-away.json') },
    });
    expect(two.imports().map((e) => e.result)).toEqual([{ status: 'refused', code: 'FILE_NOT_FOUND' }]);
  });
});
