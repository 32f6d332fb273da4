import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { totpCodeAt } from '../custodians/totp';
import { findObjects } from '../hsm/find-objects';
import { findSoftHsmLibrary, softHsmPaths } from '../hsm/softhsm';
import type { QuorumService } from '../quorum/quorum-service';
import { sql } from '../store/sql';
import { plantAheadOfKey, plantPublicKey } from '../testing/planted-objects';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { keyChecks, keyOperations } from './key-operations';
import { quorumDrill } from '../quorum/drill';
import { KeyInventory } from './key-inventory';
import { inUtc, keyChangeRefusal } from '../../../shared/key-lifecycle';
import { type CustosError, wireError } from '../errors';
import { signedEntries } from '../audit/signed-entries';
import { canonicalJson, sha256Hex } from '../canonical-json';
import { GENERATE_PLANTED_REMOVED } from './key-inventory';

let dataDir: string;
let cleanup: () => void;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let quorum: QuorumService;
let custodyId: string;
let inventory: KeyInventory;

beforeEach(async () => {
  ({ dataDir, cleanup } = tempDataDir());
  f = await quorumFixture(dataDir, [
    { name: 'Ada' },
    { name: 'Babbage' },
    { name: 'Curie' },
    { name: 'Olga', roles: ['security-officer'] },
  ]);
  inventory = new KeyInventory(f.opened.store, f.opened.audit, () => f.clock.now);
  quorum = f.quorum(
    { 'token.quorum-drill': quorumDrill, ...keyOperations(f.opened.store, () => f.clock.now, inventory) },
    {},
    undefined,
    keyChecks(f.opened.store, () => f.clock.now, inventory),
  );
  custodyId = (
    await f.custody.take({ token: { serial: '', label: '' }, threshold: 2, holders: f.holders(0, 1, 2), label: 'keys' })
  ).id;
});
afterEach(() => {
  quorum.forgetAll();
  f.close();
  cleanup();
});

const propose = (action: string, params: unknown) =>
  quorum.propose({ custodyId, action, params, requestedBy: f.enrolled[0]!.id });
async function approved(action: string, params: unknown, approvers = action === 'key.destroy' ? [1, 2, 3] : [1, 2]) {
  return f.approveAll(quorum, propose(action, params), approvers);
}
const generate = (algorithm: string, usage = 'sign', label = `${algorithm} test key`, cryptoperiodDays = 730) =>
  approved('key.generate', {
    algorithm,
    label,
    usage,
    backupable: false,
    cryptoperiodDays,
    ckaId: randomBytes(16).toString('hex'),
  });

describe('key generation ceremony', () => {
  it('generates an EC P-256 key in the token with two approvals, lists it without login, and signs verifiably', async () => {
    const done = await generate('EC-P256', 'sign', 'payments-signing');
    expect(done).toMatchObject({
      state: 'executed',
      outcome: { status: 'ok', result: { algorithm: 'EC-P256', fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/) } },
    });
    const keyId = (done.outcome as { result: { keyId: string } }).result.keyId;
    const key = f.opened.store.get<{ state: string; public_key: Buffer; expires_at: string }>(
      sql`SELECT state, public_key, expires_at FROM keys WHERE id = ${keyId}`,
    )!;
    expect(key.state).toBe('pre-activation');

    // OpenSC sees the public key without any login.
    const listed = execFileSync(
      'pkcs11-tool',
      ['--module', findSoftHsmLibrary()!, '--token-label', 'keys', '--list-objects', '--type', 'pubkey'],
      {
        env: { ...process.env, SOFTHSM2_CONF: softHsmPaths(dataDir).configPath },
        encoding: 'utf8',
      },
    );
    expect(listed).toContain('payments-signing');
    expect(listed).toContain(`ID:         ${keyId}`);

    expect((await approved('key.activate', { keyId })).state).toBe('executed');
    const signed = await approved('key.test-signature', { keyId, challenge: 'custos key check 2026-11-30' });
    expect(signed.outcome).toMatchObject({ status: 'ok' });
    const { signature } = (signed.outcome as { result: { signature: string } }).result;
    const pem = join(dataDir, 'key.pem');
    writeFileSync(pem, `-----BEGIN PUBLIC KEY-----\n${key.public_key.toString('base64')}\n-----END PUBLIC KEY-----\n`);
    writeFileSync(join(dataDir, 'msg'), 'custos key check 2026-11-30');
    writeFileSync(join(dataDir, 'sig'), Buffer.from(signature, 'base64'));
    expect(
      execFileSync(
        'openssl',
        ['dgst', '-sha256', '-verify', pem, '-signature', join(dataDir, 'sig'), join(dataDir, 'msg')],
        { encoding: 'utf8' },
      ),
    ).toMatch(/Verified OK/);
  });

  it.each([['Ed25519'], ['EC-P384'], ['RSA-3072']])(
    'generates %s in the token and records its public key',
    async (algorithm) => {
      const done = await generate(algorithm);
      expect(done.state).toBe('executed');
      const keyId = (done.outcome as { result: { keyId: string } }).result.keyId;
      expect(f.opened.store.get<{ algorithm: string }>(sql`SELECT algorithm FROM keys WHERE id = ${keyId}`)).toEqual({
        algorithm,
      });
    },
  );

  it('generates an AES-256 key and records its check value', async () => {
    const done = await generate('AES-256', 'encrypt');
    expect((done.outcome as { result: { kcv: string } }).result.kcv).toMatch(/^[0-9A-F]{6}$/);
  });

  it('refuses to generate an algorithm the policy disallows on the day', async () => {
    f.clock.now = new Date('2036-01-02T00:00:00Z');
    const done = await generate('EC-P256');
    expect(done).toMatchObject({ state: 'failed', outcome: { status: 'failed', code: 'ALGORITHM_DISALLOWED' } });
  });

  it('refuses to activate, reactivate or sign with a key whose algorithm the policy has since disallowed', async () => {
    // Ten years: the keys are still within their usage period when the policy disallows EC P-256.
    const tenYears = async () =>
      ((await generate('EC-P256', 'sign', 'EC-P256 test key', 3650)).outcome as { result: { keyId: string } }).result
        .keyId;
    const keyId = await tenYears();
    const active = await tenYears();
    expect((await approved('key.activate', { keyId: active })).state).toBe('executed');
    f.clock.now = new Date('2035-12-31T23:50:00Z');
    const signature = propose('key.test-signature', { keyId: active, challenge: 'still ours?' });
    f.clock.now = new Date('2036-01-01T00:00:00Z');
    expect(() => propose('key.activate', { keyId })).toThrow(
      expect.objectContaining({
        code: 'ALGORITHM_DISALLOWED',
        remedy: expect.arrayContaining([expect.stringContaining('policy allows')]),
      }),
    );
    // SP 800-131A: a disallowed algorithm applies no protection, whenever the key was activated.
    const disallowed = expect.objectContaining({ code: 'ALGORITHM_DISALLOWED' });
    expect(() => propose('key.test-signature', { keyId: active, challenge: 'still ours?' })).toThrow(disallowed);
    expect((await f.approveAll(quorum, signature, [1, 2])).outcome).toMatchObject({ code: 'ALGORITHM_DISALLOWED' });
    const olga = { type: 'custodian', id: f.enrolled[3]!.id, role: 'security-officer' } as const;
    expect(inventory.transition(active, 'suspend', 'security-officer', olga).state).toBe('suspended');
    expect(() => propose('key.reactivate', { keyId: active })).toThrow(disallowed);
  });
});

describe('a key id someone planted objects under with no PIN', () => {
  const params = () => ({
    algorithm: 'EC-P256',
    label: 'planted-on',
    usage: 'sign',
    backupable: false,
    cryptoperiodDays: 730,
    ckaId: randomBytes(16).toString('hex'),
  });
  const byId = (ckaId: string) => [{ type: pkcs11js.CKA_ID, value: Buffer.from(ckaId, 'hex') }];
  const underId = (ckaId: string) =>
    f.loggedIn(custodyId, [0, 1], (session, lib) => findObjects(lib, session, byId(ckaId), 100).length);
  /** A session with no login, as anyone on the machine can open. */
  const noPin = (run: (session: Buffer, lib: pkcs11js.PKCS11) => unknown) =>
    void f.module.withSession(f.custody.record(custodyId).token, { write: true }, run);
  /** A key pair the token generates with no PIN: every object CKA_PRIVATE false, CKA_LOCAL true all the same. */
  const plantPair = (ckaId: string) =>
    noPin((session, lib) =>
      lib.C_GenerateKeyPair(
        session,
        { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
        [
          ...byId(ckaId),
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_PRIVATE, value: false },
          { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from('06082a8648ce3d030107', 'hex') },
        ],
        [...byId(ckaId), { type: pkcs11js.CKA_TOKEN, value: true }, { type: pkcs11js.CKA_PRIVATE, value: false }],
      ),
    );
  const plantedRecords = () =>
    signedEntries(f.opened.store, f.opened.audit, { action: GENERATE_PLANTED_REMOVED, anyObject: true });

  it('generates the approved key, destroying what was planted and recording how much', async () => {
    const p = params();
    const proposal = propose('key.generate', p);
    // Public key objects the token lists first, a secret key, and a key pair the token generated: none took a PIN.
    const planted = await plantAheadOfKey(f, custodyId, p.ckaId, pkcs11js.CKO_PUBLIC_KEY);
    noPin((session, lib) => plantPublicKey(lib, session, p.ckaId, pkcs11js.CKO_SECRET_KEY));
    plantPair(p.ckaId);
    const done = await f.approveAll(quorum, proposal, [1, 2]).finally(planted.close);
    // Before: refused ATTRIBUTE_INVALID, the approved step blocked by whoever planted one object.
    expect(done.outcome, JSON.stringify(done.outcome)).toMatchObject({ status: 'ok', result: { keyId: p.ckaId } });
    expect(await underId(p.ckaId)).toBe(2);
    const removal = { keyId: p.ckaId, token: proposal.token, removed: 7, left: 0 };
    expect(plantedRecords()).toEqual([
      expect.objectContaining({
        object: { type: 'proposal', id: proposal.id },
        params: sha256Hex(canonicalJson(removal)),
      }),
    ]);
    // The key registered is the one the token made with the PIN, and it signs.
    expect((await approved('key.activate', { keyId: p.ckaId })).state).toBe('executed');
    const signed = await approved('key.test-signature', { keyId: p.ckaId, challenge: 'ours?' });
    expect(signed.outcome).toMatchObject({ status: 'ok' });
  });

  it('refuses, removing nothing, where an object made with the PIN is under the id', async () => {
    const p = params();
    const proposal = propose('key.generate', p);
    await f.loggedIn(custodyId, [0, 1], (session, lib) =>
      lib.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
        ...byId(p.ckaId),
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      ]),
    );
    noPin((session, lib) => plantPublicKey(lib, session, p.ckaId, pkcs11js.CKO_PUBLIC_KEY));
    const done = await f.approveAll(quorum, proposal, [1, 2]);
    expect(done.outcome).toMatchObject({
      status: 'failed',
      code: 'ATTRIBUTE_INVALID',
      message: expect.stringContaining('made with the PIN'),
    });
    expect(await underId(p.ckaId)).toBe(2);
    expect(plantedRecords()).toEqual([]);
  });

  it('refuses, recording what went and what stayed, when the token will not destroy a planted object', async () => {
    const p = params();
    const proposal = propose('key.generate', p);
    noPin((session, lib) => {
      plantPublicKey(lib, session, p.ckaId, pkcs11js.CKO_PUBLIC_KEY);
      // CKA_DESTROYABLE (0x172) false, as anyone may make it.
      plantPublicKey(lib, session, p.ckaId, pkcs11js.CKO_PUBLIC_KEY, [{ type: 0x172, value: false }]);
    });
    const done = await f.approveAll(quorum, proposal, [1, 2]);
    expect(done.outcome).toMatchObject({
      status: 'failed',
      code: 'ATTRIBUTE_INVALID',
      message: expect.stringContaining('will not destroy (CKA_DESTROYABLE false); nothing was generated'),
    });
    expect(await underId(p.ckaId)).toBe(1);
    expect(() => inventory.get(p.ckaId)).toThrow(expect.objectContaining({ code: 'KEY_NOT_FOUND' }));
    const removal = { keyId: p.ckaId, token: proposal.token, removed: 1, left: 1 };
    expect(plantedRecords().map((e) => e.params)).toEqual([sha256Hex(canonicalJson(removal))]);
  });
});

describe('key states (SP 800-57)', () => {
  const officer = { type: 'custodian', id: 'olga', role: 'security-officer' } as const;

  it('activates by quorum, suspends and marks compromised by one security officer, and refuses what SP 800-57 does not allow', async () => {
    const keyId = ((await generate('EC-P256')).outcome as { result: { keyId: string } }).result.keyId;
    expect(() => inventory.transition(keyId, 'activate', 'security-officer', officer)).toThrow(
      expect.objectContaining({ code: 'NOT_AUTHORIZED' }),
    );
    expect((await approved('key.activate', { keyId })).state).toBe('executed');
    expect(inventory.get(keyId).state).toBe('active');
    expect(inventory.transition(keyId, 'suspend', 'security-officer', officer).state).toBe('suspended');
    expect((await approved('key.reactivate', { keyId })).state).toBe('executed');
    expect(inventory.get(keyId).state).toBe('active');
    expect(inventory.transition(keyId, 'compromise', 'security-officer', officer, 'laptop stolen').state).toBe(
      'compromised',
    );
    // Refused when proposed, before anyone's approval is spent.
    expect(() => propose('key.activate', { keyId })).toThrow(
      expect.objectContaining({ code: 'KEY_STATE_FORBIDS', remedy: [expect.stringContaining('never used again')] }),
    );
    expect(inventory.get(keyId).state).toBe('compromised');
  });

  it('exports the public key as PEM and JWK, and has none to give for AES', async () => {
    const keyId = ((await generate('Ed25519')).outcome as { result: { keyId: string } }).result.keyId;
    expect(inventory.exportPublic(keyId, 'pem')).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(JSON.parse(inventory.exportPublic(keyId, 'jwk'))).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: keyId });
    const aes = ((await generate('AES-256', 'encrypt')).outcome as { result: { keyId: string } }).result.keyId;
    expect(() => inventory.exportPublic(aes, 'pem')).toThrow(
      expect.objectContaining({ code: 'KEY_TYPE_UNSUITED', message: expect.stringContaining('its check value') }),
    );
    expect(() => propose('key.test-signature', { keyId: aes, challenge: 'sign?' })).toThrow(
      expect.objectContaining({ code: 'KEY_TYPE_UNSUITED' }),
    );
    expect(() => inventory.exportPublic('0'.repeat(32), 'pem')).toThrow(
      expect.objectContaining({ code: 'KEY_NOT_FOUND' }),
    );
  });
});

describe('scheduled destruction', () => {
  const keyOf = (view: { outcome: unknown }) => (view.outcome as { result: { keyId: string } }).result.keyId;
  const days = (n: number) => (f.clock.now = new Date(f.clock.now.getTime() + n * 86_400_000));
  const listed = () =>
    execFileSync('pkcs11-tool', ['--module', findSoftHsmLibrary()!, '--token-label', 'keys', '--list-objects'], {
      env: { ...process.env, SOFTHSM2_CONF: softHsmPaths(dataDir).configPath },
      encoding: 'utf8',
    });

  it('lists a key as due for destruction exactly when the core then accepts key.destroy', async () => {
    const keyId = keyOf(await generate('EC-P256', 'sign', 'due-when-listed'));
    await approved('key.schedule-destruction', { keyId, waitDays: 7 });
    const waiting = inventory.get(keyId);
    expect(waiting.destructionDue).toBe(false);
    expect(keyChangeRefusal(waiting, 'key.destroy')?.message).toContain(
      `Destruction can be proposed from ${inUtc(waiting.destructionNotBefore!)}`,
    );
    f.clock.now = new Date(Date.parse(waiting.destructionNotBefore!) - 60_000);
    expect(inventory.get(keyId).destructionDue).toBe(false);
    expect(() => propose('key.destroy', { keyId })).toThrow(expect.objectContaining({ code: 'DESTRUCTION_WAITING' }));
    f.clock.now = new Date(waiting.destructionNotBefore!);
    const due = inventory.get(keyId);
    expect(due.destructionDue).toBe(true);
    expect(keyChangeRefusal(due, 'key.destroy')).toBeNull();
    expect((await approved('key.destroy', { keyId })).state).toBe('executed');
  });

  it('waits, refuses early destruction and use, then destroys every object and records the proof of absence', async () => {
    const keyId = ((await generate('EC-P256', 'sign', 'to-be-destroyed')).outcome as { result: { keyId: string } })
      .result.keyId;
    await approved('key.activate', { keyId });
    expect((await approved('key.schedule-destruction', { keyId, waitDays: 7 })).state).toBe('executed');
    expect(() => propose('key.destroy', { keyId })).toThrow(
      expect.objectContaining({ code: 'DESTRUCTION_WAITING', message: expect.stringContaining('waiting period ends') }),
    );
    expect(() => propose('key.test-signature', { keyId, challenge: 'still usable?' })).toThrow(
      expect.objectContaining({ code: 'DESTRUCTION_WAITING' }),
    );
    expect(() => propose('key.schedule-destruction', { keyId, waitDays: 7 })).toThrow(
      expect.objectContaining({ code: 'DESTRUCTION_WAITING', message: expect.stringContaining('already scheduled') }),
    );
    expect(listed()).toContain('to-be-destroyed');
    days(7);
    const destroyed = await approved('key.destroy', { keyId });
    const [ada, babbage, curie, officer] = f.enrolled.map((c) => c.id);
    expect(destroyed).toMatchObject({
      state: 'executed',
      outcome: {
        status: 'ok',
        result: { objectsDestroyed: 2, remaining: 0, proposedBy: ada, approvedBy: [babbage, curie, officer] },
      },
    });
    expect(listed()).not.toContain('to-be-destroyed');
    expect(inventory.get(keyId).state).toBe('destroyed');
    const entries = [...f.opened.audit.log().entries()].map((e) => JSON.parse(e.entry) as { action: string });
    expect(entries.map((e) => e.action)).toContain('key.destroyed');
  });

  it('counts only a half made with the PIN as the key: planted objects neither pass for it nor block it', async () => {
    const [kept, gone] = [keyOf(await generate('EC-P256')), keyOf(await generate('EC-P256'))];
    for (const keyId of [kept, gone]) await approved('key.schedule-destruction', { keyId, waitDays: 7 });
    const byId = (keyId: string) => [{ type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') }];
    // No PIN needed: a key pair generated with CKA_PRIVATE false (CKA_LOCAL true all the same), its private half
    // made undestroyable (CKA_DESTROYABLE 0x172).
    const plant = (keyId: string, destroyable: boolean) =>
      f.module.withSession(f.custody.record(custodyId).token, { write: true }, (session, lib) =>
        lib.C_GenerateKeyPair(
          session,
          { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
          [
            ...byId(keyId),
            { type: pkcs11js.CKA_TOKEN, value: true },
            { type: pkcs11js.CKA_PRIVATE, value: false },
            { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from('06082a8648ce3d030107', 'hex') },
          ],
          [
            ...byId(keyId),
            { type: pkcs11js.CKA_TOKEN, value: true },
            { type: pkcs11js.CKA_PRIVATE, value: false },
            { type: 0x172, value: destroyable },
          ],
        ),
      );
    plant(kept, false);
    // The other key's own objects are gone (deleted with the PIN outside Custos); only the planted pair is left.
    await f.loggedIn(custodyId, [0, 1], (session, lib) =>
      findObjects(lib, session, byId(gone), 10).forEach((handle) => lib.C_DestroyObject(session, handle)),
    );
    plant(gone, true);
    days(7);

    const refused = await approved('key.destroy', { keyId: gone });
    expect(refused).toMatchObject({ state: 'failed', outcome: { status: 'failed', code: 'KEY_OBJECTS_MISSING' } });
    expect(inventory.get(gone).state).not.toBe('destroyed');
    const left = (keyId: string) =>
      f.loggedIn(custodyId, [0, 1], (session, lib) => findObjects(lib, session, byId(keyId), 10).length);
    expect(await left(gone)).toBe(2);

    const destroyed = await approved('key.destroy', { keyId: kept });
    expect(destroyed).toMatchObject({
      state: 'executed',
      outcome: { result: { objectsDestroyed: 2, remaining: 0, othersDestroyed: 1, othersLeft: 1 } },
    });
    expect(inventory.get(kept).state).toBe('destroyed');
    expect(await left(kept)).toBe(1);
  });

  it('destroys the key’s public half and proves it gone however many objects were planted ahead of it', async () => {
    const keyId = keyOf(await generate('EC-P256'));
    await approved('key.schedule-destruction', { keyId, waitDays: 7 });
    const byId = [{ type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') }];
    // No PIN needed: more public key objects than one search of 100 returns, none the key, none destroyable, all
    // listed ahead of the key's own public half.
    const undestroyable = [{ type: 0x172, value: false }];
    const planted = await plantAheadOfKey(f, custodyId, keyId, pkcs11js.CKO_PUBLIC_KEY, (lib, session) => {
      // Called four times: 104 in all.
      for (let i = 0; i < 26; i++) plantPublicKey(lib, session, keyId, pkcs11js.CKO_PUBLIC_KEY, undestroyable);
    });
    days(7);
    const destroyed = await approved('key.destroy', { keyId }).finally(planted.close);
    // Before: the search saw only planted objects, so the key's public half stayed, uncounted, under "remaining: 0".
    expect(destroyed.outcome).toMatchObject({
      status: 'ok',
      result: { objectsDestroyed: 2, remaining: 0, othersDestroyed: 0, othersLeft: 104 },
    });
    const labels = await f.loggedIn(custodyId, [0, 1], (session, lib) =>
      findObjects(lib, session, byId, 1000).map((handle) =>
        String(lib.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_LABEL }])[0]?.value),
      ),
    );
    expect(labels).toHaveLength(104);
    expect(new Set(labels)).toEqual(new Set(['planted']));
  });

  it('can be cancelled by the quorum during the wait, after which the key works again', async () => {
    const keyId = ((await generate('EC-P256')).outcome as { result: { keyId: string } }).result.keyId;
    await approved('key.activate', { keyId });
    await approved('key.schedule-destruction', { keyId, waitDays: 30 });
    expect((await approved('key.cancel-destruction', { keyId })).state).toBe('executed');
    days(31);
    expect(() => propose('key.destroy', { keyId })).toThrow(
      expect.objectContaining({ code: 'DESTRUCTION_NOT_SCHEDULED' }),
    );
    expect(() => propose('key.cancel-destruction', { keyId })).toThrow(
      expect.objectContaining({ code: 'DESTRUCTION_NOT_SCHEDULED' }),
    );
    expect((await approved('key.test-signature', { keyId, challenge: 'usable again' })).state).toBe('executed');
  });

  it('refuses, warns and records when the clock is seen to have gone backwards', async () => {
    const keyId = ((await generate('EC-P256')).outcome as { result: { keyId: string } }).result.keyId;
    await approved('key.schedule-destruction', { keyId, waitDays: 7 });
    days(12);
    // Approvals at the later time, so the codes' time steps on record are from then.
    await approved('token.quorum-drill', {});
    f.clock.now = new Date(f.clock.now.getTime() - 3 * 86_400_000);
    await expect(approved('key.destroy', { keyId })).rejects.toMatchObject({ code: 'CLOCK_BACKWARDS' });
    expect(inventory.get(keyId).state).not.toBe('destroyed');
    const entries = [...f.opened.audit.log().entries()].map((e) => (JSON.parse(e.entry) as { action: string }).action);
    expect(entries).toContain('system.clock-backwards');
  });

  it('refuses to destroy, as CLOCK_BACKWARDS, when the clock reads earlier than the scheduling', async () => {
    const keyId = ((await generate('EC-P256')).outcome as { result: { keyId: string } }).result.keyId;
    await approved('key.schedule-destruction', { keyId, waitDays: 7 });
    days(-1);
    expect(() => propose('key.destroy', { keyId })).toThrow(
      expect.objectContaining({ code: 'CLOCK_BACKWARDS', message: expect.stringContaining('went backwards') }),
    );
  });
});

describe('per-action policy on top of the cryptographic floor', () => {
  it('destruction needs a security officer besides the share holders, and says so', async () => {
    const keyId = ((await generate('EC-P256')).outcome as { result: { keyId: string } }).result.keyId;
    await approved('key.schedule-destruction', { keyId, waitDays: 7 });
    f.clock.now = new Date(f.clock.now.getTime() + 8 * 86_400_000);
    const onlyHolders = await approved('key.destroy', { keyId }, [1, 2]);
    expect(onlyHolders).toMatchObject({
      state: 'open',
      threshold: 2,
      securityOfficersRequired: 1,
      securityOfficersApproved: 0,
    });
    expect(onlyHolders.approvals.every((a) => a.held)).toBe(true);
    f.tick();
    const olga = f.enrolled[3]!;
    const done = await quorum.approve({
      proposalId: onlyHolders.id,
      custodianId: olga.id,
      passphrase: olga.passphrase,
      code: totpCodeAt(olga.secret, f.clock.now),
      fingerprint: onlyHolders.shortFingerprint,
    });
    expect(done).toMatchObject({ state: 'executed', securityOfficersApproved: 1 });
    expect(inventory.get(keyId).state).toBe('destroyed');
  });

  it('refuses an approver who holds no share where no policy asks for officers', async () => {
    const proposal = quorum.propose({
      custodyId,
      action: 'key.generate',
      params: {
        algorithm: 'EC-P256',
        label: 'x',
        usage: 'sign',
        backupable: false,
        cryptoperiodDays: 730,
        ckaId: randomBytes(16).toString('hex'),
      },
      requestedBy: f.enrolled[0]!.id,
    });
    f.tick();
    const olga = f.enrolled[3]!;
    await expect(
      quorum.approve({
        proposalId: proposal.id,
        custodianId: olga.id,
        passphrase: olga.passphrase,
        code: totpCodeAt(olga.secret, f.clock.now),
        fingerprint: proposal.shortFingerprint,
      }),
    ).rejects.toMatchObject({ code: 'NOT_AUTHORIZED' });
  });
});

describe('only an active key is used, and state is checked when proposed and again when run', () => {
  const officer = { type: 'custodian', id: 'olga', role: 'security-officer' } as const;
  const keyOf = (view: { outcome: unknown }) => (view.outcome as { result: { keyId: string } }).result.keyId;
  const sign = (keyId: string) => propose('key.test-signature', { keyId, challenge: 'may this key sign?' });

  it('refuses a test signature with a key that is not active, when proposed', async () => {
    const pre = keyOf(await generate('EC-P256', 'sign', 'pre-activation'));
    expect(() => sign(pre)).toThrow(
      expect.objectContaining({ code: 'KEY_STATE_FORBIDS', message: expect.stringContaining('pre-activation') }),
    );
    for (const [transition, state] of [
      ['suspend', 'suspended'],
      ['compromise', 'compromised'],
    ] as const) {
      const keyId = keyOf(await generate('EC-P256', 'sign', state));
      await approved('key.activate', { keyId });
      inventory.transition(keyId, transition, 'security-officer', officer, 'the reason');
      expect(() => sign(keyId)).toThrow(
        expect.objectContaining({ code: 'KEY_STATE_FORBIDS', message: expect.stringContaining(state) }),
      );
    }
    const retired = keyOf(await generate('EC-P256', 'sign', 'retired'));
    await approved('key.activate', { keyId: retired });
    await approved('key.deactivate', { keyId: retired });
    expect(() => sign(retired)).toThrow(
      expect.objectContaining({ code: 'KEY_STATE_FORBIDS', message: expect.stringContaining('deactivated') }),
    );
    // Reactivation is only from suspended (SP 800-57): refused before the quorum spends its approvals.
    expect(() => propose('key.reactivate', { keyId: retired })).toThrow(
      expect.objectContaining({ code: 'KEY_STATE_FORBIDS' }),
    );
    const entries = [...f.opened.audit.log().entries()].map((e) => (JSON.parse(e.entry) as { action: string }).action);
    // Four generations, three activations, one deactivation: none of the refused ones became a proposal.
    expect(entries.filter((a) => a === 'proposal.create')).toHaveLength(8);
  });

  it('refuses a test signature by a key swapped in under the same CKA_ID (the PIN holder’s), signing nothing', async () => {
    const keyId = keyOf(await generate('EC-P256', 'sign', 'swapped'));
    await approved('key.activate', { keyId });
    // Same id, label and attributes, other key material: its own public half would verify the signature.
    await f.loggedIn(custodyId, [0, 1], (session, lib) => {
      const id = { type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') };
      findObjects(lib, session, [id], 10).forEach((handle) => lib.C_DestroyObject(session, handle));
      const common = [id, { type: pkcs11js.CKA_TOKEN, value: true }, { type: pkcs11js.CKA_LABEL, value: 'swapped' }];
      lib.C_GenerateKeyPair(
        session,
        { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
        [...common, { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from('06082a8648ce3d030107', 'hex') }],
        [...common, { type: pkcs11js.CKA_PRIVATE, value: true }, { type: pkcs11js.CKA_SIGN, value: true }],
      );
    });
    const done = await approved('key.test-signature', { keyId, challenge: 'whose key signs?' });
    expect(done).toMatchObject({ state: 'failed', outcome: { status: 'failed', code: 'KEY_MATERIAL_MISMATCH' } });
    expect(JSON.stringify(done.outcome)).not.toContain('signature":');
  });

  it('signs with the key’s own private half, not a public object planted under its id with no login', async () => {
    const keyId = keyOf(await generate('EC-P256', 'sign', 'genuine'));
    await approved('key.activate', { keyId });
    const planted = await plantAheadOfKey(f, custodyId, keyId, pkcs11js.CKO_PRIVATE_KEY);
    const done = await approved('key.test-signature', { keyId, challenge: 'whose key signs?' }).finally(planted.close);
    // Before: the planted key signed first, and the run failed KEY_MATERIAL_MISMATCH blaming someone with the PIN.
    expect(done.outcome, JSON.stringify(done.outcome)).toMatchObject({ status: 'ok' });
  });

  it('refuses at run time a key suspended after the signature was proposed, and signs nothing', async () => {
    const keyId = keyOf(await generate('EC-P256'));
    await approved('key.activate', { keyId });
    const proposal = sign(keyId);
    inventory.transition(keyId, 'suspend', 'security-officer', officer);
    const done = await f.approveAll(quorum, proposal, [1, 2]);
    expect(done).toMatchObject({ state: 'failed', outcome: { status: 'failed', code: 'KEY_STATE_FORBIDS' } });
  });
});

describe('key labels that read as another key’s', () => {
  const generateParams = (label: string) => ({
    algorithm: 'EC-P256',
    label,
    usage: 'sign',
    backupable: false,
    cryptoperiodDays: 730,
    ckaId: randomBytes(16).toString('hex'),
  });
  const refusal = (run: () => unknown): { code?: string; message?: string; remedy?: string[] } => {
    try {
      run();
    } catch (error) {
      return error as { code: string; message: string; remedy: string[] };
    }
    return {};
  };

  it('refuses a label mixing scripts, naming each odd letter, when proposed and again when run', async () => {
    const refused = refusal(() => propose('key.generate', generateParams('p\u0430yments-r\u043eot')));
    expect(refused).toMatchObject({ code: 'PROPOSAL_INVALID', message: expect.stringContaining('mixes scripts') });
    expect(refused.remedy).toEqual([
      'It has U+0430 ‘а’ (Cyrillic) among Latin letters.',
      'It has U+043E ‘о’ (Cyrillic) among Latin letters.',
      expect.stringContaining('in one script'),
    ]);
    // One script, or Latin with Han and Kana as UTS #39 Highly Restrictive allows, is a label like any other.
    for (const label of ['payments-root-2026', 'платежи-корень', '東京ルート-root'])
      expect(propose('key.generate', generateParams(label)).state).toBe('open');

    // A quorum that skips the proposal checks: the run refuses it too, records it, and makes nothing.
    const unchecked = f.quorum(
      keyOperations(f.opened.store, () => f.clock.now, inventory),
      {},
    );
    const proposal = unchecked.propose({
      custodyId,
      action: 'key.generate',
      params: generateParams('p\u0430yments-root'),
      requestedBy: f.enrolled[0]!.id,
    });
    const done = await f.approveAll(unchecked, proposal, [1, 2]);
    unchecked.forgetAll();
    expect(done).toMatchObject({ state: 'failed', outcome: { status: 'failed', code: 'PROPOSAL_INVALID' } });
    expect(inventory.list()).toEqual([]);
    const executions = [...f.opened.audit.log().entries()]
      .map((e) => JSON.parse(e.entry) as { action: string; result: { status: string; code?: string } })
      .filter((e) => e.action === 'proposal.execute');
    expect(executions.map((e) => e.result)).toEqual([{ status: 'failed', code: 'PROPOSAL_INVALID' }]);
  });

  it('says the label is what it refused, so the form can show the words at its Label field', async () => {
    expect((await generate('EC-P256', 'sign', 'payments-root')).state).toBe('executed');
    /** The refusal as it crosses to the page. */
    const onTheWire = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        return wireError(error as CustosError);
      }
      return null;
    };
    const generating = (label: string) => onTheWire(() => propose('key.generate', generateParams(label)));
    expect(generating('p\u0430yments-2027')).toMatchObject({ code: 'PROPOSAL_INVALID', field: 'label' });
    expect(generating('Payments-Root')).toMatchObject({ code: 'PROPOSAL_INVALID', field: 'label' });
    // A refusal about something else names no field.
    const elsewhere = onTheWire(() =>
      quorum.propose({
        custodyId: '0'.repeat(16),
        action: 'key.generate',
        params: generateParams('payments-2027'),
        requestedBy: f.enrolled[0]!.id,
      }),
    );
    expect(elsewhere).toMatchObject({ code: 'CUSTODY_NOT_FOUND' });
    expect(elsewhere).not.toHaveProperty('field');
  });

  it('refuses a label that differs from another key’s on the token only by case or NFKC, not on another token', async () => {
    expect((await generate('EC-P256', 'sign', 'payments-root')).state).toBe('executed');
    for (const label of ['Payments-Root', '\uff50\uff41\uff59\uff4d\uff45\uff4e\uff54\uff53-root', 'PAYMENTS-ROOT']) {
      const refused = refusal(() => propose('key.generate', generateParams(label)));
      expect(refused).toMatchObject({
        code: 'PROPOSAL_INVALID',
        message: expect.stringContaining(`differs from that of the key “payments-root” on the same token only by case`),
      });
    }
    const other = (
      await f.custody.take({
        token: { serial: '', label: '' },
        threshold: 2,
        holders: f.holders(0, 1, 2),
        label: 'other',
      })
    ).id;
    const elsewhere = quorum.propose({
      custodyId: other,
      action: 'key.generate',
      params: generateParams('Payments-Root'),
      requestedBy: f.enrolled[0]!.id,
    });
    expect(elsewhere.state).toBe('open');
  });
});
