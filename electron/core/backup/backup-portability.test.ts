import { generateKeyPairSync, sign } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson } from '../canonical-json';
import { sql } from '../store/sql';
import { backupInstallation, type BackupInstallation } from '../testing/backup-installation';
import { tempDataDirs } from '../testing/softhsm-fixture';
import { auditKeyFingerprint } from './manifest-authenticity';

/**
 * The workstation that made a backup is lost: a new installation (its own data directory, audit
 * token, custodians and custody token) imports the file and restores it with two of three cards.
 */
type File = {
  format: string;
  manifest: Record<string, unknown> & { keys: Record<string, unknown>[] };
  signature: string;
};

const { newDir, cleanupAll } = tempDataDirs();
afterAll(cleanupAll);

// Installation 1, made once: an EC and an AES key, backed up 2 of 3, the file exported, then gone.
let made: {
  setId: string;
  file: string;
  cards: string[];
  ec: string;
  aes: string;
  kcv: string | null;
  pem: string;
  origin: string;
  auditKey: string;
};
beforeAll(async () => {
  const one = await backupInstallation(newDir());
  try {
    const ec = await one.generate('EC-P256', 'sign', 'payments');
    const aes = await one.generate('AES-256', 'encrypt', 'vault-aes');
    const setId = await one.backUp([ec, aes]);
    const audit = one.f.opened.audit;
    made = {
      setId,
      ec,
      aes,
      file: one.backups.exportFile(setId),
      cards: one.backups.printableCards(setId).map((c) => c.text),
      kcv: one.inventory.get(aes).kcv,
      pem: one.inventory.exportPublic(ec, 'pem'),
      origin: audit.origin,
      auditKey: auditKeyFingerprint(audit.noteKey()!.publicKey),
    };
  } finally {
    one.close();
  }
}, 120_000);

let two: BackupInstallation;
beforeEach(async () => {
  two = await backupInstallation(newDir());
}, 60_000);
afterEach(() => two.close());

const entries = () =>
  [...two.f.opened.audit.log().entries()].map(
    (e) =>
      JSON.parse(e.entry) as {
        action: string;
        object: { id: string } | null;
        result: { status: string; code?: string };
      },
  );
/**
 * Restores on installation 2 into a fresh custody token with cards 1 and 3; returns the outcome and the token's object
 * counts.
 */
async function restoreOnTwo(setId: string) {
  const target = await two.freshCustody('new-vault');
  const before = await two.objectsIn(target);
  const restore = await two.approved(target, 'key.restore', { setId });
  await two.backups.enterShare(restore.id, made.cards[0]!);
  const done = await two.backups.enterShare(restore.id, made.cards[2]!);
  return { done, before, after: await two.objectsIn(target) };
}
/** What someone with the file alone can do: change it, and sign it again with an audit key of their own. */
function resigned(change: (manifest: File['manifest']) => void): string {
  const file = JSON.parse(made.file) as File;
  change(file.manifest);
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  file.manifest.auditKey = publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64');
  file.signature = sign(null, Buffer.from(canonicalJson(file.manifest)), privateKey).toString('base64');
  return JSON.stringify(file);
}

describe('a backup restored on a new installation', () => {
  it('is imported pending, then restored once the cards’ KEK verifies its MAC: the same keys, recorded with who made it', async () => {
    const imported = two.backups.importFile(made.file);
    expect(imported).toMatchObject({
      setId: made.setId,
      authentication: 'kek-mac-pending',
      madeBy: { installation: made.origin, auditKey: made.auditKey, here: false },
    });

    const { done, before, after } = await restoreOnTwo(made.setId);
    expect(done).toMatchObject({
      state: 'executed',
      outcome: { result: { authentication: 'kek-mac-verified', madeBy: { auditKey: made.auditKey, here: false } } },
    });
    // The AES check value measured in installation 2's token is installation 1's; the public key is the same.
    const keys = (done.outcome as { result: { keys: { keyId: string; kcv: string | null }[] } }).result.keys;
    expect(keys.find((k) => k.keyId === made.aes)!.kcv).toBe(made.kcv);
    expect(two.inventory.exportPublic(made.ec, 'pem')).toBe(made.pem);
    expect(two.inventory.get(made.ec).token.label).toBe('new-vault');
    expect(after).toBe(before + 3);

    const log = entries();
    expect(log.find((e) => e.action === 'backup.import')!.object!.id).toBe(
      `${made.setId} made-by ${made.auditKey} via kek-mac-pending`,
    );
    const check = log.find((e) => e.action === 'backup.authenticate')!;
    expect(check).toMatchObject({
      object: { id: `${made.setId} made-by ${made.auditKey} via kek-mac-verified` },
      result: { status: 'ok' },
    });
    // Checked before anything was unwrapped: the MAC entry comes before the restore's outcome.
    expect(log.indexOf(check)).toBeLessThan(
      log.findIndex((e) => e.action === 'proposal.execute' && e.object?.id === done.id),
    );
  });

  it('accepts a pinned audit key of the installation that made it, and refuses another one before importing anything', async () => {
    const stranger = 'ab'.repeat(32);
    expect(() => two.backups.importFile(made.file, stranger)).toThrow(
      expect.objectContaining({ code: 'BACKUP_AUDIT_KEY_MISMATCH', message: expect.stringContaining(made.auditKey) }),
    );
    expect(two.backups.list()).toEqual([]);
    // As printed: upper case, in pairs with colons.
    const printed = made.auditKey.toUpperCase().match(/../g)!.join(':');
    expect(two.backups.importFile(made.file, printed)).toMatchObject({ authentication: 'pinned-audit-key' });
    expect(
      entries()
        .filter((e) => e.action === 'backup.import')
        .map((e) => e.object?.id ?? e.result.code),
    ).toEqual(['BACKUP_AUDIT_KEY_MISMATCH', `${made.setId} made-by ${made.auditKey} via pinned-audit-key`]);
  });

  it('refuses a file changed after it was made before importing anything', async () => {
    const file = JSON.parse(made.file) as File;
    const blob = Buffer.from(String(file.manifest.keys[0]!.wrapped), 'base64');
    blob[7]! ^= 1;
    file.manifest.keys[0]!.wrapped = blob.toString('base64');
    expect(() => two.backups.importFile(JSON.stringify(file))).toThrow(
      expect.objectContaining({
        code: 'BACKUP_INVALID',
        message: expect.stringContaining('changed after it was made'),
      }),
    );
    expect(() => two.backups.importFile(made.file.replace('"threshold": 2', '"threshold": 3'))).toThrow(
      expect.objectContaining({ code: 'BACKUP_INVALID' }),
    );
    // Re-signed by someone else but still naming installation 1's key: the pin catches it at once.
    expect(() =>
      two.backups.importFile(
        resigned(() => {}),
        made.auditKey,
      ),
    ).toThrow(expect.objectContaining({ code: 'BACKUP_AUDIT_KEY_MISMATCH' }));
    expect(two.backups.list()).toEqual([]);
    expect(
      entries()
        .filter((e) => e.action === 'backup.import')
        .map((e) => e.result.code),
    ).toEqual(['BACKUP_INVALID', 'BACKUP_INVALID', 'BACKUP_AUDIT_KEY_MISMATCH']);
  });

  it('unwraps nothing when the KEK the cards rebuild does not verify the MAC of a file changed and re-signed', async () => {
    // The attacker activates a key on paper, skipping the quorum decision that activation needs.
    const forged = resigned((m) => {
      m.keys[0]!.state = 'active';
    });
    expect(two.backups.importFile(forged)).toMatchObject({
      authentication: 'kek-mac-pending',
      madeBy: { here: false },
    });

    const { done, before, after } = await restoreOnTwo(made.setId);
    expect(done).toMatchObject({
      state: 'failed',
      outcome: { code: 'BACKUP_MAC_MISMATCH', message: expect.stringContaining('changed after it was made') },
    });
    expect(after).toBe(before);
    expect(two.inventory.list()).toEqual([]);
    const restoreEntries = entries().filter(
      (e) => e.action === 'backup.authenticate' || (e.action === 'proposal.execute' && e.object?.id === done.id),
    );
    expect(restoreEntries.map((e) => [e.action, e.result.code])).toEqual([
      ['backup.authenticate', 'BACKUP_MAC_MISMATCH'],
      ['proposal.execute', 'BACKUP_MAC_MISMATCH'],
    ]);
  });
});

describe('a format-1 backup (signed only by the audit key that made it)', () => {
  it('still restores on the installation that made it, and is refused on another with BACKUP_NOT_PORTABLE', async () => {
    // Installation 2 of this file's beforeEach plays the one that made it.
    const key = await two.generate('EC-P256');
    const setId = await two.backUp([key]);
    const cards = two.backups.printableCards(setId).map((c) => c.text);
    // As an earlier Custos stored it: no audit key named, no MAC, signed by the audit key.
    const {
      auditKey: _key,
      mac: _mac,
      ...rest
    } = JSON.parse(two.backups.exportFile(setId)).manifest as Record<string, unknown>;
    const v1 = canonicalJson({ ...rest, v: 1 });
    const signature = two.f.opened.audit.signDocument(Buffer.from(v1));
    two.f.opened.store.execute(
      sql`UPDATE backups SET manifest = ${v1}, signature = ${signature} WHERE set_id = ${setId}`,
    );
    const file = two.backups.exportFile(setId);
    expect(JSON.parse(file)).toMatchObject({ manifest: { v: 1 } });
    expect(two.backups.importFile(file)).toMatchObject({
      authentication: 'own-audit-key',
      madeBy: { auditKey: null, here: true },
    });

    const target = await two.freshCustody('fresh');
    const restore = await two.approved(target, 'key.restore', { setId });
    await two.backups.enterShare(restore.id, cards[1]!);
    expect(await two.backups.enterShare(restore.id, cards[2]!)).toMatchObject({
      state: 'executed',
      outcome: { result: { authentication: 'own-audit-key' } },
    });
    two.close();

    two = await backupInstallation(newDir());
    expect(() => two.backups.importFile(file)).toThrow(
      expect.objectContaining({
        code: 'BACKUP_NOT_PORTABLE',
        message: expect.stringMatching(/made by another installation .* format 1.*Nothing was imported/),
      }),
    );
    expect(two.backups.list()).toEqual([]);
  }, 120_000);
});
