import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ModuleKind, TokenRef } from '../../../shared/tokens';
import { BackupService } from '../backup/backup-service';
import { BACKUP_NEEDS } from '../backup/key-wrap';
import { totpCodeAt } from '../custodians/totp';
import { turnover } from '../custody/turnover';
import { KeyInventory } from '../keys/key-inventory';
import { keyChecks, keyNeeds, keyOperations } from '../keys/key-operations';
import { quorumDrill } from '../quorum/drill';
import { CertificateStore } from '../pki/certificate-store';
import { pkiOperations } from '../pki/pki-operations';
import { ACTION_PARAMS } from '../../../shared/actions';
import type { QuorumService } from '../quorum/quorum-service';
import type { ProposalView } from '../../../shared/quorum';
import { sql } from '../store/sql';
import { quorumFixture } from './quorum-fixture';
import { tempDataDir } from './softhsm-fixture';

type Algorithm = 'AES-256' | 'RSA-3072' | 'RSA-4096' | 'EC-P256' | 'EC-P384' | 'Ed25519';
const ALGORITHMS: readonly Algorithm[] = ['AES-256', 'RSA-3072', 'RSA-4096', 'EC-P256', 'EC-P384', 'Ed25519'];

/**
 * One PKCS#11 implementation under the token suite: how to reach it, how to make its tokens, and
 * what it is known to do (docs/tokens.md). The expectations are stated per implementation, never
 * derived from the code under test.
 */
export interface TokenBackend {
  name: string;
  /** The custody tokens' library; the audit token stays on the embedded SoftHSM2 in the same process. */
  module(dataDir: string): { path: string; kind: ModuleKind };
  /** Called before the library is loaded: a blank token to take into custody. */
  blankToken(dataDir: string): TokenRef;
  /** Called before the library is loaded: a token initialised by its owner's tool, and its SO PIN. */
  initialisedToken(dataDir: string): { token: TokenRef; soPin: string };
  /** The SO PIN a blank token wants in C_InitToken (null: any, as the specification says). */
  factorySoPin: string | null;
  /** A second blank token for restores, when the implementation has one. */
  secondBlankToken: TokenRef | null;
  expect: {
    pinBits: number;
    generates: readonly Algorithm[];
    /** The mechanism a refused algorithm is named by. */
    refusedBecause: Partial<Record<Algorithm, string>>;
    rsaSignMechanism: string;
    wrapWithTrusted: boolean;
    backup: boolean;
  };
}

/** The custody ceremonies on a token that starts blank, one step after another on the same token. */
export function blankTokenSuite(backend: TokenBackend): void {
  const s = {} as {
    dataDir: string;
    cleanup: () => void;
    f: Awaited<ReturnType<typeof quorumFixture>>;
    quorum: QuorumService;
    backups: BackupService;
    custodyId: string;
    token: TokenRef;
    keys: Map<string, { keyId: string; algorithm: Algorithm }>;
    pki: ReturnType<typeof pkiOperations>;
  };
  beforeAll(async () => {
    ({ dataDir: s.dataDir, cleanup: s.cleanup } = tempDataDir());
    s.token = backend.blankToken(s.dataDir);
    s.f = await quorumFixture(
      s.dataDir,
      [{ name: 'Ada' }, { name: 'Babbage' }, { name: 'Curie' }, { name: 'Dana' }],
      backend.module(s.dataDir),
    );
    const now = () => s.f.clock.now;
    const inventory = new KeyInventory(s.f.opened.store, s.f.opened.audit, now);
    s.backups = new BackupService({
      store: s.f.opened.store,
      audit: s.f.opened.audit,
      custodians: s.f.custodians,
      keys: inventory,
      module: () => s.f.module,
      quorum: () => s.quorum,
      clock: now,
    });
    s.pki = pkiOperations(now, inventory, new CertificateStore(s.f.opened.store, inventory, s.f.opened.audit));
    s.quorum = s.f.quorum(
      { 'token.quorum-drill': quorumDrill, ...keyOperations(s.f.opened.store, now, inventory), ...s.pki.operations },
      {
        'custody.redeal': turnover(s.f.custody),
        'key.backup': s.backups.backupCeremony(),
        'key.restore': s.backups.restoreCeremony(),
      },
      ACTION_PARAMS,
      { ...keyChecks(s.f.opened.store, now, inventory), ...s.pki.checks },
      {
        ...keyNeeds(s.f.opened.store, now, inventory),
        ...s.pki.needs,
        'key.backup': () => BACKUP_NEEDS,
        'key.restore': (p) => s.backups.restoreNeeds(p),
      },
    );
    s.keys = new Map();
  });
  afterAll(() => {
    s.quorum?.forgetAll();
    s.backups?.forgetAll();
    s.f?.close();
    s.cleanup?.();
  });

  const id = (who: number) => s.f.enrolled[who]!.id;
  const propose = (action: string, params: Record<string, unknown>, custodyId = s.custodyId) =>
    s.quorum.propose({ custodyId, action, params, requestedBy: id(0) });
  const approved = (action: string, params: Record<string, unknown>, custodyId = s.custodyId): Promise<ProposalView> =>
    s.f.approveAll(s.quorum, propose(action, params, custodyId), [1, 2]);
  const proposals = () => s.f.opened.store.get<{ n: number }>(sql`SELECT count(*) AS n FROM proposals`)!.n;
  const generateParams = (algorithm: Algorithm, extra: Record<string, unknown> = {}) => ({
    algorithm,
    label: `${algorithm} on ${backend.name}`,
    usage: algorithm === 'AES-256' ? 'encrypt' : 'sign',
    backupable: false,
    cryptoperiodDays: 365,
    ckaId: randomBytes(16).toString('hex'),
    ...extra,
  });
  /** Refused when proposed, naming what the token lacks; no proposal exists, so nobody can approve one. */
  const refusedWhenProposed = (action: string, params: Record<string, unknown>, naming: string) => {
    const before = proposals();
    let error: unknown;
    try {
      propose(action, params);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'TOKEN_CAPABILITY_MISSING' });
    expect((error as { remedy: string[] }).remedy.join('\n')).toContain(naming);
    expect(proposals()).toBe(before);
    const last = [...s.f.opened.audit.log().entries()]
      .map((e) => JSON.parse(e.entry) as { action: string; result: { code?: string } })
      .at(-1)!;
    expect(last).toMatchObject({ action: 'proposal.create', result: { code: 'TOKEN_CAPABILITY_MISSING' } });
  };

  it('takes the blank token into custody by its rules, and records how strong its PINs are', async () => {
    const take = (currentSoPin?: string) =>
      s.f.custody.take({
        token: s.token,
        threshold: 2,
        holders: s.f.holders(0, 1, 2),
        label: 'custos-test custody',
        ...(currentSoPin ? { currentSoPin } : {}),
      });
    if (backend.factorySoPin) {
      // Asked for, not guessed: the token is left exactly as it was (still blank, no SO PIN try spent).
      await expect(take()).rejects.toMatchObject({ code: 'SO_PIN_REQUIRED' });
      const still = s.f.module
        .slots()
        .flatMap((slot) => (slot.token ? [slot.token] : []))
        .find((t) => t.serial === s.token.serial);
      expect(still).toMatchObject({ initialized: false, soPin: { countLow: false, finalTry: false, locked: false } });
    }
    const custody = await take(backend.factorySoPin ?? undefined);
    s.custodyId = custody.id;
    expect(custody).toMatchObject({ state: 'active', threshold: 2, pinBits: backend.expect.pinBits });
    // The strength is part of the signed custody record: a database writer cannot make it look stronger.
    const store = s.f.opened.store;
    store.execute(sql`UPDATE custody SET pin_bits = 256 WHERE id = ${custody.id}`);
    expect(() => s.f.custody.record(custody.id)).toThrow(expect.objectContaining({ code: 'CUSTODY_TAMPERED' }));
    store.execute(sql`UPDATE custody SET pin_bits = ${backend.expect.pinBits} WHERE id = ${custody.id}`);
    expect(s.f.custody.record(custody.id).pinBits).toBe(backend.expect.pinBits);
  });

  it('opens the token in a drill with t of the n shares', async () => {
    expect(await approved('token.quorum-drill', {})).toMatchObject({
      state: 'executed',
      outcome: { status: 'ok', result: { opened: true } },
    });
  });

  it('generates every algorithm the token offers, and refuses the others when proposed, before any approval', async () => {
    for (const algorithm of ALGORITHMS) {
      if (backend.expect.generates.includes(algorithm)) {
        const done = await approved('key.generate', generateParams(algorithm));
        expect(done, algorithm).toMatchObject({ state: 'executed', outcome: { status: 'ok', result: { algorithm } } });
        s.keys.set(algorithm, { keyId: (done.outcome as { result: { keyId: string } }).result.keyId, algorithm });
      } else {
        refusedWhenProposed('key.generate', generateParams(algorithm), backend.expect.refusedBecause[algorithm]!);
      }
    }
  });

  it('makes test signatures that openssl verifies against the public key, with the mechanism the token offers', async () => {
    for (const { keyId, algorithm } of s.keys.values()) {
      if (algorithm === 'AES-256') continue;
      expect((await approved('key.activate', { keyId })).state).toBe('executed');
      const challenge = `custos ${backend.name} ${algorithm} check`;
      const done = await approved('key.test-signature', { keyId, challenge });
      expect(done.outcome, algorithm).toMatchObject({ status: 'ok' });
      const { signature, mechanism } = (done.outcome as { result: { signature: string; mechanism: string } }).result;
      if (algorithm.startsWith('RSA')) expect(mechanism).toBe(backend.expect.rsaSignMechanism);
      const spki = s.f.opened.store.get<{ public_key: Buffer }>(
        sql`SELECT public_key FROM keys WHERE id = ${keyId}`,
      )!.public_key;
      const pem = join(s.dataDir, 'key.pem');
      writeFileSync(pem, `-----BEGIN PUBLIC KEY-----\n${spki.toString('base64')}\n-----END PUBLIC KEY-----\n`);
      writeFileSync(join(s.dataDir, 'msg'), challenge);
      writeFileSync(join(s.dataDir, 'sig'), Buffer.from(signature, 'base64'));
      const args =
        algorithm === 'Ed25519'
          ? [
              'pkeyutl',
              '-verify',
              '-pubin',
              '-inkey',
              pem,
              '-rawin',
              '-in',
              join(s.dataDir, 'msg'),
              '-sigfile',
              join(s.dataDir, 'sig'),
            ]
          : ['dgst', '-sha256', '-verify', pem, '-signature', join(s.dataDir, 'sig'), join(s.dataDir, 'msg')];
      expect(execFileSync('openssl', args, { encoding: 'utf8' }), algorithm).toMatch(
        /Verified OK|Signature Verified Successfully/,
      );
    }
  });

  it('signs a root certificate in the token with each signing key, which openssl verifies and finds beside its key', async () => {
    const token = s.f.custody.record(s.custodyId).token;
    const random = (bytes: number) =>
      s.f.module.withSession(token, {}, (session, lib) => lib.C_GenerateRandom(session, Buffer.alloc(bytes)));
    const second = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
    for (const { keyId, algorithm } of s.keys.values()) {
      if (algorithm === 'AES-256') continue;
      const profile = {
        subject: { commonName: `${algorithm} root on ${backend.name}` },
        // A day back: the fixture's clock runs ahead of the one openssl reads.
        notBefore: second(Date.now() - 86_400_000),
        notAfter: second(s.f.clock.now.getTime() + 300 * 86_400_000),
        ca: true,
        keyUsage: ['keyCertSign', 'cRLSign'],
      };
      const params = s.pki.bindings['cert.self-sign']!({ keyId, profile }, random) as Record<string, unknown>;
      const done = await approved('cert.self-sign', params);
      expect(done.outcome, `${algorithm}: ${JSON.stringify(done.outcome)}`).toMatchObject({ status: 'ok' });
      const pem = join(s.dataDir, 'root.pem');
      writeFileSync(pem, (done.outcome as { result: { pem: string } }).result.pem);
      expect(execFileSync('openssl', ['verify', '-CAfile', pem, pem], { encoding: 'utf8' }).trim(), algorithm).toBe(
        `${pem}: OK`,
      );
    }
  });

  it('generates a backup-able key restricted to trusted wrapping keys, or only with the approvers’ explicit acceptance where the token cannot', async () => {
    const params = generateParams('AES-256', { backupable: true, label: 'backup-able' });
    if (!backend.expect.wrapWithTrusted) {
      refusedWhenProposed('key.generate', params, 'CKA_WRAP_WITH_TRUSTED');
      const accepted = await approved('key.generate', { ...params, acceptUnrestrictedExport: true });
      expect(accepted).toMatchObject({
        state: 'executed',
        outcome: { status: 'ok', result: { exportRestrictedToTrustedKeys: false } },
      });
      s.keys.set('backup-able', {
        keyId: (accepted.outcome as { result: { keyId: string } }).result.keyId,
        algorithm: 'AES-256',
      });
      return;
    }
    const done = await approved('key.generate', params);
    expect(done).toMatchObject({
      state: 'executed',
      outcome: { status: 'ok', result: { exportRestrictedToTrustedKeys: true } },
    });
    s.keys.set('backup-able', {
      keyId: (done.outcome as { result: { keyId: string } }).result.keyId,
      algorithm: 'AES-256',
    });
  });

  it('backs up and restores where the token can wrap, and refuses the backup when proposed where it cannot', async () => {
    const keyId = s.keys.get('backup-able')!.keyId;
    const params = { keyIds: [keyId], holders: [id(0), id(1), id(2)], threshold: 2 };
    if (!backend.expect.backup) {
      refusedWhenProposed('key.backup', params, 'CKM_AES_KEY_WRAP_PAD');
      return;
    }
    const backup = await approved('key.backup', params);
    expect(backup).toMatchObject({ state: 'executed', outcome: { status: 'ok' } });
    const setId = (backup.outcome as { result: { setId: string } }).result.setId;
    const cards = s.backups.printableCards(setId);
    const target = await s.f.custody.take({
      token: backend.secondBlankToken!,
      threshold: 2,
      holders: s.f.holders(0, 1, 2),
      label: 'custos-test restore',
    });
    const restore = await approved('key.restore', { setId }, target.id);
    await s.backups.enterShare(restore.id, cards[0]!.text);
    expect(await s.backups.enterShare(restore.id, cards[1]!.text)).toMatchObject({
      state: 'executed',
      outcome: { status: 'ok' },
    });
  });

  it('hands the token to a new set of holders, who open it', async () => {
    const proposal = propose('custody.redeal', { threshold: 2, holders: [id(1), id(2), id(3)] });
    for (const who of [1, 2, 3]) {
      s.f.tick();
      const c = s.f.enrolled[who]!;
      await s.quorum.approve({
        proposalId: proposal.id,
        custodianId: c.id,
        passphrase: c.passphrase,
        code: totpCodeAt(c.secret, s.f.clock.now),
        fingerprint: proposal.shortFingerprint,
      });
    }
    const done = s.quorum.view(proposal.id);
    expect(done).toMatchObject({ state: 'executed', outcome: { status: 'ok' } });
    s.custodyId = (done.outcome as { result: { custodyId: string } }).result.custodyId;
    const drill = s.quorum.propose({
      custodyId: s.custodyId,
      action: 'token.quorum-drill',
      params: {},
      requestedBy: id(1),
    });
    expect(await s.f.approveAll(s.quorum, drill, [2, 3])).toMatchObject({
      state: 'executed',
      outcome: { status: 'ok' },
    });
  });
}

/** Custody of a token its owner already initialised with the vendor's tool: its SO PIN is entered once. */
export function initialisedTokenSuite(backend: TokenBackend): void {
  const s = {} as {
    dataDir: string;
    cleanup: () => void;
    f: Awaited<ReturnType<typeof quorumFixture>>;
    token: TokenRef;
    soPin: string;
  };
  beforeAll(async () => {
    ({ dataDir: s.dataDir, cleanup: s.cleanup } = tempDataDir());
    ({ token: s.token, soPin: s.soPin } = backend.initialisedToken(s.dataDir));
    s.f = await quorumFixture(
      s.dataDir,
      [{ name: 'Ada' }, { name: 'Babbage' }, { name: 'Curie' }],
      backend.module(s.dataDir),
    );
  });
  afterAll(() => {
    s.f?.close();
    s.cleanup?.();
  });

  it('refuses a wrong SO PIN before any share is stored, then takes custody with the right one', async () => {
    const take = (currentSoPin: string) =>
      s.f.custody.take({ token: s.token, threshold: 2, holders: s.f.holders(0, 1, 2), currentSoPin });
    await expect(take('7654321')).rejects.toMatchObject({ code: 'PIN_INCORRECT' });
    expect(s.f.opened.store.get<{ n: number }>(sql`SELECT count(*) AS n FROM custody_shares`)!.n).toBe(0);
    const custody = await take(s.soPin);
    expect(custody).toMatchObject({ state: 'active', token: s.token, pinBits: backend.expect.pinBits });
    // The owner's SO PIN no longer opens the token: Custos replaced it with one nobody has seen.
    expect(() =>
      s.f.module.withSession(s.token, { write: true, login: { user: 'so', pin: s.soPin } }, () => undefined),
    ).toThrow(expect.objectContaining({ code: 'PIN_INCORRECT' }));
  });
}
