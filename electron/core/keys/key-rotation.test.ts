import { createHash, randomBytes, verify } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ACTION_PARAMS, describeProposal, describeResult } from '../../../shared/actions';
import { canonicalJson } from '../canonical-json';
import { findObjects, privateKeyObject } from '../hsm/find-objects';
import type { QuorumService } from '../quorum/quorum-service';
import { sql } from '../store/sql';
import { createPublicObject } from '../backup/key-wrap';
import { plantAheadOfKey } from '../testing/planted-objects';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { attributeDifferences, leastPrivilege } from './key-attributes';
import { KeyInventory } from './key-inventory';
import { keyChecks, keyNeeds, keyOperations } from './key-operations';

/**
 * Rotation against a real SoftHSM2 token: the successor, the family, and what the old key may still do; and what a key
 * past its usage period may still do, by the core's clock (SP 800-57 §5.3).
 */
let cleanup: () => void;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let quorum: QuorumService;
let inventory: KeyInventory;
let custodyId: string;

beforeEach(async () => {
  let dataDir: string;
  ({ dataDir, cleanup } = tempDataDir());
  f = await quorumFixture(dataDir, [{ name: 'Ada' }, { name: 'Babbage' }, { name: 'Curie' }]);
  const now = () => f.clock.now;
  inventory = new KeyInventory(f.opened.store, f.opened.audit, now);
  quorum = f.quorum(
    keyOperations(f.opened.store, now, inventory),
    {},
    ACTION_PARAMS,
    keyChecks(f.opened.store, now, inventory),
    keyNeeds(f.opened.store, now, inventory),
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

const propose = (action: string, params: Record<string, unknown>, custody = custodyId) =>
  quorum.propose({ custodyId: custody, action, params, requestedBy: f.enrolled[0]!.id });
const approved = (action: string, params: Record<string, unknown>) =>
  f.approveAll(quorum, propose(action, params), [1, 2]);
const resultOf = <T>(view: { outcome: unknown }) => (view.outcome as { result: T }).result;
const handleOf = (session: Buffer, lib: pkcs11js.PKCS11, keyId: string, objectClass: number) =>
  findObjects(
    lib,
    session,
    [
      { type: pkcs11js.CKA_CLASS, value: objectClass },
      { type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') },
    ],
    1,
  )[0]!;

async function activeKey(algorithm: string, usage: string, cryptoperiodDays = 365): Promise<string> {
  const ckaId = randomBytes(16).toString('hex');
  const generated = await approved('key.generate', {
    algorithm,
    label: `${usage}-key`,
    usage,
    backupable: false,
    cryptoperiodDays,
    ckaId,
  });
  expect(generated.state).toBe('executed');
  expect((await approved('key.activate', { keyId: ckaId })).state).toBe('executed');
  return ckaId;
}

interface Rotated {
  keyId: string;
  successorId: string;
  family: string;
  version: number;
  turnedOff: string[];
  postOperational: 'token' | 'custos';
  tokenRefusal: string | null;
}

async function rotate(keyId: string, extra: Record<string, unknown> = {}): Promise<Rotated> {
  const done = await approved('key.rotate', { keyId, ckaId: randomBytes(16).toString('hex'), ...extra });
  expect(done.outcome, JSON.stringify(done.outcome)).toMatchObject({ status: 'ok' });
  return resultOf<Rotated>(done);
}

describe('key rotation (SP 800-57 cryptoperiods)', () => {
  it('rotates a signing key: a least-privilege successor in the family, the old key verifies what it signed and signs no more', async () => {
    const keyId = await activeKey('EC-P256', 'sign');
    const digest = createHash('sha256').update('signed before the rotation').digest();
    const before = await f.loggedIn(custodyId, [0, 1], (session, lib) => {
      lib.C_SignInit(
        session,
        { mechanism: pkcs11js.CKM_ECDSA },
        handleOf(session, lib, keyId, pkcs11js.CKO_PRIVATE_KEY),
      );
      return lib.C_Sign(session, digest, Buffer.alloc(256));
    });

    const r = await rotate(keyId);

    // The family: the successor is version 2 of the first key's family, active; the old key deactivated, pointing on.
    const successor = inventory.get(r.successorId);
    expect(successor).toMatchObject({
      label: 'sign-key',
      algorithm: 'EC-P256',
      usage: 'sign',
      backupable: false,
      state: 'active',
      family: keyId,
      version: 2,
      previous: keyId,
      rotatedTo: null,
      postOperational: null,
    });
    expect(inventory.get(keyId)).toMatchObject({
      state: 'deactivated',
      family: keyId,
      version: 1,
      rotatedTo: r.successorId,
      rotateBy: null,
      postOperational: r.postOperational,
    });
    expect(successor.rotateBy).toBe(successor.expiresAt);

    await f.loggedIn(custodyId, [0, 1], (session, lib) => {
      // The successor carries exactly the least-privilege attributes, read back from the token.
      const priv = handleOf(session, lib, r.successorId, pkcs11js.CKO_PRIVATE_KEY);
      const pub = handleOf(session, lib, r.successorId, pkcs11js.CKO_PUBLIC_KEY);
      expect(attributeDifferences(lib, session, priv, leastPrivilege('sign', 'private'))).toEqual([]);
      expect(attributeDifferences(lib, session, pub, leastPrivilege('sign', 'public'))).toEqual([]);

      // The old public key still verifies the signature made before, in the token.
      const oldPub = handleOf(session, lib, keyId, pkcs11js.CKO_PUBLIC_KEY);
      lib.C_VerifyInit(session, { mechanism: pkcs11js.CKM_ECDSA }, oldPub);
      expect(lib.C_Verify(session, digest, before)).toBe(true);

      // SoftHSM2 enforces CKA_MODIFIABLE false: it refuses to turn CKA_SIGN off, so the token would still sign…
      expect(r).toMatchObject({
        turnedOff: ['CKA_SIGN'],
        postOperational: 'custos',
        tokenRefusal: 'CKR_ACTION_PROHIBITED',
      });
      const oldPriv = handleOf(session, lib, keyId, pkcs11js.CKO_PRIVATE_KEY);
      lib.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA }, oldPriv);
      expect(lib.C_Sign(session, digest, Buffer.alloc(256)).length).toBe(64);
    });
    // …and Custos refuses to: the old key is deactivated, and Custos signs with active keys only.
    expect(() => propose('key.test-signature', { keyId, challenge: 'after the rotation' })).toThrow(
      expect.objectContaining({ code: 'KEY_STATE_FORBIDS' }),
    );
    expect(() => propose('key.rotate', { keyId, ckaId: randomBytes(16).toString('hex') })).toThrow(
      expect.objectContaining({ code: 'KEY_STATE_FORBIDS', message: expect.stringContaining('rotated already') }),
    );

    // The old key's own audit entry binds how its limit holds (its params hash).
    const entry = [...f.opened.audit.log().entries()]
      .map((e) => JSON.parse(e.entry) as { action: string; object: { id: string }; params: string })
      .find((e) => e.action === 'key.rotate' && e.object.id === keyId);
    const params = {
      from: 'active',
      to: 'deactivated',
      successor: r.successorId,
      postOperational: 'custos',
      turnedOff: ['CKA_SIGN'],
      tokenRefusal: 'CKR_ACTION_PROHIBITED',
    };
    expect(entry?.params).toBe(createHash('sha256').update(canonicalJson(params)).digest('hex'));

    // A second rotation continues the family: version 3 of the same first key.
    const third = await rotate(r.successorId);
    expect(inventory.get(third.successorId)).toMatchObject({ family: keyId, version: 3, previous: r.successorId });
  });

  it('rotates an AES encryption key to a successor with its own check value; the old key decrypts, Custos encrypts with it no more', async () => {
    const keyId = await activeKey('AES-256', 'encrypt');
    const r = await rotate(keyId);
    expect(r).toMatchObject({ turnedOff: ['CKA_ENCRYPT'], postOperational: 'custos' });
    const [oldKey, successor] = [inventory.get(keyId), inventory.get(r.successorId)];
    expect(successor.kcv).toMatch(/^[0-9A-F]{6}$/);
    expect(successor.kcv).not.toBe(oldKey.kcv);
    await f.loggedIn(custodyId, [0, 1], (session, lib) => {
      const secret = handleOf(session, lib, r.successorId, pkcs11js.CKO_SECRET_KEY);
      expect(attributeDifferences(lib, session, secret, leastPrivilege('encrypt', 'secret'))).toEqual([]);
      const old = handleOf(session, lib, keyId, pkcs11js.CKO_SECRET_KEY);
      expect(attributeDifferences(lib, session, old, [{ type: pkcs11js.CKA_DECRYPT, value: true }])).toEqual([]);
    });
  });

  it('limits the old key’s own private half, not a public object planted under its id with no login', async () => {
    const keyId = await activeKey('EC-P256', 'sign');
    const planted = await plantAheadOfKey(f, custodyId, keyId, pkcs11js.CKO_PRIVATE_KEY);
    const r = await rotate(keyId).finally(planted.close);
    // Before: CKA_SIGN went off on the planted object (modifiable), and the outcome said the token enforces the limit.
    expect(r).toMatchObject({ postOperational: 'custos', tokenRefusal: 'CKR_ACTION_PROHIBITED' });
    await f.loggedIn(custodyId, [0, 1], (session, lib) => {
      const own = privateKeyObject(lib, session, pkcs11js.CKO_PRIVATE_KEY, keyId)!;
      expect(attributeDifferences(lib, session, own, [{ type: pkcs11js.CKA_SIGN, value: true }])).toEqual([]);
    });
  });

  it('limits every public half holding the old key’s public key, copies planted with no login among them', async () => {
    const keyId = await activeKey('EC-P256', 'wrap');
    const copy = { ...inventory.get(keyId), label: 'planted', publicKey: inventory.publicKey(keyId), kcv: null };
    // Modifiable copies of the public half, as anyone can make them.
    const planted = await plantAheadOfKey(f, custodyId, keyId, pkcs11js.CKO_PUBLIC_KEY, (lib, session) =>
      createPublicObject(lib, session, copy, false),
    );
    const r = await rotate(keyId).finally(planted.close);
    // Before: CKA_WRAP went off on the first copy only, and the outcome said the token enforces the limit.
    expect(r).toMatchObject({
      turnedOff: ['CKA_WRAP'],
      postOperational: 'custos',
      tokenRefusal: 'CKR_ACTION_PROHIBITED',
    });
  });

  it('generates the successor under its bound id though public objects were planted there with no login', async () => {
    const keyId = await activeKey('EC-P256', 'sign');
    const successorId = randomBytes(16).toString('hex');
    const proposal = propose('key.rotate', { keyId, ckaId: successorId });
    const planted = await plantAheadOfKey(f, custodyId, successorId, pkcs11js.CKO_PUBLIC_KEY);
    const done = await f.approveAll(quorum, proposal, [1, 2]).finally(planted.close);
    // Before: ATTRIBUTE_INVALID, the approved rotation blocked by whoever planted one object under the successor's id.
    expect(done.outcome, JSON.stringify(done.outcome)).toMatchObject({ status: 'ok', result: { successorId } });
    const entries = [...f.opened.audit.log().entries()].map((e) => JSON.parse(e.entry) as { action: string });
    expect(entries.filter((e) => e.action === 'key.generate.planted-removed')).toHaveLength(1);
  });

  it('refuses a successor the policy disallows, or of another kind, before anyone approves', async () => {
    const keyId = await activeKey('EC-P256', 'sign');
    expect(() =>
      propose('key.rotate', { keyId, ckaId: randomBytes(16).toString('hex'), algorithm: 'AES-256' }),
    ).toThrow(expect.objectContaining({ code: 'KEY_TYPE_UNSUITED' }));
    f.clock.now = new Date('2036-01-02T00:00:00Z');
    expect(() => propose('key.rotate', { keyId, ckaId: randomBytes(16).toString('hex') })).toThrow(
      expect.objectContaining({ code: 'ALGORITHM_DISALLOWED' }),
    );
    expect(inventory.get(keyId).state).toBe('active');
  });

  it('refuses a key that lives in another token: KEY_WRONG_TOKEN', async () => {
    const keyId = await activeKey('EC-P256', 'sign');
    const other = (
      await f.custody.take({
        token: { serial: '', label: '' },
        threshold: 2,
        holders: f.holders(0, 1, 2),
        label: 'other',
      })
    ).id;
    expect(() => propose('key.rotate', { keyId, ckaId: randomBytes(16).toString('hex') }, other)).toThrow(
      expect.objectContaining({ code: 'KEY_WRONG_TOKEN' }),
    );
    expect(inventory.get(keyId).state).toBe('active');
  });

  it('signs the family: a database edit of a successor’s family is refused as KEY_TAMPERED', async () => {
    const keyId = await activeKey('EC-P256', 'sign');
    const { successorId } = await rotate(keyId);
    // Made first: while a key's record is tampered no key is generated (its label is checked against every key's).
    const lone = await activeKey('EC-P256', 'sign');
    f.opened.store.execute(sql`UPDATE keys SET family = ${successorId} WHERE id = ${successorId}`);
    expect(() => inventory.get(successorId)).toThrow(expect.objectContaining({ code: 'KEY_TAMPERED' }));
    // A never-rotated key given a family by a database writer is refused the same way.
    f.opened.store.execute(sql`UPDATE keys SET family = ${keyId}, version = 4 WHERE id = ${lone}`);
    expect(() => inventory.get(lone)).toThrow(expect.objectContaining({ code: 'KEY_TAMPERED' }));
  });

  it('reads the proposal and its outcome in words, by the key’s label', async () => {
    const keyId = await activeKey('EC-P256', 'sign');
    const proposal = propose('key.rotate', { keyId, ckaId: randomBytes(16).toString('hex') });
    const lookups = {
      key: (id: string) => {
        const k = inventory.get(id);
        return { label: k.label, algorithm: k.algorithm, state: k.state, token: k.token };
      },
      person: () => null,
      token: () => null,
    };
    expect(describeProposal('key.rotate', ACTION_PARAMS['key.rotate'].parse(proposal.params), lookups).sentence).toBe(
      'Rotate “sign-key” (EC P-256, active, token keys): generate its successor in the same token with the same usage ' +
        'and custody; the old key may then only verify, decrypt or unwrap, never sign, encrypt or wrap again.',
    );
    const done = await f.approveAll(quorum, proposal, [1, 2]);
    const said = describeResult('key.rotate', resultOf(done), lookups);
    expect(said.at(-1)).toBe(
      'The token refused to change the old key (CKR_ACTION_PROHIBITED), so it would still allow CKA_SIGN; Custos refuses to use it for them.',
    );
  });
});

describe('a key past its usage period (SP 800-57 §5.3)', () => {
  const sign = (keyId: string, challenge = 'may this key sign?') => propose('key.test-signature', { keyId, challenge });
  const minutes = (iso: string, n: number) => new Date(Date.parse(iso) + n * 60_000);
  const audited = () =>
    [...f.opened.audit.log().entries()]
      .map((e) => JSON.parse(e.entry) as { action: string; result: { status: string; code?: string } })
      .map((e) => `${e.action} ${e.result.status}${e.result.code ? ` ${e.result.code}` : ''}`);

  it('signs nothing new: refused when proposed and when a proposal made before the end runs after it, recorded', async () => {
    const keyId = await activeKey('EC-P256', 'sign', 1);
    const { expiresAt } = inventory.get(keyId);
    f.clock.now = minutes(expiresAt, -10);
    expect(inventory.get(keyId).usagePeriodEnded).toBe(false);
    const early = sign(keyId);

    f.clock.now = minutes(expiresAt, 1);
    const ended = expect.objectContaining({
      code: 'KEY_PERIOD_ENDED',
      message: expect.stringContaining(`The usage period of “sign-key” ended on ${expiresAt.slice(0, 10)}`),
      remedy: [expect.stringMatching(/^Rotate it \(key\.rotate\)/), expect.stringMatching(/^Or deactivate it/)],
    });
    expect(() => sign(keyId)).toThrow(ended);
    const done = await f.approveAll(quorum, early, [1, 2]);
    expect(done).toMatchObject({ state: 'failed', outcome: { status: 'failed', code: 'KEY_PERIOD_ENDED' } });
    expect(JSON.stringify(done.outcome)).not.toContain('signature');

    expect(audited()).toEqual(
      expect.arrayContaining(['proposal.create refused KEY_PERIOD_ENDED', 'proposal.execute failed KEY_PERIOD_ENDED']),
    );
    // Nothing changed: the key is as it was, and the inventory says why it is refused.
    expect(inventory.get(keyId)).toMatchObject({ state: 'active', usagePeriodEnded: true, expiresAt });
  });

  it('still verifies what it signed, exports its public key, and is rotated to a successor that signs', async () => {
    const keyId = await activeKey('EC-P256', 'sign', 1);
    const challenge = 'signed within the period';
    const { signature } = resultOf<{ signature: string }>(await approved('key.test-signature', { keyId, challenge }));

    f.clock.now = minutes(inventory.get(keyId).expiresAt, 60 * 24 * 30);
    const pem = inventory.exportPublic(keyId, 'pem');
    expect(verify('sha256', Buffer.from(challenge), pem, Buffer.from(signature, 'base64'))).toBe(true);

    const { successorId } = await rotate(keyId);
    expect(inventory.get(successorId)).toMatchObject({ state: 'active', usagePeriodEnded: false });
    expect((await approved('key.test-signature', { keyId: successorId, challenge: 'the successor' })).state).toBe(
      'executed',
    );
  });

  it('is deactivated by the quorum past its period', async () => {
    const keyId = await activeKey('EC-P256', 'sign', 1);
    f.clock.now = minutes(inventory.get(keyId).expiresAt, 5);
    expect((await approved('key.deactivate', { keyId })).state).toBe('executed');
    expect(inventory.get(keyId).state).toBe('deactivated');
  });
});
