import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ACTION_PARAMS } from '../../../shared/actions';
import type { ProposalView } from '../../../shared/quorum';
import type { TransportPackage } from '../../../shared/transport';
import { ed25519PublicKeyObject } from '../audit/checkpoint';
import { canonicalJson } from '../canonical-json';
import { factorProofs } from '../custodians/factor-proofs';
import { totpCodeAt } from '../custodians/totp';
import { findObjects } from '../hsm/find-objects';
import { CKA_DESTROYABLE } from '../keys/key-attributes';
import { KeyInventory } from '../keys/key-inventory';
import { keyChecks, keyNeeds, keyOperations } from '../keys/key-operations';
import { QuorumService } from '../quorum/quorum-service';
import { quorumDrill } from '../quorum/drill';
import { ReportService } from '../reports/report-service';
import { verifyReport } from '../reports/report-verify';
import type { TokenModule } from '../hsm/token-module';
import { pullTokenBefore } from '../testing/pulled-token';
import { importTrustedKek } from '../backup/key-wrap';
import { opensslVerify } from '../testing/openssl';
import { plantAheadOfKey, plantPublicKey } from '../testing/planted-objects';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { packageOf } from '../testing/transport-package';
import { TransportRecipients } from './recipients';
import { TransportService } from './transport-service';

const privateOnly = { type: pkcs11js.CKA_PRIVATE, value: true };

/**
 * Key transport against a real SoftHSM2 token, with recipients and senders that are openssl alone:
 * their private keys exist only in PEM files, and every step on their side is an openssl command
 * from docs/key-transport.md.
 */
let cleanup: () => void;
let dir: string;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let quorum: QuorumService;
let inventory: KeyInventory;
let recipients: TransportRecipients;
let transport: TransportService;
let custodyId: string;
/** Whether the installation is a rehearsal's scratch one (ceremonies.scratch() in the app). */
let rehearsal: boolean;

beforeEach(async () => {
  rehearsal = false;
  ({ dataDir: dir, cleanup } = tempDataDir());
  f = await quorumFixture(dir, [{ name: 'Ada' }, { name: 'Babbage' }, { name: 'Curie' }]);
  const now = () => f.clock.now;
  inventory = new KeyInventory(f.opened.store, f.opened.audit, now);
  recipients = new TransportRecipients({
    store: f.opened.store,
    audit: f.opened.audit,
    custodians: f.custodians,
    clock: now,
  });
  transport = new TransportService({
    store: f.opened.store,
    audit: f.opened.audit,
    keys: inventory,
    recipients,
    module: () => f.module,
    clock: now,
    rehearsal: () => rehearsal,
  });
  quorum = f.quorum(
    { ...keyOperations(f.opened.store, now, inventory), 'key.import-wrapped': transport.importOperation() },
    { 'key.export-wrapped': transport.exportCeremony() },
    ACTION_PARAMS,
    {
      ...keyChecks(f.opened.store, now, inventory),
      'key.export-wrapped': transport.exportCheck,
      'key.import-wrapped': transport.importCheck,
    },
    {
      ...keyNeeds(f.opened.store, now, inventory),
      'key.export-wrapped': (p) => transport.exportNeeds(p),
      'key.import-wrapped': (p) => transport.importNeeds(p),
    },
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

/** Trusted keys left in the token: a transport's wrapping key must never outlive its ceremony. */
function trustedObjects(): number {
  return f.module.withSession(
    f.custody.record(custodyId).token,
    {},
    (session, lib) => findObjects(lib, session, [{ type: pkcs11js.CKA_TRUSTED, value: true }]).length,
  );
}

const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
const file = (name: string, data: string | Buffer) => {
  const path = join(dir, name);
  writeFileSync(path, data);
  return path;
};
const propose = (action: string, params: Record<string, unknown>) =>
  quorum.propose({ custodyId, action, params, requestedBy: f.enrolled[0]!.id });
const resultOf = <T>(view: ProposalView) => (view.outcome as { result: T }).result;
/** The proposals the log records this action on. */
const logged = (action: string) =>
  [...f.opened.audit.log().entries()]
    .map((e) => JSON.parse(e.entry) as { action: string; object?: { id: string } })
    .filter((e) => e.action === action)
    .map((e) => e.object?.id);

async function keyInToken(algorithm: string, usage: string, backupable: boolean, activate = false): Promise<string> {
  const ckaId = randomBytes(16).toString('hex');
  const params = { algorithm, label: `${usage}-${algorithm}`, usage, backupable, cryptoperiodDays: 365, ckaId };
  const view = await f.approveAll(quorum, propose('key.generate', params), [1, 2]);
  expect(view.state, JSON.stringify(view.outcome)).toBe('executed');
  if (activate)
    expect((await f.approveAll(quorum, propose('key.activate', { keyId: ckaId }), [1, 2])).state).toBe('executed');
  return ckaId;
}

/** A security officer records the recipient key as trusted, with both factors. */
async function trust(pem: string, label: string): Promise<string> {
  f.tick();
  const officer = f.setupOfficer!;
  const actor = await factorProofs(f.custodians).proveOfficer(
    { custodianId: officer.id, passphrase: officer.passphrase, code: totpCodeAt(officer.secret, f.clock.now) },
    'trust a transport recipient',
  );
  return recipients.record(pem, label, actor as typeof actor & { type: 'custodian' }).fingerprint;
}

/** A recipient outside Custos: a private key in a PEM file, made by openssl, and its public key. */
function outsideKey(name: string, algorithm: 'RSA' | 'EC'): { priv: string; pub: string } {
  const priv = join(dir, `${name}.pem`);
  openssl(
    'genpkey',
    ...(algorithm === 'RSA'
      ? ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:3072']
      : ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']),
    '-out',
    priv,
  );
  return { priv, pub: openssl('pkey', '-in', priv, '-pubout').toString() };
}

async function exported(keyId: string, recipient: string): Promise<{ pkg: TransportPackage; body: string }> {
  const params = { keyId, recipient, packageId: randomBytes(16).toString('hex') };
  const view = await f.approveAll(quorum, propose('key.export-wrapped', params), [1, 2]);
  expect(view.state, JSON.stringify(view.outcome)).toBe('executed');
  const { sha256 } = resultOf<{ sha256: string }>(view);
  const { body, signature } = transport.packageFile(sha256);
  // The recipient checks where it came from with openssl: the audit key's Ed25519 signature over the file's bytes.
  const auditPem = ed25519PublicKeyObject(f.opened.audit.noteKey()!.publicKey)
    .export({ format: 'pem', type: 'spki' })
    .toString();
  const verified = opensslVerify(
    file('audit.pem', auditPem),
    file('package.json', body),
    file('package.sig', signature!),
  );
  expect(verified).toContain('Signature Verified Successfully');
  expect(createHash('sha256').update(body).digest('hex')).toBe(sha256);
  return { pkg: JSON.parse(body) as TransportPackage, body };
}

/** AES-KWP (RFC 5649) unwrap with openssl, the wrapping key given in hex. */
const kwpUnwrap = (kekHex: string, wrapped: string) =>
  openssl(
    'enc',
    '-d',
    '-id-aes256-wrap-pad',
    '-K',
    kekHex,
    '-iv',
    'A65959A6',
    '-in',
    file('wrapped.bin', Buffer.from(wrapped, 'base64')),
  );

/** HKDF-SHA256 with openssl kdf: Z and info in hex, the 32-byte wrapping key in hex. */
const hkdf = (zHex: string, infoHex: string) =>
  openssl(
    'kdf',
    '-keylen',
    '32',
    '-kdfopt',
    'digest:SHA256',
    '-kdfopt',
    `hexkey:${zHex}`,
    '-kdfopt',
    `hexinfo:${infoHex}`,
    'HKDF',
  )
    .toString()
    .trim()
    .replace(/:/g, '');

const kcvOf = (keyHex: string) =>
  openssl('enc', `-aes-${keyHex.length * 4}-ecb`, '-nopad', '-K', keyHex, '-in', file('zero.bin', Buffer.alloc(16)))
    .subarray(0, 3)
    .toString('hex')
    .toUpperCase();

describe('key transport out (export wrapped for a trusted recipient)', () => {
  it('wraps an AES key for an RSA recipient; openssl alone unwraps it (RSA-OAEP SHA-256, then AES-KWP)', async () => {
    const recipient = outsideKey('partner-rsa', 'RSA');
    const fingerprint = await trust(recipient.pub, 'Partner HSM (RSA)');
    const keyId = await keyInToken('AES-256', 'encrypt', true);

    const { pkg } = await exported(keyId, fingerprint);

    expect(pkg).toMatchObject({ scheme: 'rsa-oaep-sha256+aes-kwp', recipient: { fingerprint, algorithm: 'RSA' } });
    const kek = openssl(
      'pkeyutl',
      '-decrypt',
      '-inkey',
      recipient.priv,
      '-in',
      file('kek.enc', Buffer.from(pkg.encryptedKek!, 'base64')),
      '-pkeyopt',
      'rsa_padding_mode:oaep',
      '-pkeyopt',
      'rsa_oaep_md:sha256',
      '-pkeyopt',
      'rsa_mgf1_md:sha256',
      '-pkeyopt',
      `rsa_oaep_label:${pkg.info}`,
    );
    expect(kek).toHaveLength(32);
    const key = kwpUnwrap(kek.toString('hex'), pkg.wrappedKey);
    expect(key).toHaveLength(32);
    // The key openssl unwrapped is the token's: the same check value, computed by openssl and recorded from the token.
    expect(kcvOf(key.toString('hex'))).toBe(inventory.get(keyId).kcv);
  });

  it('wraps an EC private key for an EC P-256 recipient; openssl alone derives, runs HKDF, unwraps, and finds the same public key', async () => {
    const recipient = outsideKey('partner-ec', 'EC');
    const fingerprint = await trust(recipient.pub, 'Partner HSM (EC)');
    const keyId = await keyInToken('EC-P256', 'sign', true);

    const { pkg } = await exported(keyId, fingerprint);

    expect(pkg.scheme).toBe('ecdh-hkdf-sha256+aes-kwp');
    const ephemeral = file(
      'eph.pem',
      openssl(
        'pkey',
        '-pubin',
        '-inform',
        'DER',
        '-in',
        file('eph.der', Buffer.from(pkg.ephemeralPublicKey!, 'base64')),
      ),
    );
    const z = openssl('pkeyutl', '-derive', '-inkey', recipient.priv, '-peerkey', ephemeral);
    const kek = hkdf(z.toString('hex'), pkg.info);
    const pkcs8 = kwpUnwrap(kek, pkg.wrappedKey);
    const publicKey = openssl('pkey', '-inform', 'DER', '-in', file('key.der', pkcs8), '-pubout', '-outform', 'DER');
    expect(publicKey.equals(inventory.publicKey(keyId)!)).toBe(true);
  });

  it('names each recipient and package of a wrapped copy in the compromise impact report, its PDF and the notice', async () => {
    const recipient = outsideKey('partner-rsa', 'RSA');
    const fingerprint = await trust(recipient.pub, 'Partner HSM (RSA)');
    const keyId = await keyInToken('AES-256', 'encrypt', true);
    const { pkg, body } = await exported(keyId, fingerprint);
    const officer = { type: 'custodian', id: f.setupOfficer!.id, role: 'security-officer' } as const;
    inventory.transition(keyId, 'compromise', 'security-officer', officer, 'Partner HSM room was broken into');
    const reports = new ReportService({
      store: f.opened.store,
      audit: f.opened.audit,
      custodians: f.custodians,
      custody: f.custody,
      backups: { list: () => [] },
      keys: inventory,
      quorum,
      clock: () => f.clock.now,
      token: (ref) => ({ ...ref, model: 'SoftHSM v2' }),
    });
    const sha256 = createHash('sha256').update(body).digest('hex');
    const summary = reports.create({ impact: { keyId } });
    const out = mkdtempSync(join(dir, 'impact-'));
    await reports.exportTo(summary.id, out);
    const stored = reports.stored(summary.id);
    expect(verifyReport(stored.json, stored.signature, f.opened.audit.noteKey()!)).toMatchObject({ ok: true });
    const impact = stored.report.impact!;
    expect(impact.wrappedCopies).toEqual([
      expect.objectContaining({
        packageId: pkg.id,
        sha256,
        recipient: { label: 'Partner HSM (RSA)', algorithm: 'RSA', fingerprint },
        scheme: 'rsa-oaep-sha256+aes-kwp',
        at: expect.any(String),
      }),
    ]);
    const pdf = execFileSync('pdftotext', [join(out, 'report.pdf'), '-'], { encoding: 'utf8' }).replace(/\s+/g, ' ');
    expect(pdf).toContain('Wrapped copies sent out (1)');
    expect(pdf).toContain('Partner HSM (RSA)');
    expect(pdf).toContain(sha256);
    const notice = reports.stored(reports.create({ revocation: { keyId } }).id).report.revocation!;
    expect(notice.relyingParties.at(-1)).toContain(`destroy it and confirm in writing: “Partner HSM (RSA)”`);
  });

  it('leaves no wrapping key in the token: none after an export, and one a crashed export left is removed at the next start', async () => {
    const fingerprint = await trust(outsideKey('partner', 'RSA').pub, 'Partner');
    const keyId = await keyInToken('AES-256', 'encrypt', true);
    await exported(keyId, fingerprint);
    expect(trustedObjects()).toBe(0);

    const packageId = randomBytes(16).toString('hex');
    const proposal = propose('key.export-wrapped', { keyId, recipient: fingerprint, packageId });
    // As if the process died after the SO put the wrapping key in: the run is journaled, the key is in the token.
    f.journal(proposal);
    f.tick();
    const keys = await Promise.all(
      [1, 2].map(async (i) => ({
        custodianId: f.enrolled[i]!.id,
        key: await f.custodians.verifyFactors(
          f.enrolled[i]!.id,
          f.enrolled[i]!.passphrase,
          totpCodeAt(f.enrolled[i]!.secret, f.clock.now),
          'test',
        ),
      })),
    );
    const so = await f.custody.rebuildPin(custodyId, 'so', keys);
    f.module.withSession(
      f.custody.record(custodyId).token,
      { write: true, login: { user: 'so', pin: so.toString('latin1') } },
      (session, lib) => importTrustedKek(lib, session, packageId, randomBytes(32), 'Custos transport KEK x', true),
    );
    so.fill(0);
    expect(trustedObjects()).toBe(1);
    const settled = new QuorumService({
      store: f.opened.store,
      audit: f.opened.audit,
      custodians: f.custodians,
      custody: f.custody,
      module: () => f.module,
      operations: {},
      reconcilers: { 'key.export-wrapped': transport.reconcileExport() },
    }).reconcile();
    expect(settled).toMatchObject([
      { proposalId: proposal.id, outcome: { status: 'failed', code: 'OPERATION_INTERRUPTED' } },
    ]);
    expect(trustedObjects()).toBe(0);
    expect(transport.list()).toHaveLength(1);
  });

  it('refuses a recipient no security officer recorded, and a key generated never to leave the token', async () => {
    const keyId = await keyInToken('AES-256', 'encrypt', true);
    const stranger = createHash('sha256').update('no one recorded this').digest('hex');
    expect(() =>
      propose('key.export-wrapped', { keyId, recipient: stranger, packageId: randomBytes(16).toString('hex') }),
    ).toThrow(expect.objectContaining({ code: 'TRANSPORT_RECIPIENT_UNTRUSTED' }));
    const fingerprint = await trust(outsideKey('partner', 'RSA').pub, 'Partner');
    const kept = await keyInToken('AES-256', 'encrypt', false);
    expect(() =>
      propose('key.export-wrapped', {
        keyId: kept,
        recipient: fingerprint,
        packageId: randomBytes(16).toString('hex'),
      }),
    ).toThrow(expect.objectContaining({ code: 'KEY_TYPE_UNSUITED' }));
  });

  it('exports nothing from a rehearsal: a package its scratch audit key signs would pass for a real one (fixed)', async () => {
    const keyId = await keyInToken('AES-256', 'encrypt', true);
    const fingerprint = await trust(outsideKey('partner', 'RSA').pub, 'Partner');
    const params = () => ({ keyId, recipient: fingerprint, packageId: randomBytes(16).toString('hex') });
    const before = propose('key.export-wrapped', params());
    rehearsal = true;
    // Before the fix both made a package that says nothing of a rehearsal, signed by the scratch audit key.
    expect(() => propose('key.export-wrapped', params())).toThrow(
      expect.objectContaining({ code: 'REHEARSAL_ACTIVE' }),
    );
    const ran = await f.approveAll(quorum, before, [1, 2]);
    expect(ran.outcome).toMatchObject({ status: 'failed', code: 'REHEARSAL_ACTIVE' });
    expect(transport.list()).toEqual([]);
    expect(trustedObjects()).toBe(0);
  });

  it('does not trust a recipient row a database writer inserts', async () => {
    const fingerprint = await trust(outsideKey('partner', 'RSA').pub, 'Partner');
    f.opened.store.execute({
      text: 'UPDATE transport_recipients SET label = ? WHERE fingerprint = ?',
      params: ['Mallory', fingerprint],
    });
    const keyId = await keyInToken('AES-256', 'encrypt', true);
    expect(() =>
      propose('key.export-wrapped', { keyId, recipient: fingerprint, packageId: randomBytes(16).toString('hex') }),
    ).toThrow(expect.objectContaining({ code: 'TRANSPORT_RECIPIENT_TAMPERED' }));
    expect(recipients.list()[0]!.status).toBe('tampered');
  });
});

/** A package made by a sender outside Custos with openssl alone, for a Custos EC wrapping key. */
function packageFromOpenssl(custosSpki: Buffer, declared: { usage: 'encrypt' | 'wrap' }, keyBytes = 32) {
  const custosPem = file(
    'custos.pem',
    openssl('pkey', '-pubin', '-inform', 'DER', '-in', file('custos.der', custosSpki)),
  );
  const eph = join(dir, 'sender-eph.pem');
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', eph);
  const ephSpki = openssl('pkey', '-in', eph, '-pubout', '-outform', 'DER');
  const aes = randomBytes(keyBytes);
  const id = randomBytes(16).toString('hex');
  const ckaId = randomBytes(16).toString('hex');
  const recipient = createHash('sha256').update(custosSpki).digest('hex');
  const info = Buffer.from(`custos-key-transport/v1 ${id} ${ckaId} AES-256 ${declared.usage} ${recipient}`).toString(
    'hex',
  );
  const z = openssl('pkeyutl', '-derive', '-inkey', eph, '-peerkey', custosPem);
  const kek = hkdf(z.toString('hex'), info);
  const wrapped = openssl('enc', '-id-aes256-wrap-pad', '-K', kek, '-iv', 'A65959A6', '-in', file('aes.bin', aes));
  const pkg: TransportPackage = {
    kind: 'custos-key-transport',
    v: 1,
    id,
    createdAt: '2026-12-01T10:00:00.000Z',
    madeBy: null,
    key: {
      ckaId,
      label: 'partner-data-key',
      algorithm: 'AES-256',
      usage: declared.usage,
      publicKey: null,
      fingerprint: null,
      kcv: kcvOf(aes.toString('hex')),
    },
    recipient: { fingerprint: recipient, algorithm: 'EC-P256' },
    scheme: 'ecdh-hkdf-sha256+aes-kwp',
    ephemeralPublicKey: ephSpki.toString('base64'),
    info,
    wrappedKey: wrapped.toString('base64'),
  };
  return { pkg, aes };
}

describe('key transport in (import a package wrapped for a Custos key)', () => {
  async function wrappingKey() {
    const keyId = await keyInToken('EC-P256', 'wrap', false, true);
    return { keyId, spki: inventory.publicKey(keyId)! };
  }
  const importParams = (sha256: string) => ({
    ...transport.bindImport({ package: sha256, cryptoperiodDays: 365 }, randomBytes),
  });

  it('unwraps an openssl-made EC package into the token after t approvals (t−1 do nothing): sensitive, not extractable, usable', async () => {
    const { keyId, spki } = await wrappingKey();
    const { pkg, aes } = packageFromOpenssl(spki, { usage: 'encrypt' });
    const received = transport.receive(JSON.stringify(pkg));
    expect(received).toMatchObject({ direction: 'in', importedAs: null, recipient: { algorithm: 'EC-P256' } });

    const proposal = propose('key.import-wrapped', importParams(received.sha256));
    const params = proposal.params as { ckaId: string; unwrapWith: string };
    expect(params.unwrapWith).toBe(keyId);
    const once = await f.approveAll(quorum, proposal, [1]);
    expect(once.state).toBe('open');
    expect(() => inventory.get(params.ckaId)).toThrow();

    const view = await f.approveAll(quorum, once, [2]);
    expect(view.state, JSON.stringify(view.outcome)).toBe('executed');
    const imported = inventory.get(params.ckaId);
    expect(imported).toMatchObject({
      label: 'partner-data-key',
      algorithm: 'AES-256',
      usage: 'encrypt',
      backupable: false,
      kcv: pkg.key.kcv,
    });
    expect(transport.list().find((p) => p.sha256 === received.sha256)!.importedAs).toBe(params.ckaId);

    const plain = Buffer.from('sixteen byte msg');
    const sealed = await f.loggedIn(custodyId, [0, 1], (session, lib) => {
      const [handle] = findObjects(lib, session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_ID, value: Buffer.from(params.ckaId, 'hex') },
      ]);
      const [sensitive, extractable] = lib.C_GetAttributeValue(session, handle!, [
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
      ]);
      expect([sensitive!.value, extractable!.value]).toEqual([Buffer.from([1]), Buffer.from([0])]);
      lib.C_EncryptInit(session, { mechanism: pkcs11js.CKM_AES_ECB }, handle!);
      return lib.C_Encrypt(session, plain, Buffer.alloc(16));
    });
    const opened = openssl(
      'enc',
      '-d',
      '-aes-256-ecb',
      '-nopad',
      '-K',
      aes.toString('hex'),
      '-in',
      file('sealed.bin', sealed),
    );
    expect(opened.equals(plain)).toBe(true);
  });

  it('unwraps with the Custos key’s own private half, not a public object planted under its id with no login', async () => {
    const { keyId, spki } = await wrappingKey();
    const planted = await plantAheadOfKey(f, custodyId, keyId, pkcs11js.CKO_PRIVATE_KEY);
    const received = transport.receive(JSON.stringify(packageFromOpenssl(spki, { usage: 'encrypt' }).pkg));
    const view = await f
      .approveAll(quorum, propose('key.import-wrapped', importParams(received.sha256)), [1, 2])
      .finally(planted.close);
    // Before: the planted key derived a secret of its own and the import failed TRANSPORT_PACKAGE_INVALID.
    expect(view.state, JSON.stringify(view.outcome)).toBe('executed');
  });

  it('receives and imports nothing in a rehearsal: a real sender’s key would land in a scratch token (fixed)', async () => {
    const { spki } = await wrappingKey();
    const kept = transport.receive(JSON.stringify(packageFromOpenssl(spki, { usage: 'encrypt' }).pkg));
    const proposal = propose('key.import-wrapped', importParams(kept.sha256));
    const ckaId = (proposal.params as { ckaId: string }).ckaId;
    rehearsal = true;
    // Before the fix the package was kept, and its key unwrapped into the token, of a rehearsal as of any installation.
    const { pkg } = packageFromOpenssl(spki, { usage: 'encrypt' });
    expect(() => transport.receive(JSON.stringify(pkg))).toThrow(expect.objectContaining({ code: 'REHEARSAL_ACTIVE' }));
    expect(() => importParams(kept.sha256)).toThrow(expect.objectContaining({ code: 'REHEARSAL_ACTIVE' }));
    const ran = await f.approveAll(quorum, proposal, [1, 2]);
    expect(ran.outcome).toMatchObject({ status: 'failed', code: 'REHEARSAL_ACTIVE' });
    expect(transport.list()).toMatchObject([{ sha256: kept.sha256, importedAs: null }]);
    expect(() => inventory.get(ckaId)).toThrow();
  });

  it('refuses a package changed after it was made: declarations not matching its info, or a wrapped key that does not open', async () => {
    const { spki } = await wrappingKey();
    const { pkg } = packageFromOpenssl(spki, { usage: 'encrypt' });
    // The usage changed without the info: refused when received.
    expect(() => transport.receive(JSON.stringify({ ...pkg, key: { ...pkg.key, usage: 'wrap' } }))).toThrow(
      expect.objectContaining({ code: 'TRANSPORT_PACKAGE_INVALID' }),
    );
    // Usage and info changed together: the wrapping key no longer opens the key; the import fails, leaves nothing.
    const info = Buffer.from(Buffer.from(pkg.info, 'hex').toString().replace(' encrypt ', ' wrap ')).toString('hex');
    const changed = transport.receive(JSON.stringify({ ...pkg, info, key: { ...pkg.key, usage: 'wrap' } }));
    const view = await f.approveAll(quorum, propose('key.import-wrapped', importParams(changed.sha256)), [1, 2]);
    expect(view.state).toBe('failed');
    expect(view.outcome).toMatchObject({ code: 'TRANSPORT_PACKAGE_INVALID' });
    const ckaId = (view.params as { ckaId: string }).ckaId;
    expect(() => inventory.get(ckaId)).toThrow();
    await f.loggedIn(custodyId, [0, 1], (session, lib) => {
      expect(findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(ckaId, 'hex') }])).toEqual([]);
    });
  });

  it('refuses a package declaring AES-256 whose wrapped key is shorter (AES-128), its check value matching', async () => {
    const { spki } = await wrappingKey();
    const { pkg } = packageFromOpenssl(spki, { usage: 'encrypt' }, 16);
    const received = transport.receive(JSON.stringify(pkg));
    const view = await f.approveAll(quorum, propose('key.import-wrapped', importParams(received.sha256)), [1, 2]);
    expect(view.state).toBe('failed');
    expect(view.outcome).toMatchObject({
      code: 'TRANSPORT_PACKAGE_INVALID',
      message: expect.stringContaining('is 24 bytes, not the 40 of an AES-256 key'),
    });
    const ckaId = (view.params as { ckaId: string }).ckaId;
    expect(() => inventory.get(ckaId)).toThrow();
    await f.loggedIn(custodyId, [0, 1], (session, lib) => {
      expect(findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(ckaId, 'hex') }])).toEqual([]);
    });
  });

  it('refuses a package whose label mixes scripts or reads as a key’s on the token in other case, and imports nothing', async () => {
    const { spki } = await wrappingKey();
    const aes = randomBytes(32);
    const declared = { algorithm: 'AES-256', usage: 'encrypt', publicKey: null, fingerprint: null } as const;
    const labelled = (label: string) => {
      const pkg = packageOf(spki, aes, { ...declared, kcv: kcvOf(aes.toString('hex')) });
      return transport.receive(JSON.stringify({ ...pkg, key: { ...pkg.key, label } })).sha256;
    };
    const refusal = (sha256: string) => {
      try {
        propose('key.import-wrapped', importParams(sha256));
      } catch (error) {
        return error as { code: string; message: string; remedy: string[] };
      }
      return null;
    };
    expect(refusal(labelled('p\u0430rtner key'))).toMatchObject({
      code: 'PROPOSAL_INVALID',
      remedy: ['It has U+0430 ‘а’ (Cyrillic) among Latin letters.', expect.stringContaining('Ask the sender')],
    });
    // The wrapping key on the token is “wrap-EC-P256”.
    expect(refusal(labelled('WRAP-EC-P256'))).toMatchObject({
      code: 'PROPOSAL_INVALID',
      message: expect.stringContaining('differs from that of the key “wrap-EC-P256” on the same token only by case'),
    });
    expect(quorum.list().filter((p) => p.action === 'key.import-wrapped')).toEqual([]);
    expect(inventory.list()).toHaveLength(1);
  });

  it('refuses a package whose key pair is not of the algorithm it declares (RSA-2048 as RSA-3072, P-256 as P-384)', async () => {
    const { spki } = await wrappingKey();
    const made = [
      { algorithm: 'RSA-3072', pair: generateKeyPairSync('rsa', { modulusLength: 2048 }) },
      { algorithm: 'EC-P384', pair: generateKeyPairSync('ec', { namedCurve: 'P-256' }) },
    ] as const;
    for (const { algorithm, pair } of made) {
      const publicKey = pair.publicKey.export({ format: 'der', type: 'spki' });
      const pkg = packageOf(spki, pair.privateKey.export({ format: 'der', type: 'pkcs8' }), {
        algorithm,
        usage: 'sign',
        publicKey: publicKey.toString('base64'),
        fingerprint: createHash('sha256').update(publicKey).digest('hex'),
        kcv: null,
      });
      expect(() => transport.receive(JSON.stringify(pkg)), algorithm).toThrow(
        expect.objectContaining({ code: 'TRANSPORT_PACKAGE_INVALID', message: expect.stringContaining(algorithm) }),
      );
    }
  });

  it('refuses a package whose stored body a database writer swapped after the proposal bound its hash', async () => {
    const { spki } = await wrappingKey();
    const first = packageFromOpenssl(spki, { usage: 'encrypt' });
    const other = packageFromOpenssl(spki, { usage: 'encrypt' });
    const received = transport.receive(JSON.stringify(first.pkg));
    const proposal = propose('key.import-wrapped', importParams(received.sha256));
    f.opened.store.execute({
      text: 'UPDATE transport_packages SET body = ? WHERE sha256 = ?',
      params: [JSON.stringify(other.pkg), received.sha256],
    });
    // Before: the other package's key was unwrapped under the approved hash.
    const view = await f.approveAll(quorum, proposal, [1, 2]);
    expect(view).toMatchObject({ state: 'failed', outcome: { code: 'TRANSPORT_PACKAGE_INVALID' } });
    const ckaId = (view.params as { ckaId: string }).ckaId;
    expect(() => inventory.get(ckaId)).toThrow();
    expect(() => transport.list()).toThrow(expect.objectContaining({ code: 'TRANSPORT_PACKAGE_INVALID' }));
    expect(() => transport.packageFile(received.sha256)).toThrow(
      expect.objectContaining({ message: expect.stringContaining('was changed outside Custos') }),
    );
  });

  it('a package whose import record a database writer deleted is not imported again', async () => {
    const { spki } = await wrappingKey();
    const { pkg } = packageFromOpenssl(spki, { usage: 'encrypt' });
    const received = transport.receive(JSON.stringify(pkg));
    const view = await f.approveAll(quorum, propose('key.import-wrapped', importParams(received.sha256)), [1, 2]);
    expect(view.state).toBe('executed');
    const ckaId = (view.params as { ckaId: string }).ckaId;
    f.opened.store.execute({ text: 'DELETE FROM key_origins WHERE key_id = ?', params: [ckaId] });
    // Before: listed as never imported, and a second proposal made a second key of the same material.
    expect(() => propose('key.import-wrapped', importParams(received.sha256))).toThrow(
      expect.objectContaining({ message: expect.stringContaining('deleted outside Custos') }),
    );
  });

  it('refuses an RSA-OAEP (SHA-256) package on a token that cannot unwrap it, naming the mechanism', async () => {
    const keyId = await keyInToken('RSA-3072', 'wrap', false, true);
    const spki = inventory.publicKey(keyId)!;
    const id = randomBytes(16).toString('hex');
    const recipient = createHash('sha256').update(spki).digest('hex');
    const key = {
      ckaId: randomBytes(16).toString('hex'),
      label: 'x',
      algorithm: 'AES-256' as const,
      usage: 'wrap' as const,
      publicKey: null,
      fingerprint: null,
      kcv: null,
    };
    const info = Buffer.from(`custos-key-transport/v1 ${id} ${key.ckaId} AES-256 wrap ${recipient}`).toString('hex');
    const pkg = {
      kind: 'custos-key-transport',
      v: 1,
      id,
      createdAt: '2026-12-01T10:00:00.000Z',
      madeBy: null,
      key,
      recipient: { fingerprint: recipient, algorithm: 'RSA' },
      scheme: 'rsa-oaep-sha256+aes-kwp',
      encryptedKek: randomBytes(384).toString('base64'),
      info,
      wrappedKey: randomBytes(40).toString('base64'),
    };
    expect(() => transport.receive(canonicalJson(pkg))).toThrow(
      expect.objectContaining({
        code: 'TRANSPORT_MECHANISM_MISSING',
        message: expect.stringContaining('CKM_RSA_PKCS_OAEP'),
      }),
    );
  });

  it('whose token is pulled out half-way waits like a crash; back, the next login removes what it left', async () => {
    const { spki } = await wrappingKey();
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const publicKey = pair.publicKey.export({ format: 'der', type: 'spki' });
    const pkg = packageOf(spki, pair.privateKey.export({ format: 'der', type: 'pkcs8' }), {
      algorithm: 'EC-P256',
      usage: 'sign',
      publicKey: publicKey.toString('base64'),
      fingerprint: createHash('sha256').update(publicKey).digest('hex'),
      kcv: null,
    });
    const { sha256 } = transport.receive(JSON.stringify(pkg));
    const token = f.custody.record(custodyId).token;
    // The private key is unwrapped into the token; the token is pulled before its public half is made, and the
    // private key can no longer be destroyed.
    const pulled = pullTokenBefore(f.module, dir, token, 'C_CreateObject', 1);
    const started = (module: () => TokenModule) =>
      new QuorumService({
        store: f.opened.store,
        audit: f.opened.audit,
        custodians: f.custodians,
        custody: f.custody,
        module,
        clock: () => f.clock.now,
        params: ACTION_PARAMS,
        operations: { 'token.quorum-drill': quorumDrill, 'key.import-wrapped': transport.importOperation() },
        reconcilers: { 'key.import-wrapped': transport.reconcileImport() },
      });
    quorum = started(() => pulled.module);
    const failed = await f.approveAll(quorum, propose('key.import-wrapped', importParams(sha256)), [1, 2]);
    const { ckaId } = failed.params as { ckaId: string };
    expect(pulled.pulled()).toBe(true);
    expect(failed).toMatchObject({ state: 'open', waitingFor: [expect.stringContaining('may still hold part of it')] });
    expect(logged('transport.import.unsettled')).toEqual([failed.id]);

    pulled.putBack();
    f.restart();
    const now = () => f.clock.now;
    inventory = new KeyInventory(f.opened.store, f.opened.audit, now);
    const parts = { store: f.opened.store, audit: f.opened.audit, clock: now };
    recipients = new TransportRecipients({ ...parts, custodians: f.custodians });
    transport = new TransportService({ ...parts, keys: inventory, recipients, module: () => f.module });
    quorum = started(() => f.module);
    expect(quorum.reconcile()).toMatchObject([{ proposalId: failed.id, status: 'awaiting-login' }]);
    const inToken = () =>
      f.loggedIn(
        custodyId,
        [0, 1],
        (session, lib) =>
          findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(ckaId, 'hex') }], 10).length,
      );
    expect(await inToken()).toBe(1);
    // Meanwhile someone with no PIN plants an object under the id that the token will not destroy.
    f.module.withSession(token, { write: true }, (session, lib) => {
      plantPublicKey(lib, session, ckaId, pkcs11js.CKO_PUBLIC_KEY, [{ type: CKA_DESTROYABLE, value: false }]);
    });

    expect((await f.approveAll(quorum, propose('token.quorum-drill', {}), [1, 2])).state).toBe('executed');
    // Before: TOKEN_ERROR at C_DestroyObject, and the unwrapped private key stayed in the token.
    expect(quorum.view(failed.id)).toMatchObject({
      state: 'failed',
      outcome: {
        code: 'OPERATION_INTERRUPTED',
        message: expect.stringMatching(/failed while importing.*removed \(1 object\(s\) .* will not destroy/),
      },
    });
    expect(await inToken()).toBe(1);
    const unwrapped = await f.loggedIn(custodyId, [0, 1], (session, lib) =>
      findObjects(lib, session, [{ type: pkcs11js.CKA_ID, value: Buffer.from(ckaId, 'hex') }, privateOnly], 10),
    );
    expect(unwrapped).toEqual([]);
    expect(logged('transport.import.removed')).toEqual([failed.id]);
  });
});
