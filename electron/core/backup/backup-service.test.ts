import { execFileSync } from 'node:child_process';
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from '../canonical-json';
import type { HeldSecrets } from '../held-secrets/held-secrets';
import { CKA_DESTROYABLE } from '../keys/key-attributes';
import type { KeyInventory } from '../keys/key-inventory';
import { QuorumService } from '../quorum/quorum-service';
import { DATABASE_FILE } from '../store/database';
import { sql } from '../store/sql';
import { backupInstallation, type BackupInstallation } from '../testing/backup-installation';
import { plantAheadOfKey, plantPublicKey } from '../testing/planted-objects';
import { tempDataDir } from '../testing/softhsm-fixture';
import type { BackupService } from './backup-service';
import { findObjects } from '../hsm/find-objects';
import { refusalName } from '../hsm/pkcs11-errors';
import { chooseWrapMechanism, createTrustedKek, findKek, importTrustedKek } from './key-wrap';
import { decodeCard, encodeCard, encodeCardV1 } from './share-card';
import { backupFileText, type ManifestV2 } from './manifest';
import { auditKeyFingerprint, manifestMac } from './manifest-authenticity';
import { combine } from 'shamir-secret-sharing';
import { totpCodeAt } from '../custodians/totp';

let dataDir: string;
let cleanup: () => void;
let bed: BackupInstallation;
let f: BackupInstallation['f'];
let quorum: QuorumService;
let backups: BackupService;
let inventory: KeyInventory;
let source: string;

beforeEach(async () => {
  ({ dataDir, cleanup } = tempDataDir());
  bed = await backupInstallation(dataDir);
  ({ f, quorum, backups, inventory, source } = bed);
});
afterEach(() => {
  bed.close();
  cleanup();
});

const id = (who: number) => f.enrolled[who]!.id;
const approved = (...args: Parameters<BackupInstallation['approved']>) => bed.approved(...args);
async function generate(algorithm: string, usage = 'sign', backupable = true): Promise<string> {
  const done = await approved(source, 'key.generate', {
    algorithm,
    label: `${algorithm} ${usage}`,
    usage,
    backupable,
    cryptoperiodDays: 365,
    ckaId: randomBytes(16).toString('hex'),
  });
  expect(done.state).toBe('executed');
  return (done.outcome as { result: { keyId: string } }).result.keyId;
}
async function backUp(keyIds: string[], holders = [0, 1, 2], threshold = 2) {
  const done = await approved(source, 'key.backup', { keyIds, holders: holders.map(id), threshold });
  expect(done).toMatchObject({ state: 'executed', outcome: { status: 'ok' } });
  return (done.outcome as { result: { setId: string } }).result.setId;
}
const freshCustody = (label: string) => bed.freshCustody(label);
/** A manifest as a forger makes it: naming an Ed25519 audit key of their own, and signed by it. */
function selfSigned(
  manifest: Record<string, unknown>,
  { publicKey, privateKey } = generateKeyPairSync('ed25519'),
): { text: string; signature: Buffer } {
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  const text = canonicalJson({ ...manifest, auditKey: raw.toString('base64') });
  return { text, signature: sign(null, Buffer.from(text), privateKey) };
}
const CKM_AES_CMAC = 0x108a;
const keyOf = (manifest: Record<string, unknown>) => (manifest.keys as Record<string, unknown>[])[0]!;
const auditActions = () =>
  [...f.opened.audit.log().entries()].map(
    (e) => JSON.parse(e.entry) as { action: string; result: { status: string; code?: string } },
  );

/**
 * As a forger with cards of their own stores a set: the manifest MACed under the KEK the cards rebuild (then
 * overwritten), signed by the audit key (its bytes, past the checks signManifest makes), and put in place of the
 * set's own.
 */
function storeForged(setId: string, kek: Buffer, manifest: ManifestV2): void {
  const { mac: _, ...rest } = manifest;
  const text = canonicalJson({ ...rest, mac: manifestMac(kek, rest) });
  const signature = f.opened.audit.signDocument(Buffer.from(text, 'utf8'));
  kek.fill(0);
  f.opened.store.execute(sql`UPDATE backups SET manifest = ${text}, signature = ${signature} WHERE set_id = ${setId}`);
}

describe('backup and restore on SoftHSM2', () => {
  it('restores keys with exactly their least-privilege attributes, read back from the target token', async () => {
    const signing = await generate('RSA-3072');
    const sealing = await generate('AES-256', 'encrypt');
    const setId = await backUp([signing, sealing]);
    const cards = backups.printableCards(setId);
    const target = await freshCustody('fresh');
    const restore = await approved(target, 'key.restore', { setId });
    await backups.enterShare(restore.id, cards[0]!.text);
    expect(await backups.enterShare(restore.id, cards[1]!.text)).toMatchObject({ state: 'executed' });
    const read = async (keyId: string) =>
      ((await approved(target, 'test.read-attributes', { keyId })).outcome as { result: unknown }).result;
    expect(await read(signing)).toEqual({ private: ['sign'], public: ['verify'] });
    expect(await read(sealing)).toEqual({ secret: ['encrypt', 'decrypt'] });
  });

  it('restores an EC wrapping key with the key agreement it was generated with (its private half derives)', async () => {
    const wrapping = await generate('EC-P256', 'wrap');
    const read = async (custodyId: string) =>
      ((await approved(custodyId, 'test.read-attributes', { keyId: wrapping })).outcome as { result: unknown }).result;
    const generated = await read(source);
    expect(generated).toEqual({ private: ['unwrap', 'derive'], public: ['wrap'] });
    const setId = await backUp([wrapping]);
    const cards = backups.printableCards(setId);
    const target = await freshCustody('fresh');
    const restore = await approved(target, 'key.restore', { setId });
    await backups.enterShare(restore.id, cards[0]!.text);
    expect(await backups.enterShare(restore.id, cards[1]!.text)).toMatchObject({ state: 'executed' });
    expect(await read(target)).toEqual(generated);
  });

  it('round-trips AES-256, RSA-3072/4096 and EC P-256/P-384 keys into a fresh token (Ed25519: see below): same check value, and signatures verify against the exported PEM', async () => {
    const aes = await generate('AES-256', 'encrypt');
    const aesWrap = await generate('AES-256', 'wrap');
    const rsa = await generate('RSA-3072');
    const rsa4096 = await generate('RSA-4096');
    const p256 = await generate('EC-P256');
    const p384 = await generate('EC-P384');
    const setId = await backUp([aes, aesWrap, rsa, rsa4096, p256, p384]);
    const cards = backups.printableCards(setId);
    expect(cards.map((c) => [c.index, c.holder.name])).toEqual([
      [1, 'Ada'],
      [2, 'Babbage'],
      [3, 'Curie'],
    ]);
    expect(backups.list()[0]).toMatchObject({
      setId,
      threshold: 2,
      verifiedAt: expect.any(String),
      mechanism: 'CKM_AES_KEY_WRAP_PAD',
    });
    backups.forgetCards(setId);
    const kcv = inventory.get(aes).kcv;

    const target = await freshCustody('fresh');
    const restore = await approved(target, 'key.restore', { setId });
    expect(restore).toMatchObject({
      state: 'open',
      waitingFor: ['2 more share cards of backup set ' + setId.slice(0, 8)],
    });
    await backups.enterShare(restore.id, cards[0]!.text);
    const done = await backups.enterShare(restore.id, cards[2]!.qr);
    expect(done).toMatchObject({
      state: 'executed',
      outcome: { status: 'ok', result: { keys: expect.arrayContaining([expect.objectContaining({ keyId: p256 })]) } },
    });

    // The restored keys live in the fresh token now, and they are the same keys.
    const fresh = f.custody.record(target).token;
    expect(inventory.get(p256).token).toEqual(fresh);
    expect(inventory.get(aes).kcv).toBe(kcv);
    for (const keyId of [p256, p384, rsa, rsa4096]) {
      // Restored in the state it had (pre-activation): only an active key signs.
      await approved(target, 'key.activate', { keyId });
      const signed = await approved(target, 'key.test-signature', { keyId, challenge: `restored ${keyId}` });
      const { signature } = (signed.outcome as { result: { signature: string } }).result;
      const pem = inventory.exportPublic(keyId, 'pem');
      expect(
        verify('sha256', Buffer.from(`restored ${keyId}`), createPublicKey(pem), Buffer.from(signature, 'base64')),
      ).toBe(true);
      // …and openssl agrees, with nothing but the PEM.
      writeFileSync(join(dataDir, 'k.pem'), pem);
      writeFileSync(join(dataDir, 'msg'), `restored ${keyId}`);
      writeFileSync(join(dataDir, 'sig'), Buffer.from(signature, 'base64'));
      expect(
        execFileSync(
          'openssl',
          [
            'dgst',
            '-sha256',
            '-verify',
            join(dataDir, 'k.pem'),
            '-signature',
            join(dataDir, 'sig'),
            join(dataDir, 'msg'),
          ],
          { encoding: 'utf8' },
        ),
      ).toContain('Verified OK');
    }
    // An AES key restored into the fresh token has the same check value, measured there.
    const kcvThere = f.module.withSession(
      fresh,
      {
        login: {
          user: 'user',
          pin: (await f.custody.rebuildPin(target, 'user', await keysOf(1, 2))).toString('latin1'),
        },
      },
      (session, lib) => {
        lib.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(aes, 'hex') }]);
        const [handle] = lib.C_FindObjects(session, 1);
        lib.C_FindObjectsFinal(session);
        lib.C_EncryptInit(session, { mechanism: pkcs11js.CKM_AES_ECB }, handle!);
        return lib.C_Encrypt(session, Buffer.alloc(16), Buffer.alloc(16)).subarray(0, 3).toString('hex').toUpperCase();
      },
    );
    expect(kcvThere).toBe(kcv);
    expect(auditActions().map((e) => e.action)).toEqual(
      expect.arrayContaining(['backup.share-enter', 'key.restored', 'proposal.execute']),
    );
  });

  /** Restores the set into a fresh custody token with cards 1 and 2; returns the run's view and the custody. */
  async function restoreInto(label: string, setId: string, cards: { text: string }[]) {
    const target = await freshCustody(label);
    const restore = await approved(target, 'key.restore', { setId });
    await backups.enterShare(restore.id, cards[0]!.text);
    return { target, done: await backups.enterShare(restore.id, cards[1]!.text) };
  }
  const measuredKcv = (done: { outcome?: unknown }, keyId: string) =>
    (done.outcome as { result: { keys: { keyId: string; kcv: string | null }[] } }).result.keys.find(
      (k) => k.keyId === keyId,
    )!.kcv;

  /** A backup set of the keys made unverified (verify: false), 2 of 3 cards: it records no AES check value. */
  async function unverifiedSet(keyIds: string[]) {
    const done = await approved(source, 'key.backup', {
      keyIds,
      holders: [0, 1, 2].map(id),
      threshold: 2,
      verify: false,
    });
    const setId = (done.outcome as { result: { setId: string } }).result.setId;
    return { setId, cards: backups.printableCards(setId) };
  }

  it('registers the check value measured in the token for an AES key that computes none (wrap, sign)', async () => {
    const wrapping = await generate('AES-256', 'wrap');
    const signing = await generate('AES-256', 'sign');
    expect([inventory.get(wrapping).kcv, inventory.get(signing).kcv]).toEqual([null, null]);
    // Made unverified, the set records no check value for either.
    const { setId, cards } = await unverifiedSet([wrapping, signing]);
    expect(backups.manifest(setId).keys.map((k) => k.kcv)).toEqual([null, null]);
    const first = await restoreInto('first', setId, cards);
    expect(first.done).toMatchObject({ state: 'executed' });
    // Before: the outcome named the measured check value and the inventory kept none (the manifest's), so the
    // restore's report found “another check value” in its own outcome.
    for (const keyId of [wrapping, signing]) {
      expect(measuredKcv(first.done, keyId)).toMatch(/^[0-9A-F]{6}$/);
      expect(inventory.get(keyId).kcv).toBe(measuredKcv(first.done, keyId));
    }
    // The same set, which records none, is still this key: restored again, proven against the registered value.
    const again = await restoreInto('again', setId, cards);
    expect(again.done).toMatchObject({ state: 'executed' });
    expect(inventory.get(wrapping)).toMatchObject({
      kcv: measuredKcv(first.done, wrapping),
      token: { label: 'again' },
    });
  });

  it('refuses a copy measuring another check value than the registered one, though the set records none', async () => {
    const wrapping = await generate('AES-256', 'wrap');
    const { setId, cards } = await unverifiedSet([wrapping]);
    const first = await restoreInto('first', setId, cards);
    const registered = measuredKcv(first.done, wrapping);
    // As a forger with cards of their own and this installation's audit key writes it: another value under the key's
    // id, and no check value to give it away.
    const kek = Buffer.from(await combine(cards.slice(0, 2).map((c) => Uint8Array.from(decodeCard(c.text).share))));
    const wrap = createCipheriv('id-aes256-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
    const other = Buffer.concat([wrap.update(randomBytes(32)), wrap.final()]);
    const { manifest } = JSON.parse(backups.exportFile(setId)) as { manifest: ManifestV2 };
    storeForged(setId, kek, { ...manifest, keys: [{ ...manifest.keys[0]!, wrapped: other.toString('base64') }] });
    const forged = await restoreInto('forged', setId, cards);
    // Before: executed, and the inventory moved the key to a token holding the forger's value under its id.
    expect(forged.done).toMatchObject({
      state: 'failed',
      outcome: { code: 'RESTORE_MISMATCH', message: expect.stringContaining(`, not ${registered}`) },
    });
    expect(inventory.get(wrapping)).toMatchObject({ kcv: registered, token: { label: 'first' } });
    expect(await bed.objectsIn(forged.target)).toBe(0);
  });

  it('adds a key new to the inventory with the check value measured in the token, not the manifest’s', async () => {
    const wrapping = await generate('AES-256', 'wrap');
    const { setId, cards } = await unverifiedSet([wrapping]);
    const kek = Buffer.from(await combine(cards.slice(0, 2).map((c) => Uint8Array.from(decodeCard(c.text).share))));
    // The same key under an id the inventory does not know, as a set made elsewhere brings a key in.
    const { manifest } = JSON.parse(backups.exportFile(setId)) as { manifest: ManifestV2 };
    const newId = randomBytes(16).toString('hex');
    storeForged(setId, kek, { ...manifest, keys: [{ ...manifest.keys[0]!, id: newId }] });
    const { done: restored } = await restoreInto('fresh', setId, cards);
    expect(restored).toMatchObject({ state: 'executed' });
    // Before: registered with none, while the outcome named the value measured.
    expect(inventory.get(newId).kcv).toBe(measuredKcv(restored, newId));
    expect(inventory.get(newId).kcv).toMatch(/^[0-9A-F]{6}$/);
  });

  /** A key made in the custody's token under this label; returns its id. */
  async function labelled(custodyId: string, label: string): Promise<string> {
    const params = { algorithm: 'EC-P256', label, usage: 'sign', backupable: true, cryptoperiodDays: 365 };
    const done = await approved(custodyId, 'key.generate', { ...params, ckaId: randomBytes(16).toString('hex') });
    expect(done.state).toBe('executed');
    return (done.outcome as { result: { keyId: string } }).result.keyId;
  }

  it('restores no key whose label reads as another key’s on the target token, when proposed or when run', async () => {
    const payments = await labelled(source, 'payments-root');
    const setId = await backUp([payments]);
    const cards = backups.printableCards(setId);
    const target = await freshCustody('target');
    // Proposed while the target held no such key; one labelled so is made there before the cards are in.
    const restore = await approved(target, 'key.restore', { setId });
    const twin = await labelled(target, 'Payments-Root');
    await backups.enterShare(restore.id, cards[0]!.text);
    // Before: executed, and the target token held two keys that read as one on every screen and report.
    expect(await backups.enterShare(restore.id, cards[1]!.text)).toMatchObject({
      state: 'failed',
      outcome: { code: 'PROPOSAL_INVALID', message: expect.stringContaining('“Payments-Root” on the same token') },
    });
    expect(auditActions().some((e) => e.action === 'proposal.execute' && e.result.code === 'PROPOSAL_INVALID')).toBe(
      true,
    );
    expect(inventory.get(payments).token.label).toBe('source');
    expect(inventory.onToken(f.custody.record(target).token).map((k) => k.id)).toEqual([twin]);
    expect(await bed.objectsIn(target)).toBe(2);
    expect(() =>
      quorum.propose({ custodyId: target, action: 'key.restore', params: { setId }, requestedBy: id(0) }),
    ).toThrow(expect.objectContaining({ code: 'PROPOSAL_INVALID', remedy: [expect.stringContaining('no rename')] }));
    // The very same label on another key is no look-alike (a rotation's successor keeps its key's).
    const elsewhere = await freshCustody('elsewhere');
    await labelled(elsewhere, 'payments-root');
    const again = await approved(elsewhere, 'key.restore', { setId });
    await backups.enterShare(again.id, cards[0]!.text);
    expect(await backups.enterShare(again.id, cards[1]!.text)).toMatchObject({ state: 'executed' });
    expect(inventory.get(payments).token.label).toBe('elsewhere');
  });

  it('restores no key new to the inventory whose label mixes scripts', async () => {
    const setId = await backUp([await labelled(source, 'payments-root')]);
    const cards = backups.printableCards(setId);
    const kek = Buffer.from(await combine(cards.slice(0, 2).map((c) => Uint8Array.from(decodeCard(c.text).share))));
    // As a set made elsewhere brings it: a new id, and a Cyrillic а (U+0430) that reads as the Latin one.
    const { manifest } = JSON.parse(backups.exportFile(setId)) as { manifest: ManifestV2 };
    const forged = { ...manifest.keys[0]!, id: randomBytes(16).toString('hex'), label: 'p\u0430yments-root' };
    storeForged(setId, kek, { ...manifest, keys: [forged] });
    // Before: proposed, and the key registered under a label every screen shows as “payments-root”.
    const target = await freshCustody('target');
    expect(() =>
      quorum.propose({ custodyId: target, action: 'key.restore', params: { setId }, requestedBy: id(0) }),
    ).toThrow(expect.objectContaining({ code: 'PROPOSAL_INVALID', message: expect.stringContaining('mixes scripts') }));
  });

  it('names a typo, a foreign card, a duplicate and a wrong share on entry; one card is not enough', async () => {
    const key = await generate('EC-P256');
    const setId = await backUp([key]);
    const cards = backups.printableCards(setId);
    const other = await backUp([key]);
    const foreign = backups.printableCards(other)[0]!;
    const target = await freshCustody('fresh');
    const restore = await approved(target, 'key.restore', { setId });

    const typo = cards[0]!.text.replace(/^(.)/, (c) => (c === 'A' ? 'B' : 'A'));
    await expect(backups.enterShare(restore.id, typo)).rejects.toMatchObject({
      code: 'SHARE_TYPO',
      message: 'Group 1 of 23 (line 1, 1st group) has a typo.',
    });
    await expect(backups.enterShare(restore.id, foreign.text)).rejects.toMatchObject({ code: 'SHARE_FOREIGN' });
    // A well-formed card with the right set id, index and checksum but other share bytes.
    const forged = decodeCard(cards[1]!.text);
    forged.share[5]! ^= 1;
    await expect(backups.enterShare(restore.id, encodeCard(forged))).rejects.toMatchObject({
      code: 'SHARE_MISMATCH',
      message: expect.stringContaining('Babbage'),
    });
    const afterOne = await backups.enterShare(restore.id, cards[0]!.text);
    expect(afterOne).toMatchObject({ state: 'open', waitingFor: [expect.stringContaining('1 more share card')] });
    await expect(backups.enterShare(restore.id, cards[0]!.text)).rejects.toMatchObject({ code: 'SHARE_DUPLICATE' });
    expect(
      auditActions()
        .filter((e) => e.action === 'backup.share-enter')
        .map((e) => e.result.code ?? e.result.status),
    ).toEqual(['SHARE_TYPO', 'SHARE_FOREIGN', 'SHARE_MISMATCH', 'ok', 'SHARE_DUPLICATE']);
    expect(inventory.get(key).token.label).toBe('source');
  });

  it('never runs a restore whose proposal expired, even with approvals still held and the last card entered late', async () => {
    const key = await generate('EC-P256');
    const setId = await backUp([key]);
    const cards = backups.printableCards(setId);
    const target = await freshCustody('fresh');
    const restore = await f.approveAll(
      quorum,
      quorum.propose({ custodyId: target, action: 'key.restore', params: { setId }, requestedBy: id(0), minutes: 10 }),
      [1, 2],
    );
    await backups.enterShare(restore.id, cards[0]!.text);
    // The proposal is over; the held approvals (15 min) are not.
    f.clock.now = new Date(f.clock.now.getTime() + 11 * 60_000);
    // The card entered is not held past the proposal's expiry, though nobody has touched the proposal since.
    expect((backups as unknown as { entered: HeldSecrets }).entered.live(restore.id)).toEqual([]);
    await expect(backups.enterShare(restore.id, cards[1]!.text)).rejects.toMatchObject({ code: 'PROPOSAL_EXPIRED' });
    expect(quorum.view(restore.id).state).toBe('expired');
    expect(inventory.get(key).token.label).toBe('source');
  });

  it('refuses a tampered backup file, even one signed again by another audit key, before importing anything', async () => {
    const key = await generate('EC-P256');
    const setId = await backUp([key]);
    const file = backups.exportFile(setId);
    expect(() => backups.importFile(file)).not.toThrow();
    const parsed = JSON.parse(file) as { manifest: { keys: { wrapped: string }[]; threshold: number } };
    const blob = Buffer.from(parsed.manifest.keys[0]!.wrapped, 'base64');
    blob[7]! ^= 1;
    const tampered = JSON.stringify({
      ...parsed,
      manifest: { ...parsed.manifest, keys: [{ ...parsed.manifest.keys[0], wrapped: blob.toString('base64') }] },
    });
    expect(() => backups.importFile(tampered)).toThrow(expect.objectContaining({ code: 'BACKUP_INVALID' }));
    expect(() => backups.importFile(file.replace('"threshold": 2', '"threshold": 3'))).toThrow(
      expect.objectContaining({ code: 'BACKUP_INVALID' }),
    );

    // The same manifest, which names this installation's audit key, signed by another Ed25519 key.
    const { privateKey } = generateKeyPairSync('ed25519');
    const manifestText = canonicalJson(JSON.parse(file).manifest);
    const foreign = JSON.stringify({
      ...JSON.parse(file),
      signature: sign(null, Buffer.from(manifestText), privateKey).toString('base64'),
    });
    expect(() => backups.importFile(foreign)).toThrow(
      expect.objectContaining({
        code: 'BACKUP_INVALID',
        message: expect.stringContaining('changed after it was made'),
      }),
    );
    expect(backups.list()).toHaveLength(1);
  });

  it('releases each card only to its holder, after both factors, and records the release', async () => {
    const key = await generate('EC-P256');
    const setId = await backUp([key], [1, 2]);
    const [babbage] = f.holders(1);
    const card = await backups.releaseCard(setId, babbage!);
    // What the holder files the card by: the set's date, token, keys and fingerprint, as the backup list shows them.
    const listed = backups.list().find((b) => b.setId === setId)!;
    expect(card).toMatchObject({
      index: 1,
      threshold: 2,
      holders: 2,
      holder: { name: 'Babbage' },
      createdAt: listed.createdAt,
      token: { serial: listed.token.serial, label: 'source' },
      keys: [
        {
          id: key,
          label: 'EC-P256 sign',
          algorithm: 'EC-P256',
          kcv: null,
          fingerprint: inventory.get(key).fingerprint,
        },
      ],
      setFingerprint: listed.fingerprint,
    });
    // The set fingerprint is SHA-256 of the signed manifest: the exact bytes of the backup file's manifest.
    const manifest = canonicalJson(JSON.parse(backups.exportFile(setId)).manifest);
    expect(listed.fingerprint).toBe(createHash('sha256').update(manifest).digest('hex'));
    const [ada] = f.holders(0);
    await expect(backups.releaseCard(setId, ada!)).rejects.toMatchObject({ code: 'NOT_AUTHORIZED' });
    const [curie] = f.holders(2);
    await expect(
      backups.releaseCard(setId, { ...curie!, passphrase: 'not hers at all, not at all' }),
    ).rejects.toMatchObject({ code: 'PASSPHRASE_INCORRECT' });
    expect(auditActions().filter((e) => e.action === 'backup.card.release')).toHaveLength(1);
    // The list says whose card left the core: a set whose cards never reached t holders restores nothing.
    expect(backups.list()[0]!.holders.map((h) => [h.name, h.released !== null])).toEqual([
      ['Babbage', true],
      ['Curie', false],
    ]);
  });

  it('forgets the cards before anyone took one on any caller’s word (no factors): that only ends them early', async () => {
    const key = await generate('EC-P256');
    const setId = await backUp([key], [1, 2]);
    const before = backups.list();
    // What the renderer's backups.forgetCards does, with no factors: the timer would do the same half an hour later.
    backups.forgetCards(setId);
    const [babbage] = f.holders(1);
    const factorChecks = () => auditActions().filter((e) => e.action === 'custodian.factor.verify').length;
    const checksBefore = factorChecks();
    await expect(backups.releaseCard(setId, babbage!)).rejects.toMatchObject({ code: 'BACKUP_NOT_FOUND' });
    // Said before the factor check: the holder's code is not spent on cards that are gone.
    expect(factorChecks()).toBe(checksBefore);
    expect(() => backups.printableCards(setId)).toThrow(expect.objectContaining({ code: 'BACKUP_NOT_FOUND' }));
    // Nothing stored changes: the set stays listed, every card never released, so it counts as no verified backup.
    expect(backups.list()).toEqual(before);
    expect(before.find((b) => b.setId === setId)!.holders.map((h) => h.released)).toEqual([null, null]);
    expect(auditActions().filter((e) => e.action === 'backup.card.release')).toHaveLength(0);
  });

  it('lets a holder check their card without rebuilding anything, and records it', async () => {
    const setId = await backUp([await generate('EC-P256')]);
    const [card] = backups.printableCards(setId);
    expect(backups.checkShare(card!.text)).toEqual({ setId, index: 1, holder: 'Ada' });
    // A card printed in format version 1 (before per-group check characters) still checks.
    expect(backups.checkShare(encodeCardV1(decodeCard(card!.text)))).toEqual({ setId, index: 1, holder: 'Ada' });
    expect(backups.list()[0]!.holders.map((h) => h.lastChecked)).toEqual([expect.any(String), null, null]);
    // A check a database writer adds is not one: the signed entries say which cards were checked, and when.
    f.opened.store.execute(
      sql`INSERT INTO share_checks (set_id, share_index, checked_at) VALUES (${setId}, 2, ${f.clock.now.toISOString()})`,
    );
    expect(backups.list()[0]!.holders[1]!.lastChecked).toBeNull();
    expect(() => backups.checkShare(card!.text.slice(0, -2))).toThrow(expect.objectContaining({ code: 'SHARE_TYPO' }));
    expect(
      auditActions()
        .filter((e) => e.action === 'backup.share-check')
        .map((e) => e.result.code ?? e.result.status),
    ).toEqual(['ok', 'ok', 'SHARE_TYPO']);
  });

  it('refuses keys that are not backup-able, and restoring a destroyed key without the quorum’s explicit override', async () => {
    const locked = await generate('EC-P256', 'sign', false);
    expect(() =>
      quorum.propose({
        custodyId: source,
        action: 'key.backup',
        params: { keyIds: [locked], holders: [id(0), id(1)], threshold: 2 },
        requestedBy: id(0),
      }),
    ).toThrow(expect.objectContaining({ code: 'PROPOSAL_INVALID' }));
    const key = await generate('EC-P256');
    // An auditor reads the record: they hold no card of a key's backup.
    const officer = f.setupOfficer!;
    f.tick();
    const code = (secret: string) => totpCodeAt(secret, f.clock.now);
    const enrolment = await f.custodians.beginEnrolment({
      name: 'Eve',
      roles: ['auditor'],
      passphrase: 'long quiet harbour walk number 9',
      officers: [{ custodianId: officer.id, passphrase: officer.passphrase, code: code(officer.secret) }],
    });
    const eve = f.custodians.confirmEnrolment(enrolment.enrolmentId, code(enrolment.secret));
    expect(() =>
      quorum.propose({
        custodyId: source,
        action: 'key.backup',
        params: { keyIds: [key], holders: [id(1), eve.id], threshold: 2 },
        requestedBy: id(0),
      }),
    ).toThrow(expect.objectContaining({ code: 'PROPOSAL_INVALID', message: expect.stringMatching(/Eve/) }));
    const setId = await backUp([key]);
    // As if destroyed by its ceremony (tested in keys/): the inventory says so (a database edit would be refused).
    inventory.markDestroyed(key, { note: 'as if by its ceremony' });
    const target = await freshCustody('fresh');
    expect(() =>
      quorum.propose({ custodyId: target, action: 'key.restore', params: { setId }, requestedBy: id(0) }),
    ).toThrow(expect.objectContaining({ code: 'PROPOSAL_INVALID' }));
    const cards = backups.printableCards(setId);
    const restore = await approved(target, 'key.restore', { setId, overrideDestroyed: true });
    await backups.enterShare(restore.id, cards[1]!.text);
    expect(await backups.enterShare(restore.id, cards[2]!.text)).toMatchObject({ state: 'executed' });
    expect(inventory.get(key).state).toBe('suspended');
  });

  it('restores no new copy of a key waiting for its destruction, when proposed or when run', async () => {
    const key = await generate('EC-P256');
    const setId = await backUp([key]);
    const cards = backups.printableCards(setId);
    const target = await freshCustody('fresh');
    // Approved while the key was still to be kept; its destruction is scheduled before the cards are entered.
    const early = await approved(target, 'key.restore', { setId });
    const scheduled = await approved(source, 'key.schedule-destruction', { keyId: key, waitDays: 7 });
    expect(scheduled.state).toBe('executed');
    expect(() =>
      quorum.propose({ custodyId: target, action: 'key.restore', params: { setId }, requestedBy: id(0) }),
    ).toThrow(expect.objectContaining({ code: 'DESTRUCTION_WAITING' }));
    await backups.enterShare(early.id, cards[0]!.text);
    expect(await backups.enterShare(early.id, cards[1]!.text)).toMatchObject({
      state: 'failed',
      outcome: { code: 'DESTRUCTION_WAITING' },
    });
    // The key stays where its destruction will find it.
    expect(inventory.get(key).token.label).toBe('source');
  });

  it('restores no copy of a compromised key, when proposed or when run; a suspended key comes back suspended', async () => {
    const [compromised, suspended] = [await generate('EC-P256'), await generate('EC-P384')];
    const [bad, paused] = [await backUp([compromised]), await backUp([suspended])];
    const target = await freshCustody('fresh');
    // Approved while the key was still trusted; it is marked compromised before the cards are entered.
    const early = await approved(target, 'key.restore', { setId: bad });
    const officer = { type: 'custodian', id: id(2), role: 'security-officer' } as const;
    inventory.transition(compromised, 'compromise', 'security-officer', officer, 'card reader left logged in');
    for (const params of [{ setId: bad }, { setId: bad, overrideDestroyed: true }])
      expect(() => quorum.propose({ custodyId: target, action: 'key.restore', params, requestedBy: id(0) })).toThrow(
        expect.objectContaining({
          code: 'KEY_STATE_FORBIDS',
          message: expect.stringMatching(/recorded as compromised/),
        }),
      );
    const cards = backups.printableCards(bad);
    await backups.enterShare(early.id, cards[0]!.text);
    expect(await backups.enterShare(early.id, cards[1]!.text)).toMatchObject({
      state: 'failed',
      outcome: { code: 'KEY_STATE_FORBIDS' },
    });
    expect(inventory.get(compromised)).toMatchObject({ state: 'compromised', token: { label: 'source' } });
    expect(auditActions().some((e) => e.action === 'proposal.execute' && e.result.code === 'KEY_STATE_FORBIDS')).toBe(
      true,
    );

    inventory.transition(suspended, 'activate', 'quorum', { type: 'system', id: 'system' });
    inventory.transition(suspended, 'suspend', 'security-officer', officer, 'under review');
    const restore = await approved(target, 'key.restore', { setId: paused });
    const pausedCards = backups.printableCards(paused);
    await backups.enterShare(restore.id, pausedCards[0]!.text);
    expect(await backups.enterShare(restore.id, pausedCards[1]!.text)).toMatchObject({ state: 'executed' });
    expect(inventory.get(suspended)).toMatchObject({ state: 'suspended', token: { label: 'fresh' } });
  });

  it('makes no new copy of a key waiting for destruction, compromised or destroyed: no backup, no backup file', async () => {
    const [waiting, compromised, destroyed] = [
      await generate('EC-P256'),
      await generate('EC-P384'),
      await generate('RSA-3072'),
    ];
    const sets = [await backUp([waiting]), await backUp([compromised]), await backUp([destroyed])];
    // A backup of the compromised key, proposed while it was still trusted.
    const late = quorum.propose({
      custodyId: source,
      action: 'key.backup',
      params: { keyIds: [compromised], holders: [id(0), id(1)], threshold: 2 },
      requestedBy: id(0),
    });
    expect((await approved(source, 'key.schedule-destruction', { keyId: waiting, waitDays: 7 })).state).toBe(
      'executed',
    );
    const officer = { type: 'custodian', id: id(2), role: 'security-officer' } as const;
    inventory.transition(compromised, 'compromise', 'security-officer', officer, 'card reader left logged in');
    inventory.markDestroyed(destroyed, { note: 'as if by its ceremony' });

    const refusals = [
      [waiting, 'DESTRUCTION_WAITING', /waiting to be destroyed \(not before \d{4}-\d\d-\d\d\): no new copy/],
      [compromised, 'KEY_STATE_FORBIDS', /is compromised: no new copy/],
      [destroyed, 'KEY_STATE_FORBIDS', /is destroyed: no new copy/],
    ] as const;
    for (const [i, [keyId, code, message]] of refusals.entries()) {
      const propose = () =>
        quorum.propose({
          custodyId: source,
          action: 'key.backup',
          params: { keyIds: [keyId], holders: [id(0), id(1)], threshold: 2 },
          requestedBy: id(0),
        });
      expect(propose).toThrow(expect.objectContaining({ code, message: expect.stringMatching(message) }));
      expect(() => backups.exportFile(sets[i]!)).toThrow(expect.objectContaining({ code }));
    }
    // Approved now, the earlier proposal fails before the token is touched, and the failure is recorded.
    const ran = await f.approveAll(quorum, late, [1, 2]);
    expect(ran).toMatchObject({ state: 'failed', outcome: { status: 'failed', code: 'KEY_STATE_FORBIDS' } });
    expect(backups.list()).toHaveLength(3);
    expect(auditActions().some((e) => e.action === 'proposal.execute' && e.result.code === 'KEY_STATE_FORBIDS')).toBe(
      true,
    );
    expect(auditActions().filter((e) => e.action === 'backup.export')).toEqual([]);
  });

  it('fails cleanly, leaving no KEK behind, when the token refuses to wrap a key (SoftHSM2 2.6 and Ed25519)', async () => {
    const ed = await generate('Ed25519');
    const done = await approved(source, 'key.backup', { keyIds: [ed], holders: [id(0), id(1)], threshold: 2 });
    expect(done).toMatchObject({
      state: 'failed',
      outcome: {
        code: 'TOKEN_KEY_REFUSED',
        message: expect.stringMatching(/refuses to wrap/),
        detail: { ckr: 'CKR_KEY_NOT_WRAPPABLE', step: 'C_WrapKey', mechanism: 'CKM_AES_KEY_WRAP_PAD' },
      },
    });
    expect(trustedObjects()).toBe(0);
    expect(backups.list()).toEqual([]);
  });

  it('removes, at the next start, a KEK that a crashed backup left in the token', async () => {
    const key = await generate('EC-P256');
    const proposal = quorum.propose({
      custodyId: source,
      action: 'key.backup',
      params: { keyIds: [key], holders: [id(0), id(1)], threshold: 2 },
      requestedBy: id(0),
    });
    // As if an older Custos, which made the KEK a token object, died after the SO created it: the run is journaled,
    // the KEK is in the token. (A session KEK dies with the process.)
    f.journal(proposal);
    const so = await f.custody.rebuildPin(source, 'so', await keysOf(1, 2));
    const setId = randomBytes(16).toString('hex');
    const label = `Custos backup KEK ${setId.slice(0, 8)} (transient)`;
    f.module.withSession(
      f.custody.record(source).token,
      { write: true, login: { user: 'so', pin: so.toString('latin1') } },
      (session, lib) => importTrustedKek(lib, session, setId, randomBytes(32), label, true),
    );
    so.fill(0);
    expect(trustedObjects()).toBe(1);
    const restarted = new QuorumService({
      store: f.opened.store,
      audit: f.opened.audit,
      custodians: f.custodians,
      custody: f.custody,
      module: () => f.module,
      operations: {},
      reconcilers: { 'key.backup': backups.reconcileBackup() },
    });
    expect(restarted.reconcile()).toMatchObject([
      { proposalId: proposal.id, outcome: { status: 'failed', code: 'OPERATION_INTERRUPTED' } },
    ]);
    expect(trustedObjects()).toBe(0);
    expect(auditActions().map((e) => e.action)).toEqual(
      expect.arrayContaining(['backup.kek-removed', 'proposal.reconcile']),
    );
  });

  it('puts a KEK in the token that can be neither cloned, changed nor used to MAC', async () => {
    const so = await f.custody.rebuildPin(source, 'so', await keysOf(1, 2));
    const token = f.custody.record(source).token;
    const login = { user: 'so' as const, pin: so.toString('latin1') };
    // Whoever finds the public KEK (any session, with no login, while it was a token object) and could clone it with
    // CKA_UNWRAP on under another label would keep the clone past the backup and open every blob of the set.
    const tries = f.module.withSession(token, { write: true, login }, (session, lib) => {
      const setId = randomBytes(16).toString('hex');
      createTrustedKek(lib, session, setId).fill(0);
      const kek = findKek(lib, session, setId);
      const attempt = (step: () => unknown) => {
        try {
          step();
          return 'done';
        } catch (error) {
          return refusalName(error);
        }
      };
      const unwrap = { type: pkcs11js.CKA_UNWRAP, value: true };
      return {
        clone: attempt(() => lib.C_CopyObject(session, kek, [{ type: pkcs11js.CKA_LABEL, value: 'innocent' }, unwrap])),
        change: attempt(() => lib.C_SetAttributeValue(session, kek, [unwrap])),
        // Wrap-only: not a MAC oracle under the KEK either (SoftHSM2 leaves CKA_SIGN and CKA_VERIFY on by default).
        mac: attempt(() => lib.C_SignInit(session, { mechanism: CKM_AES_CMAC }, kek)),
      };
    });
    so.fill(0);
    expect(tries).toEqual({
      clone: 'CKR_ACTION_PROHIBITED',
      change: 'CKR_ACTION_PROHIBITED',
      mac: 'CKR_KEY_FUNCTION_NOT_PERMITTED',
    });
  });

  it('never writes a KEK to a file: it lives in the ceremony’s session and is gone when that closes', async () => {
    const so = await f.custody.rebuildPin(source, 'so', await keysOf(1, 2));
    const token = f.custody.record(source).token;
    const login = { user: 'so' as const, pin: so.toString('latin1') };
    const holding = f.module.withSession(token, { write: true, login }, (session, lib) => {
      const kek = createTrustedKek(lib, session, randomBytes(16).toString('hex'));
      try {
        return filesUnder(dataDir).filter((file) => readFileSync(file).includes(kek));
      } finally {
        kek.fill(0);
      }
    });
    so.fill(0);
    // Before: a public token object, which SoftHSM2 stores unencrypted, so the KEK of every set stood in the data
    // directory in the clear (readable by whoever held the directory, left on the disk when the file was deleted).
    expect(holding).toEqual([]);
    expect(trustedObjects()).toBe(0);
  });

  it('wraps the inventory’s key, not an object a session with no login planted under its id', async () => {
    // A wrapping AES key has no check value on record, so nothing else would tell the planted key from the real one.
    const keyId = await generate('AES-256', 'wrap');
    // Listed ahead of the key's own while the backup runs (plantPublicKey's value: 32 bytes of 0x41, known to all).
    const planted = await plantAheadOfKey(f, source, keyId, pkcs11js.CKO_SECRET_KEY, (lib, session) =>
      plantPublicKey(lib, session, keyId, pkcs11js.CKO_SECRET_KEY, [{ type: pkcs11js.CKA_EXTRACTABLE, value: true }]),
    );
    let setId: string;
    try {
      setId = await backUp([keyId]);
    } finally {
      planted.close();
    }
    const cards = backups.printableCards(setId);
    const kek = Buffer.from(await combine(cards.slice(0, 2).map((c) => Uint8Array.from(decodeCard(c.text).share))));
    const { manifest } = JSON.parse(backups.exportFile(setId)) as { manifest: ManifestV2 };
    const unwrap = createDecipheriv('id-aes256-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
    const inside = Buffer.concat([unwrap.update(Buffer.from(manifest.keys[0]!.wrapped, 'base64')), unwrap.final()]);
    // Before: the set held the planted key, whose value its planter knows, and a restore would have put it in the
    // key's place.
    expect(inside).toHaveLength(32);
    expect(inside.equals(Buffer.alloc(32, 0x41))).toBe(false);
  });

  it('restores past public objects planted under the keys’ ids with no login, and leaves none that it can destroy', async () => {
    const keyId = await generate('EC-P256');
    const setId = await backUp([keyId]);
    const cards = backups.printableCards(setId);
    const target = await freshCustody('fresh');
    f.module.withSession(f.custody.record(target).token, { write: true }, (session, lib) => {
      plantPublicKey(lib, session, keyId, pkcs11js.CKO_PRIVATE_KEY);
      plantPublicKey(lib, session, keyId, pkcs11js.CKO_PUBLIC_KEY);
      plantPublicKey(lib, session, keyId, pkcs11js.CKO_PUBLIC_KEY, [{ type: CKA_DESTROYABLE, value: false }]);
    });
    const restore = await approved(target, 'key.restore', { setId });
    await backups.enterShare(restore.id, cards[0]!.text);
    // Before: KEY_ALREADY_IN_TOKEN, and anyone could keep a key from being restored into any token.
    const done = await backups.enterShare(restore.id, cards[1]!.text);
    expect(done, JSON.stringify(done.outcome)).toMatchObject({ state: 'executed' });
    expect(auditActions().filter((e) => e.action === 'backup.restore.planted-removed')).toHaveLength(1);
    // The restored key's two halves, and the one planted object the token would not destroy.
    const left = await f.loggedIn(target, [0, 1], (session, lib) =>
      findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') }]).map((handle) =>
        String(lib.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_LABEL }])[0]!.value),
      ),
    );
    expect(left.sort()).toEqual(['EC-P256 sign', 'EC-P256 sign', 'planted']);
  });

  it('removes every object planted under a key’s id, more than one search returns, and counts them all', async () => {
    const keyId = await generate('EC-P256');
    const setId = await backUp([keyId]);
    const cards = backups.printableCards(setId);
    const target = await freshCustody('fresh');
    const token = f.custody.record(target).token;
    const restore = await approved(target, 'key.restore', { setId });
    await backups.enterShare(restore.id, cards[0]!.text);
    // More than the 1,000 one search used to return: those past it were neither destroyed nor counted. Session objects
    // of a session held open (every session of this process sees them): as token objects, a thousand files are slow.
    const plantedCount = 1_001;
    const slot = f.module.findSlot(token);
    const planter = f.module.run('plant', (lib) => lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION));
    const left = await (async () => {
      try {
        f.module.run('plant', (lib) => {
          for (let i = 0; i < plantedCount; i++)
            plantPublicKey(lib, planter, keyId, pkcs11js.CKO_PUBLIC_KEY, [{ type: pkcs11js.CKA_TOKEN, value: false }]);
        });
        const done = await backups.enterShare(restore.id, cards[1]!.text);
        expect(done, JSON.stringify(done.outcome)).toMatchObject({ state: 'executed' });
        return await f.loggedIn(target, [0, 1], (session, lib) =>
          findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') }], 2_000).map((h) =>
            String(lib.C_GetAttributeValue(session, h, [{ type: pkcs11js.CKA_LABEL }])[0]!.value),
          ),
        );
      } finally {
        f.module.run('plant', (lib) => lib.C_CloseSession(planter));
      }
    })();
    expect(left.sort()).toEqual(['EC-P256 sign', 'EC-P256 sign']);
    const counted = [...f.opened.audit.log().entries()]
      .map((e) => JSON.parse(e.entry) as { action: string; params: string | null })
      .filter((e) => e.action === 'backup.restore.planted-removed');
    const planted = [{ keyId, label: 'EC-P256 sign', removed: plantedCount, left: 0 }];
    expect(counted.map((e) => e.params)).toEqual([sha256Hex(canonicalJson({ setId, token, planted }))]);
  });

  it('refuses a stored manifest edited in the database', async () => {
    const setId = await backUp([await generate('EC-P256')]);
    f.opened.store.execute(
      sql`UPDATE backups SET manifest = replace(manifest, '"threshold":2', '"threshold":1') WHERE set_id = ${setId}`,
    );
    expect(() => backups.manifest(setId)).toThrow(expect.objectContaining({ code: 'BACKUP_INVALID' }));
  });

  /** A database writer puts this signed manifest in the set's place: the list and a restore refuse it, recorded. */
  async function expectSwapRefused(setId: string, stored: { text: string; signature: Buffer }): Promise<void> {
    f.opened.store.execute(
      sql`UPDATE backups SET manifest = ${stored.text}, signature = ${stored.signature} WHERE set_id = ${setId}`,
    );
    expect(() => backups.list()).toThrow(
      expect.objectContaining({ code: 'BACKUP_INVALID', message: expect.stringContaining('changed outside Custos') }),
    );
    expect(() =>
      quorum.propose({ custodyId: source, action: 'key.restore', params: { setId }, requestedBy: id(0) }),
    ).toThrow(expect.objectContaining({ code: 'BACKUP_INVALID' }));
    await new Promise((resolve) => setImmediate(resolve)); // the refusal is recorded with the next group commit
    expect(auditActions().at(-1)).toMatchObject({ action: 'backup.tampered', result: { code: 'BACKUP_INVALID' } });
  }

  it('refuses a stored manifest a database writer replaced with one signed by a key of their own, naming that key', async () => {
    const keyId = await generate('AES-256', 'encrypt');
    const setId = await backUp([keyId]);
    const { manifest } = JSON.parse(backups.exportFile(setId)) as { manifest: Record<string, unknown> };
    const forged = selfSigned({
      ...manifest,
      installation: 'elsewhere',
      keys: [{ ...keyOf(manifest), kcv: 'A0A0A0' }],
    });
    // Before: listed as "made by audit key …, verified", and its restore proposed.
    await expectSwapRefused(setId, forged);
    // Nor does an import entry the writer adds to the log: it carries no signature by the audit key.
    const forger = auditKeyFingerprint(
      Buffer.from((JSON.parse(forged.text) as { auditKey: string }).auditKey, 'base64'),
    );
    const seq = f.opened.audit.log().size();
    const entry = canonicalJson({
      v: 1,
      seq,
      time: f.clock.now.toISOString(),
      actor: { type: 'system', id: 'system' },
      action: 'backup.import',
      object: { type: 'backup', id: `${setId} made-by ${forger} via kek-mac-pending` },
      params: null,
      result: { status: 'ok' },
    });
    f.opened.store.execute(
      sql`INSERT INTO audit_entries (seq, entry, signature, key_id) VALUES (${seq}, ${entry}, ${Buffer.alloc(64)}, ${'forged'})`,
    );
    expect(() => backups.list()).toThrow(expect.objectContaining({ code: 'BACKUP_INVALID' }));
  });

  it('refuses an imported set’s stored manifest replaced by another its maker signed: its import bound the fingerprint', async () => {
    const { manifest } = JSON.parse(backups.exportFile(await backUp([await generate('EC-P256')]))) as {
      manifest: Record<string, unknown>;
    };
    const maker = generateKeyPairSync('ed25519');
    const setId = randomBytes(16).toString('hex');
    const made = {
      ...manifest,
      setId,
      installation: 'elsewhere',
      keys: [{ ...keyOf(manifest), id: randomBytes(16).toString('hex') }],
    };
    const imported = selfSigned(made, maker);
    backups.importFile(backupFileText(imported.text, imported.signature));
    // Whoever holds the maker's audit key and can write this database swaps in a set whose cards go to someone else.
    const shares = manifest.shares as { holder: { name: string } }[];
    const swapped = selfSigned(
      {
        ...made,
        shares: shares.map((share, i) => (i ? share : { ...share, holder: { ...share.holder, name: 'Mallory' } })),
      },
      maker,
    );
    // Before: listed with Mallory as a card holder, and restorable.
    await expectSwapRefused(setId, swapped);
  });

  it('refuses a stored manifest whose key label reads otherwise than it is stored, though its signature holds', async () => {
    const setId = await backUp([await generate('EC-P256')]);
    const { manifest } = JSON.parse(backups.exportFile(setId)) as { manifest: Record<string, unknown> };
    // Signed again with this installation's audit key, as only a manifest's reading, not its signature, can catch.
    const text = canonicalJson({ ...manifest, keys: [{ ...keyOf(manifest), label: 'pay\u202Eroll' }] });
    await expectSwapRefused(setId, { text, signature: f.opened.audit.signDocument(Buffer.from(text)) });
  });

  /** A key backed up here, and a set made elsewhere (signed by its own key) holding another key under that key's id. */
  const otherKeyUnderItsId = async () => {
    const keyId = await generate('EC-P256');
    const setId = await backUp([keyId]);
    const { manifest } = JSON.parse(backups.exportFile(setId)) as { manifest: Record<string, unknown> };
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
    const forged = selfSigned({
      ...manifest,
      setId: randomBytes(16).toString('hex'),
      installation: 'elsewhere',
      // Its fingerprint is the other key's, as a careful forger writes it (a mismatch is refused on its own).
      keys: [
        {
          ...keyOf(manifest),
          publicKey: other.toString('base64'),
          fingerprint: createHash('sha256').update(other).digest('hex'),
        },
      ],
    });
    return { keyId, setId, forged };
  };

  it('refuses a set made elsewhere that holds another key under the id of a key in the inventory', async () => {
    const { setId, forged } = await otherKeyUnderItsId();
    // Before: imported pending its cards, which the forger made too; a restore then put the other key under the id.
    expect(() => backups.importFile(backupFileText(forged.text, forged.signature))).toThrow(
      expect.objectContaining({ code: 'BACKUP_INVALID', message: expect.stringContaining('holds a different key') }),
    );
    expect(backups.list().map((b) => b.setId)).toEqual([setId]);
    expect(auditActions().at(-1)).toMatchObject({ action: 'backup.import', result: { code: 'BACKUP_INVALID' } });
  });

  it('refuses a set that holds another key under the id of a key whose record was deleted outside Custos', async () => {
    const { keyId, forged } = await otherKeyUnderItsId();
    f.opened.store.execute(sql`DELETE FROM keys WHERE id = ${keyId}`);
    // Before: the id read as unknown, so the set was taken in pending its cards, to add the other key under that id.
    expect(() => backups.importFile(backupFileText(forged.text, forged.signature))).toThrow(
      expect.objectContaining({ code: 'KEY_TAMPERED', message: expect.stringContaining('deleted outside Custos') }),
    );
  });

  it('names a copy that does not open under the KEK its cards rebuilt as the set’s fault, not the token’s', async () => {
    const setId = await backUp([await generate('AES-256', 'encrypt')]);
    const cards = backups.printableCards(setId);
    const kek = Buffer.from(await combine(cards.slice(0, 2).map((c) => Uint8Array.from(decodeCard(c.text).share))));
    // A set whose MAC fits blobs that do not open, as a forger with cards of their own can make it.
    const { manifest } = JSON.parse(backups.exportFile(setId)) as { manifest: ManifestV2 };
    const blob = Buffer.from(manifest.keys[0]!.wrapped, 'base64');
    blob[9]! ^= 1;
    storeForged(setId, kek, { ...manifest, keys: [{ ...manifest.keys[0]!, wrapped: blob.toString('base64') }] });
    const restore = await approved(await freshCustody('target'), 'key.restore', { setId });
    await backups.enterShare(restore.id, cards[0]!.text);
    // Before: TOKEN_GENERAL_ERROR, with advice about the token directory.
    expect(await backups.enterShare(restore.id, cards[1]!.text)).toMatchObject({
      state: 'failed',
      outcome: { code: 'RESTORE_MISMATCH', message: expect.stringContaining('does not open under the key its cards') },
    });
  });

  it('refuses an AES-128 key a set declares as AES-256, though it opens under the KEK and its check value fits', async () => {
    const setId = await backUp([await generate('AES-256', 'encrypt')]);
    const cards = backups.printableCards(setId);
    const kek = Buffer.from(await combine(cards.slice(0, 2).map((c) => Uint8Array.from(decodeCard(c.text).share))));
    // A forger with cards of their own wraps a 16-byte key under their KEK and names it AES-256 under a new id.
    const short = randomBytes(16);
    const wrap = createCipheriv('id-aes256-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
    const wrapped = Buffer.concat([wrap.update(short), wrap.final()]);
    const zero = createCipheriv('aes-128-ecb', short, null).setAutoPadding(false).update(Buffer.alloc(16));
    const { manifest } = JSON.parse(backups.exportFile(setId)) as { manifest: ManifestV2 };
    const forged = {
      ...manifest.keys[0]!,
      id: randomBytes(16).toString('hex'),
      wrapped: wrapped.toString('base64'),
      kcv: zero.subarray(0, 3).toString('hex').toUpperCase(),
    };
    storeForged(setId, kek, { ...manifest, keys: [forged] });
    const restore = await approved(await freshCustody('target'), 'key.restore', { setId });
    await backups.enterShare(restore.id, cards[0]!.text);
    expect(await backups.enterShare(restore.id, cards[1]!.text)).toMatchObject({
      state: 'failed',
      outcome: { code: 'RESTORE_MISMATCH', message: expect.stringContaining('is 24 bytes, not the 40') },
    });
    expect(() => inventory.get(forged.id)).toThrow();
  });

  it('refuses a 28-byte value a set declares as AES-256, though its wrapped copy is as long as an AES-256 key’s', async () => {
    const setId = await backUp([await generate('AES-256', 'encrypt')]);
    const cards = backups.printableCards(setId);
    const kek = Buffer.from(await combine(cards.slice(0, 2).map((c) => Uint8Array.from(decodeCard(c.text).share))));
    // RFC 5649 pads 25 to 32 bytes alike into 40: the blob's length alone does not say the key's.
    const wrap = createCipheriv('id-aes256-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
    const wrapped = Buffer.concat([wrap.update(randomBytes(28)), wrap.final()]);
    expect(wrapped).toHaveLength(40);
    const { manifest } = JSON.parse(backups.exportFile(setId)) as { manifest: ManifestV2 };
    const forged = { ...manifest.keys[0]!, id: randomBytes(16).toString('hex'), wrapped: wrapped.toString('base64') };
    storeForged(setId, kek, { ...manifest, keys: [forged] });
    const restore = await approved(await freshCustody('target'), 'key.restore', { setId });
    await backups.enterShare(restore.id, cards[0]!.text);
    // Before: the token's CKR_MECHANISM_INVALID, read as a token without AES.
    expect(await backups.enterShare(restore.id, cards[1]!.text)).toMatchObject({
      state: 'failed',
      outcome: { code: 'RESTORE_MISMATCH', message: expect.stringContaining('came back as no AES-256 key') },
    });
    expect(() => inventory.get(forged.id)).toThrow();
    expect(auditActions().some((e) => e.action === 'proposal.execute' && e.result.code === 'RESTORE_MISMATCH')).toBe(
      true,
    );
  });

  it('refuses an RSA-2048 key pair a set declares as RSA-3072 when proposed, though it would open', async () => {
    const setId = await backUp([await generate('RSA-3072')]);
    const cards = backups.printableCards(setId);
    const kek = Buffer.from(await combine(cards.slice(0, 2).map((c) => Uint8Array.from(decodeCard(c.text).share))));
    // A forger with cards of their own wraps a weaker key pair under their KEK and names it RSA-3072 under a new id.
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const wrap = createCipheriv('id-aes256-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
    const pkcs8 = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
    const wrapped = Buffer.concat([wrap.update(pkcs8), wrap.final()]);
    const spki = pair.publicKey.export({ format: 'der', type: 'spki' });
    const { manifest } = JSON.parse(backups.exportFile(setId)) as { manifest: ManifestV2 };
    const forged = {
      ...manifest.keys[0]!,
      id: randomBytes(16).toString('hex'),
      wrapped: wrapped.toString('base64'),
      publicKey: spki.toString('base64'),
      fingerprint: createHash('sha256').update(spki).digest('hex'),
    };
    storeForged(setId, kek, { ...manifest, keys: [forged] });
    // Before: proposed, and refused only once the cards were in (RESTORE_MISMATCH, as the token read the key back).
    expect(() =>
      quorum.propose({ custodyId: source, action: 'key.restore', params: { setId }, requestedBy: id(0) }),
    ).toThrow(
      expect.objectContaining({
        code: 'BACKUP_INVALID',
        message: expect.stringContaining('is RSA-2048, not RSA-3072'),
      }),
    );
    expect(() => inventory.get(forged.id)).toThrow();
  });

  it('writes no date, cryptoperiod or fingerprint Custos never records: refused when proposed and when run', async () => {
    const sealing = await generate('AES-256', 'encrypt');
    const signing = await generate('EC-P256');
    const setId = await backUp([sealing, signing]);
    const cards = backups.printableCards(setId);
    const kek = Buffer.from(await combine(cards.slice(0, 2).map((c) => Uint8Array.from(decodeCard(c.text).share))));
    const target = await freshCustody('target');
    // Proposed and approved while the set was genuine; the forged manifest takes its place before the cards are in.
    const restore = await approved(target, 'key.restore', { setId });
    const { manifest } = JSON.parse(backups.exportFile(setId)) as { manifest: ManifestV2 };
    const [aes, ec] = manifest.keys as [ManifestV2['keys'][0], ManifestV2['keys'][0]];
    // The real keys under new ids, so a restore would add them to the inventory as the manifest describes them.
    const forged = [
      { ...aes, id: randomBytes(16).toString('hex'), createdAt: 'garbage', cryptoperiodDays: 0 },
      { ...ec, id: randomBytes(16).toString('hex'), fingerprint: 'ab'.repeat(32), expiresAt: '1999-12-31T00:00:00Z' },
    ];
    storeForged(setId, kek, { ...manifest, keys: forged });
    await backups.enterShare(restore.id, cards[0]!.text);
    // Before: executed, and the inventory held a key created at “garbage” with a 0-day cryptoperiod.
    expect(await backups.enterShare(restore.id, cards[1]!.text)).toMatchObject({
      state: 'failed',
      outcome: {
        code: 'BACKUP_INVALID',
        message: expect.stringMatching(
          /“AES-256 encrypt” \([0-9a-f]{32}\): createdAt is not a UTC time.*nothing was restored/,
        ),
        remedy: expect.arrayContaining([
          expect.stringContaining('cryptoperiodDays is not a whole number of days from 1 to 3650'),
          expect.stringContaining('fingerprint is not the SHA-256 of its public key'),
          expect.stringContaining('expiresAt is before its createdAt'),
        ]),
      },
    });
    for (const key of forged) expect(() => inventory.get(key.id)).toThrow();
    expect(await bed.objectsIn(target)).toBe(0);
    expect(() =>
      quorum.propose({ custodyId: target, action: 'key.restore', params: { setId }, requestedBy: id(0) }),
    ).toThrow(expect.objectContaining({ code: 'BACKUP_INVALID', message: expect.stringContaining('createdAt') }));
  });

  it('refuses an RSA private key that carries the recorded modulus but not its private exponent and primes', async () => {
    const signing = await generate('RSA-3072');
    const setId = await backUp([signing]);
    const cards = backups.printableCards(setId);
    const kek = Buffer.from(await combine(cards.slice(0, 2).map((c) => Uint8Array.from(decodeCard(c.text).share))));
    // A forger with cards of their own cannot have the key, but can pair its public modulus with primes of their own.
    const { manifest } = JSON.parse(backups.exportFile(setId)) as { manifest: ManifestV2 };
    const recorded = createPublicKey({ key: inventory.publicKey(signing)!, format: 'der', type: 'spki' });
    const { n, e } = recorded.export({ format: 'jwk' });
    const other = generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey.export({ format: 'jwk' });
    const chimera = createPrivateKey({ key: { ...other, n, e }, format: 'jwk' }).export({
      format: 'der',
      type: 'pkcs8',
    });
    const wrap = createCipheriv('id-aes256-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
    const forged = {
      ...manifest.keys[0]!,
      wrapped: Buffer.concat([wrap.update(chimera), wrap.final()]).toString('base64'),
    };
    storeForged(setId, kek, { ...manifest, keys: [forged] });
    const restore = await approved(await freshCustody('target'), 'key.restore', { setId });
    await backups.enterShare(restore.id, cards[0]!.text);
    expect(await backups.enterShare(restore.id, cards[1]!.text)).toMatchObject({
      state: 'failed',
      outcome: { code: 'RESTORE_MISMATCH', message: expect.stringContaining('its signature does not verify') },
    });
    expect(inventory.get(signing).token.label).toBe('source');
  });

  it('refuses a set describing a key in a state, usage or algorithm the inventory does not have', async () => {
    const setId = await backUp([await generate('AES-256', 'encrypt')]);
    const cards = backups.printableCards(setId);
    const kek = Buffer.from(await combine(cards.slice(0, 2).map((c) => Uint8Array.from(decodeCard(c.text).share))));
    const { manifest } = JSON.parse(backups.exportFile(setId)) as { manifest: ManifestV2 };
    // As a forger with cards of their own writes it: a key new to the inventory, in a state Custos never gives.
    const forged = { ...manifest.keys[0]!, id: randomBytes(16).toString('hex'), state: 'trusted-forever' };
    storeForged(setId, kek, { ...manifest, keys: [forged] });
    const target = await freshCustody('target');
    expect(() =>
      quorum.propose({ custodyId: target, action: 'key.restore', params: { setId }, requestedBy: id(0) }),
    ).toThrow(expect.objectContaining({ code: 'BACKUP_INVALID' }));
  });

  it('keeps no KEK, share or key bytes in the database, and leaves no KEK in the token', async () => {
    const setId = await backUp([await generate('AES-256', 'encrypt')]);
    const cards = backups.printableCards(setId).map((c) => decodeCard(c.text).share);
    expect(trustedObjects()).toBe(0);
    const files = [DATABASE_FILE, `${DATABASE_FILE}-wal`]
      .filter((name) => existsSync(join(dataDir, name)))
      .map((name) => readFileSync(join(dataDir, name)));
    for (const share of cards) for (const file of files) expect(file.includes(share.subarray(1, 17))).toBe(false);
  });
});

describe('the wrap mechanism', () => {
  it('is chosen from the token’s probe, and SoftHSM2’s CKM_AES_KEY_WRAP_PAD is RFC 5649 (checked against node:crypto)', async () => {
    const mechanism = chooseWrapMechanism(f.module.mechanisms(f.custody.record(source).token));
    expect(mechanism).toEqual({ type: 0x210a, name: 'CKM_AES_KEY_WRAP_PAD' });
    expect(() => chooseWrapMechanism([])).toThrow(expect.objectContaining({ code: 'MECHANISM_INVALID' }));
    const kek = randomBytes(32);
    const value = randomBytes(32);
    const token = f.custody.record(source).token;
    return f.custody.rebuildPin(source, 'user', await keysOf(0, 1)).then((pin) => {
      const wrapped = f.module.withSession(
        token,
        { write: true, login: { user: 'user', pin: pin.toString('latin1') } },
        (session, lib) => {
          const t = (type: number, v: pkcs11js.Template[number]['value']) => ({ type, value: v });
          const aes = [
            t(pkcs11js.CKA_CLASS, pkcs11js.CKO_SECRET_KEY),
            t(pkcs11js.CKA_KEY_TYPE, pkcs11js.CKK_AES),
            t(pkcs11js.CKA_TOKEN, false),
          ];
          const wrapping = lib.C_CreateObject(session, [
            ...aes,
            t(pkcs11js.CKA_VALUE, kek),
            t(pkcs11js.CKA_WRAP, true),
          ]);
          const target = lib.C_CreateObject(session, [
            ...aes,
            t(pkcs11js.CKA_VALUE, value),
            t(pkcs11js.CKA_EXTRACTABLE, true),
          ]);
          return lib.C_WrapKey(session, { mechanism: mechanism.type }, wrapping, target, Buffer.alloc(64));
        },
      );
      const cipher = createCipheriv('id-aes256-wrap-pad', kek, Buffer.from('A65959A6', 'hex'));
      expect(wrapped).toEqual(Buffer.concat([cipher.update(value), cipher.final()]));
    });
  });
});

/** Trusted keys left in the source token: a backup's KEK must never outlive its ceremony. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : entry.isFile() ? [path] : [];
  });
}

function trustedObjects(): number {
  return f.module.withSession(f.custody.record(source).token, {}, (session, lib) => {
    lib.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_TRUSTED, value: true }]);
    const found = lib.C_FindObjects(session, 10).length;
    lib.C_FindObjectsFinal(session);
    return found;
  });
}

function keysOf(...who: number[]) {
  return Promise.all(
    f.holders(...who).map(async (h) => ({
      custodianId: h.custodianId,
      key: await f.custodians.verifyFactors(h.custodianId, h.passphrase, h.code, 'test'),
    })),
  );
}
