import { generateKeyPairSync, randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkValue } from './check-value';
import { leastPrivilege } from './key-attributes';
import { findObjects } from '../hsm/find-objects';
import { keyChecks, keyOperations, keyReconcilers } from './key-operations';
import { quorumDrill } from '../quorum/drill';
import { ACTION_PARAMS } from '../../../shared/actions';
import { QuorumService } from '../quorum/quorum-service';
import type { ProposalView } from '../../../shared/quorum';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { KeyInventory } from './key-inventory';
import { signedEntries } from '../audit/signed-entries';
import type { TokenModule } from '../hsm/token-module';
import { pullTokenBefore } from '../testing/pulled-token';
import { plantAheadOfKey } from '../testing/planted-objects';

let cleanup: () => void;
let dataDir: string;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let inventory: KeyInventory;
let quorum: QuorumService;
let custodyId: string;

beforeEach(async () => {
  ({ dataDir, cleanup } = tempDataDir());
  f = await quorumFixture(dataDir, [
    { name: 'Ada' },
    { name: 'Babbage' },
    { name: 'Curie' },
    { name: 'Olga', roles: ['security-officer'] },
  ]);
  inventory = new KeyInventory(f.opened.store, f.opened.audit, () => f.clock.now);
  quorum = started();
  custodyId = (
    await f.custody.take({ token: { serial: '', label: '' }, threshold: 2, holders: f.holders(0, 1, 2), label: 'keys' })
  ).id;
});
afterEach(() => {
  quorum.forgetAll();
  f.close();
  cleanup();
});

/** The quorum as a start of Custos builds it: operations and the reconcilers of interrupted ones. */
function started(module: () => TokenModule = () => f.module): QuorumService {
  const now = () => f.clock.now;
  return new QuorumService({
    store: f.opened.store,
    audit: f.opened.audit,
    custodians: f.custodians,
    custody: f.custody,
    module,
    clock: now,
    operations: { 'token.quorum-drill': quorumDrill, ...keyOperations(f.opened.store, now, inventory) },
    reconcilers: keyReconcilers(f.opened.store, now, inventory),
    checks: keyChecks(f.opened.store, now, inventory),
    params: ACTION_PARAMS,
  });
}

const propose = (action: string, params: unknown) =>
  quorum.propose({ custodyId, action, params, requestedBy: f.enrolled[0]!.id });
const approved = (action: string, params: unknown) =>
  f.approveAll(quorum, propose(action, params), action === 'key.destroy' ? [1, 2, 3] : [1, 2]);
const underId = (ckaId: string) =>
  f.loggedIn(
    custodyId,
    [0, 1],
    (session, lib) =>
      findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(ckaId, 'hex') }], 100).length,
  );
const keyOf = (view: ProposalView) => (view.outcome as { result: { keyId: string } }).result.keyId;
const trail = (proposalId: string) =>
  [...f.opened.audit.log().entries()]
    .map((e) => JSON.parse(e.entry) as { action: string; object: { id: string } | null })
    .filter((e) => e.object?.id === proposalId)
    .map((e) => e.action);

/**
 * What a crash leaves: the run journaled (as execute() writes it before touching the token), the
 * operation's token step done in a logged-in session (or not), and its inventory change never committed.
 */
async function crashAfterTokenStep(proposal: ProposalView, tokenStep: boolean): Promise<void> {
  f.journal(proposal);
  if (!tokenStep) return;
  const operation = keyOperations(f.opened.store, () => f.clock.now, inventory)[proposal.action]!;
  await f.loggedIn(custodyId, [1, 2], (session, lib) =>
    operation({
      session,
      lib,
      params: proposal.params,
      proposalId: proposal.id,
      token: proposal.token,
      decidedBy: { proposedBy: proposal.requestedBy, approvedBy: [] },
    }),
  );
}

/** Custos starts again: what only a login can show waits, and is settled at the next quorum login on the token. */
async function restartAndLogIn(proposalId: string): Promise<ProposalView> {
  quorum.forgetAll();
  quorum = started();
  expect(quorum.reconcile()).toEqual([expect.objectContaining({ proposalId, status: 'awaiting-login' })]);
  expect(quorum.view(proposalId)).toMatchObject({
    state: 'open',
    waitingFor: [expect.stringContaining('re-examined at the next quorum login')],
  });
  // Nobody can close it meanwhile: it is settled by what the token shows, not by a person or its expiry.
  expect(() => quorum.cancel(proposalId, f.enrolled[0]!.id)).toThrow(
    expect.objectContaining({ code: 'PROPOSAL_CLOSED' }),
  );
  f.clock.now = new Date(f.clock.now.getTime() + 2 * 3_600_000);
  expect(quorum.list().find((p) => p.id === proposalId)?.state).toBe('open');
  // A second start records the wait once.
  quorum = started();
  quorum.reconcile();
  expect(trail(proposalId).filter((a) => a === 'proposal.reconcile.deferred')).toHaveLength(1);
  expect((await approved('token.quorum-drill', {})).state).toBe('executed');
  return quorum.view(proposalId);
}

describe('an AES key generation interrupted by a crash', () => {
  const aes = (usage: string) => ({
    algorithm: 'AES-256',
    label: `interrupted ${usage}`,
    usage,
    backupable: false,
    cryptoperiodDays: 365,
    ckaId: randomBytes(16).toString('hex'),
  });

  it('is re-examined at the next quorum login: the key the token holds is registered with its check value', async () => {
    const proposal = propose('key.generate', aes('encrypt'));
    await crashAfterTokenStep(proposal, true);
    const settled = await restartAndLogIn(proposal.id);
    const ckaId = (proposal.params as { ckaId: string }).ckaId;
    expect(settled).toMatchObject({
      state: 'executed',
      outcome: {
        status: 'ok',
        result: { keyId: ckaId, reconciled: true, kcv: expect.stringMatching(/^[0-9A-F]{6}$/) },
      },
    });
    // The check value recorded is the one the token computes for that key.
    const measured = await f.loggedIn(custodyId, [0, 2], (session, lib) => {
      const [key] = findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(ckaId, 'hex') }], 1);
      return checkValue(lib, session, key!);
    });
    expect(inventory.get(ckaId)).toMatchObject({ state: 'pre-activation', kcv: measured, fingerprint: null });
    expect(trail(proposal.id)).toEqual([
      'proposal.create',
      'proposal.execute.begin',
      'proposal.reconcile.deferred',
      'proposal.reconcile',
    ]);
  });

  it('fails as interrupted, saying the token holds no such key, when the crash came before the token step', async () => {
    const proposal = propose('key.generate', aes('wrap'));
    await crashAfterTokenStep(proposal, false);
    const settled = await restartAndLogIn(proposal.id);
    expect(settled).toMatchObject({
      state: 'failed',
      outcome: {
        status: 'failed',
        code: 'OPERATION_INTERRUPTED',
        message: expect.stringContaining('holds no such key'),
      },
    });
    expect(inventory.list()).toEqual([]);
  });
});

describe('a key pair generation interrupted by a crash', () => {
  const ec = () => ({
    algorithm: 'EC-P256',
    label: 'interrupted pair',
    usage: 'encrypt',
    backupable: false,
    cryptoperiodDays: 365,
    ckaId: randomBytes(16).toString('hex'),
  });

  it('never registers a public key someone planted under the bound CKA_ID (no login needed) as the key', async () => {
    const proposal = propose('key.generate', ec());
    await crashAfterTokenStep(proposal, false);
    const ckaId = (proposal.params as { ckaId: string }).ckaId;
    // A public object takes no PIN to create (pkcs11-tool --write-object --type pubkey does it): the planter's key.
    const planted = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const point = planted.publicKey.export({ format: 'der', type: 'spki' }).subarray(-65);
    await f.loggedIn(custodyId, [1, 2], (session, lib) => {
      lib.C_CreateObject(session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: false },
        { type: pkcs11js.CKA_ID, value: Buffer.from(ckaId, 'hex') },
        { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from('06082a8648ce3d030107', 'hex') },
        { type: pkcs11js.CKA_EC_POINT, value: Buffer.concat([Buffer.from([0x04, 0x41]), point]) },
        { type: pkcs11js.CKA_ENCRYPT, value: true },
        { type: pkcs11js.CKA_VERIFY, value: false },
        { type: pkcs11js.CKA_WRAP, value: false },
        { type: pkcs11js.CKA_DERIVE, value: false },
      ]);
    });
    const settled = await restartAndLogIn(proposal.id);
    // Not the key, and nobody was shown to have written with the PIN: nothing was generated, the object removed.
    expect(settled).toMatchObject({
      state: 'failed',
      outcome: {
        status: 'failed',
        code: 'OPERATION_INTERRUPTED',
        message: expect.stringMatching(/holds no such key: nothing was generated\. The 1 public object.*were removed/),
      },
    });
    expect(() => inventory.get(ckaId)).toThrow(expect.objectContaining({ code: 'KEY_NOT_FOUND' }));
    expect(await underId(ckaId)).toBe(0);
  });

  it('settles a generation cut off between its two halves as interrupted, removing the lone public half', async () => {
    const proposal = propose('key.generate', ec());
    await crashAfterTokenStep(proposal, false);
    const ckaId = (proposal.params as { ckaId: string }).ckaId;
    // What a kill between SoftHSM2's two object files leaves: the public half the token generated, and no private one.
    await f.loggedIn(custodyId, [1, 2], (session, lib) => {
      const common = [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_ID, value: Buffer.from(ckaId, 'hex') },
        { type: pkcs11js.CKA_LABEL, value: 'interrupted pair' },
      ];
      const pair = lib.C_GenerateKeyPair(
        session,
        { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
        [
          ...common,
          { type: pkcs11js.CKA_PRIVATE, value: false },
          { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from('06082a8648ce3d030107', 'hex') },
          ...leastPrivilege('encrypt', 'public'),
        ],
        [...common, { type: pkcs11js.CKA_PRIVATE, value: true }, ...leastPrivilege('encrypt', 'private')],
      );
      lib.C_DestroyObject(session, pair.privateKey);
    });
    const settled = await restartAndLogIn(proposal.id);
    // Before: KEY_ATTRIBUTES_MISMATCH, "someone else may have written to the token", and the orphan left in place.
    expect(settled).toMatchObject({
      state: 'failed',
      outcome: {
        status: 'failed',
        code: 'OPERATION_INTERRUPTED',
        message: expect.stringMatching(
          /between its two halves.*nothing usable was generated\. The stray half was removed\./,
        ),
      },
    });
    expect(() => inventory.get(ckaId)).toThrow(expect.objectContaining({ code: 'KEY_NOT_FOUND' }));
    expect(await underId(ckaId)).toBe(0);
    expect(trail(proposal.id)).toContain('key.generate.planted-removed');
  });

  it('registers the key a crash left whole, removing the public objects planted beside it with no PIN', async () => {
    const proposal = propose('key.generate', ec());
    await crashAfterTokenStep(proposal, true);
    const ckaId = (proposal.params as { ckaId: string }).ckaId;
    const planted = await plantAheadOfKey(f, custodyId, ckaId, pkcs11js.CKO_PUBLIC_KEY);
    const settled = await restartAndLogIn(proposal.id).finally(planted.close);
    // Before: KEY_ATTRIBUTES_MISMATCH ("more than one object of one of its halves"), the good key never registered.
    expect(settled.outcome, JSON.stringify(settled.outcome)).toMatchObject({
      status: 'ok',
      result: { keyId: ckaId, reconciled: true },
    });
    expect(inventory.get(ckaId).state).toBe('pre-activation');
    expect(await underId(ckaId)).toBe(2);
    expect(trail(proposal.id)).toContain('key.generate.planted-removed');
  });

  it('never guesses which public half is the key when a no-PIN key pair was generated under its id', async () => {
    const proposal = propose('key.generate', ec());
    await crashAfterTokenStep(proposal, true);
    const ckaId = (proposal.params as { ckaId: string }).ckaId;
    // No login: both halves CKA_PRIVATE false, the public one CKA_LOCAL true as the key's own, its uses copied. An EC
    // key for encryption can do nothing with its private half, so no test tells its public half from this one.
    const planted = await plantAheadOfKey(f, custodyId, ckaId, pkcs11js.CKO_PUBLIC_KEY, (lib, session) => {
      const common = [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_PRIVATE, value: false },
        { type: pkcs11js.CKA_ID, value: Buffer.from(ckaId, 'hex') },
        { type: pkcs11js.CKA_LABEL, value: 'planted' },
      ];
      lib.C_GenerateKeyPair(
        session,
        { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
        [
          ...common,
          { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from('06082a8648ce3d030107', 'hex') },
          ...leastPrivilege('encrypt', 'public'),
        ],
        common,
      );
    });
    const settled = await restartAndLogIn(proposal.id).finally(planted.close);
    // Registering the first would hand whoever planted it what others encrypt to the key.
    expect(settled.outcome).toMatchObject({
      status: 'failed',
      code: 'KEY_ATTRIBUTES_MISMATCH',
      message: expect.stringContaining('more than one object of one of its halves'),
    });
    expect(() => inventory.get(ckaId)).toThrow(expect.objectContaining({ code: 'KEY_NOT_FOUND' }));
  });

  it('never registers a smaller key someone with the PIN put under the bound CKA_ID, whatever its attributes', async () => {
    const proposal = propose('key.generate', { ...ec(), algorithm: 'RSA-3072', usage: 'sign' });
    await crashAfterTokenStep(proposal, false);
    const ckaId = (proposal.params as { ckaId: string }).ckaId;
    // Made in the token (CKA_LOCAL), with every attribute Custos asks for, but RSA-2048 for the approved RSA-3072.
    await f.loggedIn(custodyId, [1, 2], (session, lib) => {
      const common = [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_ID, value: Buffer.from(ckaId, 'hex') },
        { type: pkcs11js.CKA_LABEL, value: 'planted' },
      ];
      lib.C_GenerateKeyPair(
        session,
        { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN },
        [
          ...common,
          { type: pkcs11js.CKA_PRIVATE, value: false },
          { type: pkcs11js.CKA_MODULUS_BITS, value: 2048 },
          { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
          ...leastPrivilege('sign', 'public'),
        ],
        [
          ...common,
          { type: pkcs11js.CKA_PRIVATE, value: true },
          { type: pkcs11js.CKA_SENSITIVE, value: true },
          { type: pkcs11js.CKA_EXTRACTABLE, value: false },
          ...leastPrivilege('sign', 'private'),
        ],
      );
    });
    const settled = await restartAndLogIn(proposal.id);
    expect(settled).toMatchObject({
      state: 'failed',
      outcome: {
        status: 'failed',
        code: 'KEY_ATTRIBUTES_MISMATCH',
        message: expect.stringContaining('not the RSA-3072 key'),
        remedy: expect.arrayContaining(['it is RSA-2048, not RSA-3072']),
      },
    });
    expect(() => inventory.get(ckaId)).toThrow(expect.objectContaining({ code: 'KEY_NOT_FOUND' }));
  });
});

describe('a wrap-only AES key', () => {
  it('has no check value, because the token will not encrypt with it, and shows none rather than a made-up fingerprint', async () => {
    const done = await approved('key.generate', {
      algorithm: 'AES-256',
      label: 'kek',
      usage: 'wrap',
      backupable: false,
      cryptoperiodDays: 365,
      ckaId: randomBytes(16).toString('hex'),
    });
    const keyId = keyOf(done);
    expect(done.outcome).toMatchObject({ status: 'ok', result: { kcv: null, fingerprint: null } });
    expect(inventory.get(keyId)).toMatchObject({ kcv: null, fingerprint: null });
    // SoftHSM2 honours CKA_ENCRYPT false: the check value's encryption is refused for this key.
    const refused = await f.loggedIn(custodyId, [1, 2], (session, lib) => {
      const [key] = findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') }], 1);
      try {
        return checkValue(lib, session, key!);
      } catch (error) {
        return (error as { code?: string; message: string }).message;
      }
    });
    expect(refused).toMatch(/not allow|CKR_KEY_FUNCTION_NOT_PERMITTED/);
    expect(() => inventory.exportPublic(keyId, 'pem')).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('its check value') }),
    );
  });
});

/** A key whose destruction was scheduled and whose waiting period is over. */
async function pastItsWait(algorithm: string, usage: string): Promise<string> {
  const keyId = keyOf(
    await approved('key.generate', {
      algorithm,
      label: 'doomed',
      usage,
      backupable: false,
      cryptoperiodDays: 365,
      ckaId: randomBytes(16).toString('hex'),
    }),
  );
  await approved('key.schedule-destruction', { keyId, waitDays: 7 });
  f.clock.now = new Date(f.clock.now.getTime() + 8 * 86_400_000);
  return keyId;
}

describe('a key destruction interrupted by a crash', () => {
  it.each([
    ['after the token destroyed the objects', true, null],
    ['before the token step', false, 2],
  ])(
    'is re-examined at the next quorum login %s: absence proven, the key recorded destroyed',
    async (_when, tokenStep, objectsDestroyed) => {
      const keyId = await pastItsWait('EC-P256', 'sign');
      const proposal = propose('key.destroy', { keyId });
      await crashAfterTokenStep(proposal, tokenStep);
      const settled = await restartAndLogIn(proposal.id);
      expect(settled).toMatchObject({
        state: 'executed',
        outcome: { status: 'ok', result: { keyId, remaining: 0, objectsDestroyed, reconciled: true } },
      });
      expect(inventory.get(keyId)).toMatchObject({ state: 'destroyed', destructionNotBefore: null });
      const left = await f.loggedIn(
        custodyId,
        [0, 1],
        (session, lib) =>
          findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') }], 10).length,
      );
      expect(left).toBe(0);
    },
  );
});

describe('a key destruction interrupted before it reached the token', () => {
  it('is not certified by a token that holds no half of the key: refused, the key not recorded destroyed', async () => {
    const keyId = await pastItsWait('AES-256', 'encrypt');
    // The token no longer holds the key (taken out of it outside Custos, or another token under its serial and label).
    await f.loggedIn(custodyId, [0, 1], (session, lib) => {
      for (const handle of findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') }], 10))
        lib.C_DestroyObject(session, handle);
    });
    const proposal = propose('key.destroy', { keyId });
    await crashAfterTokenStep(proposal, false);
    const settled = await restartAndLogIn(proposal.id);
    expect(settled).toMatchObject({ state: 'failed', outcome: { status: 'failed', code: 'KEY_OBJECTS_MISSING' } });
    expect(trail(proposal.id)).not.toContain('key.destroy.destroying');
    expect(inventory.get(keyId).state).not.toBe('destroyed');
    expect(inventory.get(keyId).destructionNotBefore).not.toBeNull();
  });
});

describe('a key destruction whose token is pulled out half-way', () => {
  it('records what it destroyed and what remains, keeps the key out of use, and a new destruction finishes it', async () => {
    const keyId = await pastItsWait('EC-P256', 'sign');
    const inToken = () =>
      f.loggedIn(
        custodyId,
        [0, 1],
        (session, lib) =>
          findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') }], 10).length,
      );
    expect(await inToken()).toBe(2);
    // The private key is destroyed; the token is pulled before its public key is.
    const pulled = pullTokenBefore(f.module, dataDir, f.custody.record(custodyId).token, 'C_DestroyObject', 2);
    quorum = started(() => pulled.module);
    const failed = await approved('key.destroy', { keyId });
    expect(pulled.pulled()).toBe(true);
    expect(failed).toMatchObject({
      state: 'failed',
      outcome: {
        code: 'KEY_PARTLY_DESTROYED',
        message: expect.stringContaining('destroyed the private key; still in the token the public key'),
      },
    });
    const partial = { proposalId: failed.id, destroyed: ['private key'], remaining: ['public key'] };
    expect(inventory.get(keyId)).toMatchObject({ state: 'pre-activation', partlyDestroyed: partial });
    expect(
      signedEntries(f.opened.store, f.opened.audit, { action: 'key.destroy.partial', object: `key:${keyId}` }),
    ).toHaveLength(1);
    // Not whole, so never back in use: its destruction cannot be cancelled, and it signs nothing.
    expect(() => propose('key.cancel-destruction', { keyId })).toThrow(
      expect.objectContaining({ code: 'KEY_STATE_FORBIDS', message: expect.stringContaining('partly destroyed') }),
    );

    pulled.putBack();
    f.restart();
    inventory = new KeyInventory(f.opened.store, f.opened.audit, () => f.clock.now);
    quorum = started();
    expect(inventory.get(keyId).partlyDestroyed).toMatchObject(partial);
    expect(await inToken()).toBe(1);
    // The token holds no half of the key any more; the signed record of the cut-short run lets the destruction finish.
    const finished = await approved('key.destroy', { keyId });
    expect(finished).toMatchObject({
      state: 'executed',
      outcome: {
        status: 'ok',
        result: { remaining: 0, objectsDestroyed: 1, finishes: { proposal: failed.id, destroyed: ['private key'] } },
      },
    });
    expect(inventory.get(keyId)).toMatchObject({ state: 'destroyed', destructionNotBefore: null });
    expect(await inToken()).toBe(0);
  });
});

describe('a partly destroyed key', () => {
  it('is refused every change of state but marking it compromised, when proposed and when run', async () => {
    const keyId = keyOf(
      await approved('key.generate', {
        algorithm: 'EC-P256',
        label: 'doomed',
        usage: 'sign',
        backupable: false,
        cryptoperiodDays: 365,
        ckaId: randomBytes(16).toString('hex'),
      }),
    );
    await approved('key.activate', { keyId });
    const officer = { type: 'custodian', id: f.enrolled[3]!.id, role: 'security-officer' } as const;
    inventory.transition(keyId, 'suspend', 'security-officer', officer);
    await approved('key.schedule-destruction', { keyId, waitDays: 7 });
    f.clock.now = new Date(f.clock.now.getTime() + 8 * 86_400_000);
    // Proposed while the key was whole (a key waiting to be destroyed can still be taken out of use); run after a
    // destruction cut short.
    const deactivation = propose('key.deactivate', { keyId });
    const pulled = pullTokenBefore(f.module, dataDir, f.custody.record(custodyId).token, 'C_DestroyObject', 2);
    quorum = started(() => pulled.module);
    expect(await approved('key.destroy', { keyId })).toMatchObject({ outcome: { code: 'KEY_PARTLY_DESTROYED' } });
    pulled.putBack();
    f.restart();
    inventory = new KeyInventory(f.opened.store, f.opened.audit, () => f.clock.now);
    quorum = started();
    expect(inventory.get(keyId)).toMatchObject({ state: 'suspended', partlyDestroyed: { remaining: ['public key'] } });

    const refused = { code: 'KEY_STATE_FORBIDS', message: expect.stringContaining('is partly destroyed') };
    expect(await f.approveAll(quorum, deactivation, [1, 2])).toMatchObject({
      state: 'failed',
      outcome: refused,
    });
    for (const action of ['key.reactivate', 'key.deactivate'])
      expect(() => propose(action, { keyId })).toThrow(expect.objectContaining(refused));
    expect(() => inventory.transition(keyId, 'deactivate', 'quorum', officer)).toThrow(
      expect.objectContaining(refused),
    );
    expect(inventory.get(keyId).state).toBe('suspended');

    // Marking it compromised tells relying parties the truth; the destruction still finishes it.
    inventory.transition(keyId, 'compromise', 'security-officer', officer, 'half its objects are gone');
    expect(inventory.get(keyId).state).toBe('compromised');
    expect((await approved('key.destroy', { keyId })).state).toBe('executed');
    expect(inventory.get(keyId).state).toBe('destroyed');
  });
});

describe('a rotation interrupted by a crash', () => {
  it('is settled at the next quorum login: the successor the token holds joins the family, the old key is deactivated', async () => {
    const keyId = randomBytes(16).toString('hex');
    const key = { algorithm: 'EC-P256', label: 'to rotate', usage: 'sign', backupable: false, cryptoperiodDays: 365 };
    expect((await approved('key.generate', { ...key, ckaId: keyId })).state).toBe('executed');
    expect((await approved('key.activate', { keyId })).state).toBe('executed');
    const successorId = randomBytes(16).toString('hex');
    const proposal = propose('key.rotate', { keyId, ckaId: successorId });
    await crashAfterTokenStep(proposal, true);
    expect(inventory.get(keyId).state).toBe('active');
    const settled = await restartAndLogIn(proposal.id);
    expect(settled).toMatchObject({
      state: 'executed',
      outcome: {
        status: 'ok',
        result: { keyId, successorId, version: 2, reconciled: true, postOperational: 'custos' },
      },
    });
    expect(inventory.get(keyId)).toMatchObject({ state: 'deactivated', rotatedTo: successorId });
    expect(inventory.get(successorId)).toMatchObject({ state: 'active', family: keyId, version: 2, previous: keyId });
  });

  it('leaves the old key compromised when an officer marked it so while the rotation waited for a login', async () => {
    const keyId = randomBytes(16).toString('hex');
    const key = { algorithm: 'EC-P256', label: 'leaked', usage: 'sign', backupable: false, cryptoperiodDays: 365 };
    expect((await approved('key.generate', { ...key, ckaId: keyId })).state).toBe('executed');
    expect((await approved('key.activate', { keyId })).state).toBe('executed');
    const successorId = randomBytes(16).toString('hex');
    const proposal = propose('key.rotate', { keyId, ckaId: successorId });
    await crashAfterTokenStep(proposal, true);
    const officer = { type: 'custodian', id: f.enrolled[3]!.id, role: 'security-officer' } as const;
    inventory.transition(keyId, 'compromise', 'security-officer', officer, 'backup tape lost');
    expect((await restartAndLogIn(proposal.id)).state).toBe('executed');
    // SP 800-57 never leads a compromised key anywhere but destroyed: the settled rotation does not launder it.
    expect(inventory.get(keyId)).toMatchObject({ state: 'compromised', rotatedTo: successorId });
  });
});
