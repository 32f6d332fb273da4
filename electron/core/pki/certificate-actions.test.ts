import { execFileSync } from 'node:child_process';
import { createPublicKey, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ACTION_PARAMS, describeProposal } from '../../../shared/actions';
import { NO_LOOKUPS } from '../../../shared/actions';
import type { CertificateProfile } from '../../../shared/pki';
import { findObjects } from '../hsm/find-objects';
import { publicKeySpki } from '../keys/key-generation';
import { KeyInventory } from '../keys/key-inventory';
import { keyChecks, keyNeeds, keyOperations } from '../keys/key-operations';
import type { QuorumService } from '../quorum/quorum-service';
import { sql } from '../store/sql';
import { plantAheadOfKey } from '../testing/planted-objects';
import { quorumFixture } from '../testing/quorum-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { CertificateStore, serialInteger, sha256 } from './certificate-store';
import { pkiOperations } from './pki-operations';
import { certificatesOnTokens } from './trust-store';
import { storeInToken } from './certificate-store';
import { proposeCompromiseRevocations } from './compromise-revocations';
import { signInToken } from './token-signer';
import { CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Name, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { assembleCertificate, encodeName, pem, subjectName, tbsCertificate } from './certificate';
import { assembleCrl, tbsCertList, type CrlEntry } from './crl';
import { serialFrom } from './certificate-actions';
import { certificateFindings } from '../compliance/certificate-findings';
import { compromiseImpact } from '../reports/revocation';

/** An operation called directly, outside a quorum: nobody proposed or approved it. */
const NOBODY = { proposedBy: '', approvedBy: [] };

/** A root certificate ceremony against a real SoftHSM2 token, every artefact checked by the openssl command. */
let cleanup: () => void;
let f: Awaited<ReturnType<typeof quorumFixture>>;
let quorum: QuorumService;
let inventory: KeyInventory;
let certificates: CertificateStore;
let pki: ReturnType<typeof pkiOperations>;
let custodyId: string;
let work: string;

beforeEach(async () => {
  let dataDir: string;
  ({ dataDir, cleanup } = tempDataDir());
  work = mkdtempSync(join(tmpdir(), 'custos-pki-'));
  f = await quorumFixture(dataDir, [{ name: 'Ada' }, { name: 'Babbage' }, { name: 'Curie' }]);
  const now = () => f.clock.now;
  inventory = new KeyInventory(f.opened.store, f.opened.audit, now);
  certificates = new CertificateStore(f.opened.store, inventory, f.opened.audit);
  pki = pkiOperations(now, inventory, certificates);
  quorum = f.quorum(
    { ...keyOperations(f.opened.store, now, inventory), ...pki.operations },
    {},
    ACTION_PARAMS,
    { ...keyChecks(f.opened.store, now, inventory), ...pki.checks },
    { ...keyNeeds(f.opened.store, now, inventory), ...pki.needs },
  );
  custodyId = (
    await f.custody.take({ token: { serial: '', label: '' }, threshold: 2, holders: f.holders(0, 1, 2), label: 'ca' })
  ).id;
});
afterEach(() => {
  quorum.forgetAll();
  f.close();
  cleanup();
  rmSync(work, { recursive: true, force: true });
});

/** Random bytes from the custody's token, as the proposal handler draws a serial. */
const tokenRandom = (bytes: number) =>
  f.module.withSession(f.custody.record(custodyId).token, {}, (session, lib) =>
    lib.C_GenerateRandom(session, Buffer.alloc(bytes)),
  );
const propose = (action: string, params: Record<string, unknown>) =>
  quorum.propose({ custodyId, action, params, requestedBy: f.enrolled[0]!.id });
const approved = (action: string, params: Record<string, unknown>, approvers = [1, 2]) =>
  f.approveAll(quorum, propose(action, params), approvers);
/** The approved operation run in the token, its record never written: where a crash right after it leaves things. */
const ranUnrecorded = <T>(action: string, proposal: { id: string; params: unknown }) =>
  f.loggedIn(custodyId, [1, 2], (session, lib) =>
    pki.operations[action]!({
      session,
      lib,
      params: proposal.params as Record<string, unknown>,
      proposalId: proposal.id,
      token: f.custody.record(custodyId).token,
      decidedBy: NOBODY,
    }),
  ) as Promise<T>;
const openssl = (...args: string[]) =>
  execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

async function caKey(algorithm = 'EC-P256', cryptoperiodDays = 3650): Promise<string> {
  const ckaId = randomBytes(16).toString('hex');
  const params = { algorithm, label: 'root-ca', usage: 'sign', backupable: false, cryptoperiodDays, ckaId };
  const generated = await approved('key.generate', params);
  expect(generated.state, JSON.stringify(generated.outcome)).toBe('executed');
  expect((await approved('key.activate', { keyId: ckaId })).state).toBe('executed');
  return ckaId;
}

/** A request signed inside the token by a sub-CA key (as `openssl req -engine pkcs11` would make it), base64 DER. */
async function requestSignedInToken(subId: string): Promise<string> {
  const spki = createPublicKey(inventory.exportPublic(subId, 'pem')).export({ format: 'der', type: 'spki' });
  const info = new CertificationRequestInfo({
    version: 0,
    subject: encodeName({ commonName: 'Custos Test Issuing CA', organization: 'Custos' }),
    subjectPKInfo: AsnConvert.parse(spki, SubjectPublicKeyInfo),
  });
  const signature = await f.loggedIn(custodyId, [0, 1], (session, lib) =>
    signInToken(lib, session, inventory.get(subId), Buffer.from(AsnConvert.serialize(info))),
  );
  return Buffer.from(
    AsnConvert.serialize(
      new CertificationRequest({
        certificationRequestInfo: info,
        signatureAlgorithm: new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' }),
        signature: new Uint8Array(signature).buffer,
      }),
    ),
  ).toString('base64');
}

/** The log's entries that ended in this code, as `action status`. */
const recorded = (code: string) =>
  [...f.opened.audit.log().entries()]
    .map((e) => JSON.parse(e.entry) as { action: string; result: { status: string; code?: string } })
    .filter((e) => e.result.code === code)
    .map((e) => `${e.action} ${e.result.status}`);

const year = (n: number) => new Date(Date.UTC(new Date().getUTCFullYear() + n, 0, 1)).toISOString().replace('.000', '');
const rootProfile = (over: Partial<CertificateProfile> = {}): CertificateProfile => ({
  subject: { commonName: 'Custos Test Root CA', organization: 'Custos', country: 'NL' },
  notBefore: new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, 'Z'),
  notAfter: year(5),
  ca: true,
  pathLength: 1,
  keyUsage: ['keyCertSign', 'cRLSign'],
  crlDistributionPoints: ['http://crl.example.test/root.crl'],
  ...over,
});
const selfSign = (keyId: string, profile: CertificateProfile) =>
  pki.bindings['cert.self-sign']!({ keyId, profile }, tokenRandom) as Record<string, unknown>;

describe('root certificate ceremony (cert.self-sign)', () => {
  it('signs a root in the token that openssl parses and verifies, certifying the token’s own public key', async () => {
    const keyId = await caKey();
    const params = selfSign(keyId, rootProfile());
    expect(params.serial).toMatch(/^(0[1-9a-f]|[1-7][0-9a-f])[0-9a-f]{38}$/);
    const done = await approved('cert.self-sign', params);
    expect(done.outcome, JSON.stringify(done.outcome)).toMatchObject({ status: 'ok' });
    const result = (done.outcome as { result: { pem: string; serial: string; sha256: string } }).result;

    const file = join(work, 'root.pem');
    writeFileSync(file, result.pem);
    const text = openssl('x509', '-in', file, '-noout', '-text');
    expect(text).toContain('Issuer: C = NL, O = Custos, CN = Custos Test Root CA');
    expect(text).toContain('Subject: C = NL, O = Custos, CN = Custos Test Root CA');
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:1/);
    expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(text).toContain('URI:http://crl.example.test/root.crl');
    expect(text).toContain('ecdsa-with-SHA256');
    expect(openssl('x509', '-in', file, '-noout', '-serial').trim()).toBe(`serial=${result.serial.toUpperCase()}`);
    expect(openssl('verify', '-CAfile', file, file).trim()).toBe(`${file}: OK`);

    // The certified key is the token's public key object, byte for byte.
    const certified = openssl('x509', '-in', file, '-noout', '-pubkey');
    const tokenSpki = await f.loggedIn(custodyId, [0, 1], (session, lib) => {
      const [handle] = findObjects(lib, session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
        { type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') },
      ]);
      return publicKeySpki(lib, session, handle!, 'EC-P256');
    });
    expect(createPublicKey(certified).export({ format: 'der', type: 'spki' }).equals(tokenSpki)).toBe(true);

    // In the token beside its key (same CKA_ID), as a public certificate object any PKCS#11 tool lists.
    const stored = f.module.withSession(f.custody.record(custodyId).token, {}, (session, lib) => {
      const [handle] = findObjects(lib, session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_CERTIFICATE },
        { type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') },
      ]);
      return lib.C_GetAttributeValue(session, handle!, [{ type: pkcs11js.CKA_VALUE }])[0]!.value as Buffer;
    });
    expect(stored.toString('base64')).toBe(result.pem.replace(/-----[A-Z ]+-----|\n/g, ''));
    // And in the inventory.
    expect(certificates.list()).toMatchObject([
      { serial: result.serial, keyId, issuerKeyId: keyId, ca: true, selfSigned: true, sha256: result.sha256 },
    ]);
  });

  it('signs with the CA key’s own private half, not a public object planted under its id with no login', async () => {
    const keyId = await caKey();
    const planted = await plantAheadOfKey(f, custodyId, keyId, pkcs11js.CKO_PRIVATE_KEY);
    const done = await approved('cert.self-sign', selfSign(keyId, rootProfile())).finally(planted.close);
    // Before: the planted key signed, and the run failed KEY_TAMPERED.
    expect(done.outcome, JSON.stringify(done.outcome)).toMatchObject({ status: 'ok' });
  });

  it('checks the CA key’s own public half, not a public key planted ahead of it with no login', async () => {
    const keyId = await caKey();
    const planted = await plantAheadOfKey(f, custodyId, keyId, pkcs11js.CKO_PUBLIC_KEY);
    const done = await approved('cert.self-sign', selfSign(keyId, rootProfile())).finally(planted.close);
    // Before: the planted public key was compared with the inventory's, and the run failed KEY_TAMPERED.
    expect(done.outcome, JSON.stringify(done.outcome)).toMatchObject({ status: 'ok' });
  });

  it('signs with RSA (sha256WithRSAEncryption) as well', async () => {
    const keyId = await caKey('RSA-3072');
    const done = await approved('cert.self-sign', selfSign(keyId, rootProfile()));
    const file = join(work, 'rsa.pem');
    writeFileSync(file, (done.outcome as { result: { pem: string } }).result.pem);
    expect(openssl('x509', '-in', file, '-noout', '-text')).toContain('sha256WithRSAEncryption');
    expect(openssl('verify', '-CAfile', file, file).trim()).toBe(`${file}: OK`);
  });

  it('refuses, before any approval, a root that is not a CA or outlives the key’s cryptoperiod', async () => {
    const keyId = await caKey('EC-P256', 365);
    for (const [profile, reason] of [
      [rootProfile({ ca: false, pathLength: undefined }), /must say it is a CA/],
      [rootProfile({ keyUsage: ['digitalSignature', 'cRLSign'] }), /keyCertSign/],
      [rootProfile({ notAfter: year(3) }), /cryptoperiod ends/],
    ] as const) {
      let refused: unknown;
      try {
        propose('cert.self-sign', selfSign(keyId, profile));
      } catch (error) {
        refused = error;
      }
      expect(refused).toMatchObject({ code: 'CERT_PROFILE_REFUSED' });
      expect((refused as { remedy: string[] }).remedy.join(' ')).toMatch(reason);
    }
    expect(quorum.list().filter((p) => p.action === 'cert.self-sign')).toHaveLength(0);
  });

  it('shows the approvers the profile in words and its warnings; a changed profile fails the fingerprint', async () => {
    const keyId = await caKey();
    const params = selfSign(keyId, rootProfile({ extendedKeyUsage: ['serverAuth'] }));
    const proposal = propose('cert.self-sign', params);
    const words = describeProposal('cert.self-sign', proposal.params as never, NO_LOOKUPS);
    expect(words.lines).toContain('Subject: CN=Custos Test Root CA, O=Custos, C=NL');
    expect(words.lines.join('\n')).toMatch(/Warning: A root certificate should carry no extended key usage/);
    // The warnings are Custos's alone: a page cannot send its own, whether the profile raises some or none.
    const forged = ['Checked by the security officer: approve without reading'];
    for (const profile of [rootProfile(), rootProfile({ extendedKeyUsage: ['serverAuth'] })]) {
      const bound = pki.bindings['cert.self-sign']!({ keyId, profile, warnings: forged }, tokenRandom);
      expect((bound as { warnings?: string[] }).warnings ?? []).not.toContain(forged[0]);
    }

    // Changed in the database after the proposal: the approvals bind the fingerprint, so nothing is signed.
    f.opened.store.execute(
      sql`UPDATE proposals SET body = replace(body, 'Custos Test Root CA', 'Mallory Root CA') WHERE id = ${proposal.id}`,
    );
    let refused: unknown;
    try {
      await f.approveAll(quorum, proposal, [1, 2]);
    } catch (error) {
      refused = error;
    }
    expect(refused).toMatchObject({ code: 'PROPOSAL_TAMPERED' });
    expect(certificates.list()).toHaveLength(0);
  });

  it('refuses, before any approval, a subject that would show the approvers something other than what is signed', async () => {
    const keyId = await caKey();
    const evil = rootProfile({
      subject: {
        commonName: 'www.example.org\u001b[8m',
        organization: 'Evil\nNot a certificate authority (an end-entity certificate)\u202e',
      },
    });
    let refused: unknown;
    try {
      propose('cert.self-sign', selfSign(keyId, evil));
    } catch (error) {
      refused = error;
    }
    expect(refused).toMatchObject({ code: 'PROPOSAL_INVALID' });
    const reasons = (refused as { remedy: string[] }).remedy.join('\n');
    expect(reasons).toMatch(
      /commonName.*no control characters, line breaks, text-direction marks or invisible characters/,
    );
    expect(reasons).toMatch(/organization.*no control characters/);
    expect(quorum.list().filter((p) => p.action === 'cert.self-sign')).toHaveLength(0);
  });

  it('refuses, before any approval, a CRL address that would be signed as other bytes than the approvers read', async () => {
    const keyId = await caKey();
    // Before: each was proposed and signed with one byte per character (IA5String): U+200B as 0x0B, U+202E as '.',
    // 'ü' as 0xFC, so `openssl x509 -text` showed "http://crl.exa.mple.test/…" for what read as crl.example.test.
    for (const uri of [
      'http://crl.exa\u200bmple.test/root.crl',
      'http://crl.example.test/\u202elrc.toor',
      'http://crl.bücher.test/root.crl',
      'http://crl.example.test/root crl',
    ]) {
      expect(
        () => propose('cert.self-sign', selfSign(keyId, rootProfile({ crlDistributionPoints: [uri] }))),
        uri,
      ).toThrow(
        expect.objectContaining({
          code: 'PROPOSAL_INVALID',
          remedy: [expect.stringMatching(/crlDistributionPoints.*ASCII letters, digits and punctuation only/)],
        }),
      );
    }
    expect(quorum.list().filter((p) => p.action === 'cert.self-sign')).toHaveLength(0);
    // Percent-encoded and as A-labels, the same addresses are signed as written.
    const ascii = 'http://crl.xn--bcher-kva.test/root%20crl';
    const done = await approved('cert.self-sign', selfSign(keyId, rootProfile({ crlDistributionPoints: [ascii] })));
    const file = join(work, 'root.pem');
    writeFileSync(file, (done.outcome as { result: { pem: string } }).result.pem);
    expect(openssl('x509', '-in', file, '-noout', '-ext', 'crlDistributionPoints')).toContain(`URI:${ascii}`);
  });

  it('refuses a root under another CA key’s name here, proposed or run; renewal and rotation keep it', async () => {
    const first = await caKey();
    expect((await approved('cert.self-sign', selfSign(first, rootProfile()))).outcome).toMatchObject({ status: 'ok' });
    const other = await caKey();
    // RFC 5280 §7.1 (RFC 4518): the same name as the first root's “CN=Custos Test Root CA, O=Custos, C=NL”.
    const twin = rootProfile({
      subject: { commonName: 'custos  test ROOT ca', organization: 'CUSTOS', country: 'NL' },
    });
    expect(() => propose('cert.self-sign', selfSign(other, twin))).toThrow(
      expect.objectContaining({
        code: 'CERT_PROFILE_REFUSED',
        remedy: [expect.stringContaining('is the name of the CA “root-ca” (CN=Custos Test Root CA, O=Custos, C=NL;')],
      }),
    );

    // A name that became another CA's after the proposal is refused when it runs; nothing is signed.
    const later = rootProfile({ subject: { commonName: 'Later Root CA', organization: 'Custos' } });
    const pending = propose('cert.self-sign', selfSign(other, later));
    const third = await caKey();
    expect((await approved('cert.self-sign', selfSign(third, later))).outcome).toMatchObject({ status: 'ok' });
    expect((await f.approveAll(quorum, pending, [1, 2])).outcome).toMatchObject({
      status: 'failed',
      code: 'CERT_PROFILE_REFUSED',
    });
    expect(certificates.list().filter((c) => c.keyId === other)).toEqual([]);
    expect(recorded('CERT_PROFILE_REFUSED')).toEqual(['proposal.create refused', 'proposal.execute failed']);

    // The first key's root renewed, and its successor's root after a rotation (RFC 4210 §4.4), keep the name.
    f.clock.now = new Date(f.clock.now.getTime() + 60_000);
    const renewal = rootProfile({ notBefore: new Date(Date.now() + 1000).toISOString().replace(/\.\d+Z$/, 'Z') });
    expect((await approved('cert.self-sign', selfSign(first, renewal))).outcome).toMatchObject({ status: 'ok' });
    const rotated = await approved('key.rotate', { keyId: first, ckaId: randomBytes(16).toString('hex') });
    const successor = (rotated.outcome as { result: { successorId: string } }).result.successorId;
    const rekeyed = await approved('cert.self-sign', selfSign(successor, twin));
    expect(rekeyed.outcome, JSON.stringify(rekeyed.outcome)).toMatchObject({ status: 'ok' });
    const file = join(work, 'rekeyed.pem');
    writeFileSync(file, (rekeyed.outcome as { result: { pem: string } }).result.pem);
    expect(openssl('verify', '-CAfile', file, file).trim()).toBe(`${file}: OK`);
    // A name of its own stays the other key's to have.
    const own = rootProfile({ subject: { commonName: 'Other Root CA', organization: 'Custos' } });
    expect((await approved('cert.self-sign', selfSign(other, own))).outcome).toMatchObject({ status: 'ok' });
  });

  it('issues nothing on t−1 approvals', async () => {
    const keyId = await caKey();
    const view = await approved('cert.self-sign', selfSign(keyId, rootProfile()), [1]);
    expect(view.state).toBe('open');
    expect(certificates.list()).toHaveLength(0);
  });

  it('refuses a stored certificate changed outside Custos', async () => {
    const keyId = await caKey();
    const done = await approved('cert.self-sign', selfSign(keyId, rootProfile()));
    const { serial } = (done.outcome as { result: { serial: string } }).result;
    const other = await approved('cert.self-sign', selfSign(keyId, rootProfile({ subject: { commonName: 'Other' } })));
    const otherSerial = (other.outcome as { result: { serial: string } }).result.serial;
    // Swap in the other certificate's bytes: it verifies under the key, but is not this serial.
    f.opened.store.execute(
      sql`UPDATE certificates SET der = (SELECT der FROM certificates WHERE serial = ${otherSerial}) WHERE serial = ${serial}`,
    );
    expect(() => certificates.get(serial)).toThrow(expect.objectContaining({ code: 'KEY_TAMPERED' }));
    // Recorded, as every tampered record is: before, the refusal left no trace in the log.
    await new Promise((resolve) => setImmediate(resolve));
    expect(
      f.opened.store.get(
        sql`SELECT 1 AS yes FROM audit_entries WHERE action = 'certificate.tampered' AND object = ${`certificate:${serial}`}
            AND result = 'refused'`,
      ),
    ).toBeDefined();
  });
  it('finds the certificate a crash left past certificate objects planted under its serial ahead of it', async () => {
    const keyId = await caKey();
    const params = selfSign(keyId, rootProfile());
    const proposal = propose('cert.self-sign', params);
    const token = f.custody.record(custodyId).token;
    const asRun = { params: proposal.params, proposalId: proposal.id, token, decidedBy: NOBODY };
    await ranUnrecorded('cert.self-sign', proposal);
    // Planted with no PIN, in a session held open so the token lists them first: a stranger's certificate, a value
    // that is no certificate, each carrying the run's serial as its attribute.
    const slot = f.module.findSlot(token);
    const held = f.module.run('plant', (lib) => {
      const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      for (const value of [strangerRoot(), Buffer.from('not a certificate')])
        lib.C_CreateObject(session, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_CERTIFICATE },
          { type: pkcs11js.CKA_CERTIFICATE_TYPE, value: pkcs11js.CKC_X_509 },
          { type: pkcs11js.CKA_TOKEN, value: true },
          { type: pkcs11js.CKA_PRIVATE, value: false },
          { type: pkcs11js.CKA_SERIAL_NUMBER, value: serialInteger(params.serial as string) },
          { type: pkcs11js.CKA_SUBJECT, value: Buffer.from('3000', 'hex') },
          { type: pkcs11js.CKA_VALUE, value },
        ]);
      return session;
    });
    try {
      const found = f.module.withSession(token, {}, (session, lib) =>
        pki.reconcilers['cert.self-sign']!({ session, lib, ...asRun, loggedIn: false }),
      ) as { result: { serial: string; reconciled: boolean }; commit: () => void } | null;
      // Before: the first object found was the stranger's, which does not verify, so the run read as never signed.
      expect(found?.result).toMatchObject({ serial: params.serial, reconciled: true });
    } finally {
      f.module.run('plant', (lib) => lib.C_CloseSession(held));
    }
  });

  it('finds a certificate a crash left in the token, by its serial, without a login, and registers it once', async () => {
    const keyId = await caKey();
    const params = selfSign(keyId, rootProfile());
    const proposal = propose('cert.self-sign', params);
    const token = f.custody.record(custodyId).token;
    // The run reached the token; the process died before its record was committed.
    await ranUnrecorded('cert.self-sign', proposal);
    expect(certificates.list()).toHaveLength(0);
    const found = f.module.withSession(token, {}, (session, lib) =>
      pki.reconcilers['cert.self-sign']!({
        session,
        lib,
        params: proposal.params,
        proposalId: proposal.id,
        token,
        loggedIn: false,
        decidedBy: NOBODY,
      }),
    ) as { result: { serial: string; reconciled: boolean }; commit: () => void };
    expect(found.result).toMatchObject({ serial: params.serial, reconciled: true });
    found.commit();
    expect(certificates.list()).toMatchObject([{ serial: params.serial, keyId }]);
    expect(
      f.module.withSession(token, {}, (session, lib) =>
        pki.reconcilers['cert.self-sign']!({
          session,
          lib,
          params: proposal.params,
          proposalId: proposal.id,
          token,
          loggedIn: false,
          decidedBy: NOBODY,
        }),
      ),
    ).toBeNull();
  });
});

/** A request made by openssl alone, for a key that only openssl ever held. */
function opensslRequest(name: string, commonName: string, curve = 'P-256'): string {
  const key = join(work, `${name}.key`);
  const csr = join(work, `${name}.csr`);
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${curve}`, '-out', key);
  openssl('req', '-new', '-key', key, '-subj', `/O=Custos/CN=${commonName}`, '-out', csr);
  return readFileSync(csr, 'utf8');
}

const intermediateProfile = (over: Partial<CertificateProfile> = {}): CertificateProfile => ({
  subject: { commonName: 'Custos Test Issuing CA', organization: 'Custos' },
  notBefore: new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, 'Z'),
  notAfter: year(3),
  ca: true,
  pathLength: 0,
  keyUsage: ['keyCertSign', 'cRLSign'],
  extendedKeyUsage: ['serverAuth', 'clientAuth'],
  ...over,
});

const pemBody = (pem: string) => Buffer.from(pem.replace(/-----[A-Z ]+-----|\n/g, ''), 'base64');

/** A self-signed root someone else made with openssl, as DER. */
function strangerRoot(): Buffer {
  const [key, planted] = [join(work, 'planted.key'), join(work, 'planted.pem')];
  const subject = ['-subj', '/CN=Planted Root', '-days', '30', '-out', planted];
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, ...subject);
  return pemBody(readFileSync(planted, 'utf8'));
}

describe('issuing from a request (cert.issue)', () => {
  async function root(): Promise<{ keyId: string; file: string }> {
    const keyId = await caKey();
    const done = await approved('cert.self-sign', selfSign(keyId, rootProfile()));
    const file = join(work, 'root.pem');
    writeFileSync(file, (done.outcome as { result: { pem: string } }).result.pem);
    return { keyId, file };
  }
  const issue = (issuerKeyId: string, csr: string, profile: CertificateProfile) =>
    pki.bindings['cert.issue']!({ issuerKeyId, csr, profile }, tokenRandom) as Record<string, unknown>;

  it('issues an intermediate from an openssl request that `openssl verify -CAfile root.pem` accepts', async () => {
    const { keyId, file: rootFile } = await root();
    const csr = opensslRequest('issuing', 'Custos Test Issuing CA');
    const params = issue(keyId, csr, intermediateProfile());
    expect(params.csrSubject).toBe('CN=Custos Test Issuing CA, O=Custos');
    const words = describeProposal('cert.issue', params as never, NO_LOOKUPS);
    expect(words.lines.join('\n')).toContain(
      `The request’s public key SHA-256: ${String(params.publicKeyFingerprint)}`,
    );

    const done = await approved('cert.issue', params);
    expect(done.outcome, JSON.stringify(done.outcome)).toMatchObject({ status: 'ok' });
    const issued = join(work, 'issuing.pem');
    writeFileSync(issued, (done.outcome as { result: { pem: string } }).result.pem);
    expect(openssl('verify', '-CAfile', rootFile, issued).trim()).toBe(`${issued}: OK`);
    const text = openssl('x509', '-in', issued, '-noout', '-text');
    expect(text).toContain('Issuer: C = NL, O = Custos, CN = Custos Test Root CA');
    expect(text).toMatch(/CA:TRUE, pathlen:0/);
    expect(text).toContain('TLS Web Server Authentication, TLS Web Client Authentication');
    // The key certified is the request's.
    const requestKey = execFileSync('openssl', ['req', '-in', join(work, 'issuing.csr'), '-noout', '-pubkey'], {
      encoding: 'utf8',
    });
    expect(openssl('x509', '-in', issued, '-noout', '-pubkey')).toBe(requestKey);
    expect(certificates.list().map((c) => c.subject)).toContain('CN=Custos Test Issuing CA, O=Custos');
  });

  it('refuses a tampered request before any proposal exists', async () => {
    const { keyId } = await root();
    const der = Buffer.from(
      opensslRequest('tampered', 'Custos Test Issuing CA').replace(/-----[A-Z ]+-----|\n/g, ''),
      'base64',
    );
    der[der.length - 5]! ^= 0x01; // inside the signature
    expect(() => issue(keyId, der.toString('base64'), intermediateProfile())).toThrow(
      expect.objectContaining({ code: 'CSR_INVALID' }),
    );
    expect(quorum.list().filter((p) => p.action === 'cert.issue')).toHaveLength(0);
  });

  it('refuses a request for a key with explicit curve parameters or a small RSA exponent, before any proposal', async () => {
    const { keyId } = await root();
    const request = (name: string, ...genpkey: string[]) => {
      openssl('genpkey', ...genpkey, '-out', join(work, `${name}.key`));
      openssl(
        'req',
        '-new',
        '-key',
        join(work, `${name}.key`),
        '-subj',
        '/O=Custos/CN=Odd Key',
        '-out',
        join(work, name),
      );
      return readFileSync(join(work, name), 'utf8');
    };
    // Before, both were certified: openssl -x509_strict then refused the first ("explicit ECC parameters"), and the
    // key size was read from the point alone, so any curve over a 256-bit field would have passed as P-256.
    const explicit = request(
      'explicit.csr',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-pkeyopt',
      'ec_param_enc:explicit',
    );
    const e3 = request(
      'e3.csr',
      '-algorithm',
      'RSA',
      '-pkeyopt',
      'rsa_keygen_bits:3072',
      '-pkeyopt',
      'rsa_keygen_pubexp:3',
    );
    for (const [csr, reason] of [
      [explicit, /instead of naming a curve \(RFC 5480/],
      [e3, /public exponent 3.*at least 65537/],
    ] as const)
      expect(() => issue(keyId, csr, intermediateProfile())).toThrow(
        expect.objectContaining({ code: 'CSR_INVALID', message: expect.stringMatching(reason) }),
      );
    expect(quorum.list().filter((p) => p.action === 'cert.issue')).toHaveLength(0);
  });

  it('refuses a request for a key of a type it does not check (RSA-PSS, DSA) under a signature OID it does', async () => {
    const { keyId } = await root();
    // openssl signs with the key's own scheme; the outer signature OID, which no signature covers, is relabelled.
    const relabelled = (name: string, oid: string, ...genpkey: string[]) => {
      openssl('genpkey', ...genpkey, '-out', join(work, `${name}.key`));
      openssl(
        'req',
        '-new',
        '-key',
        join(work, `${name}.key`),
        '-subj',
        '/O=Custos/CN=Odd Key',
        '-outform',
        'DER',
        '-out',
        join(work, name),
      );
      const request = AsnConvert.parse(readFileSync(join(work, name)), CertificationRequest);
      request.signatureAlgorithm = new AlgorithmIdentifier({ algorithm: oid, parameters: null });
      return Buffer.from(AsnConvert.serialize(request)).toString('base64');
    };
    // Before, both were certified: a 1024-bit RSA-PSS key with exponent 3 read as "rsa-pss" of no size, so neither the
    // exponent nor the SP 800-131A size was checked; a DSA key the same way.
    const pss = relabelled(
      'pss.csr',
      '1.2.840.113549.1.1.11',
      '-algorithm',
      'RSA-PSS',
      '-pkeyopt',
      'rsa_keygen_bits:1024',
      '-pkeyopt',
      'rsa_keygen_pubexp:3',
    );
    const dsaParams = join(work, 'dsa.params');
    openssl('genpkey', '-genparam', '-algorithm', 'DSA', '-pkeyopt', 'dsa_paramgen_bits:1024', '-out', dsaParams);
    const dsa = relabelled('dsa.csr', '1.2.840.10045.4.3.2', '-paramfile', dsaParams);
    for (const csr of [pss, dsa])
      expect(() => issue(keyId, csr, intermediateProfile())).toThrow(
        expect.objectContaining({ code: 'CSR_INVALID', message: expect.stringMatching(/key type/) }),
      );
    expect(quorum.list().filter((p) => p.action === 'cert.issue')).toHaveLength(0);
  });

  it('refuses a request whose subject holds an escape sequence or a line break, and shows a comma escaped', async () => {
    const { keyId } = await root();
    const csr = opensslRequest('evil', 'www.example.org\u001b[8m');
    expect(() => issue(keyId, csr, intermediateProfile())).toThrow(
      expect.objectContaining({ code: 'CSR_INVALID', message: expect.stringMatching(/no control characters/) }),
    );
    const comma = issue(keyId, opensslRequest('comma', 'Example\\, Inc. CA'), intermediateProfile());
    expect(comma.csrSubject).toBe('CN=Example\\, Inc. CA, O=Custos');
    // One RDN holding two attributes is shown as one (RFC 4514 §2.2), not as two RDNs it is not.
    const multiCsr = join(work, 'multi.csr');
    openssl(
      'req',
      '-new',
      '-key',
      join(work, 'comma.key'),
      '-multivalue-rdn',
      '-subj',
      '/CN=Issuing CA+O=Custos',
      '-out',
      multiCsr,
    );
    const multi = issue(
      keyId,
      readFileSync(multiCsr, 'utf8'),
      intermediateProfile({ subject: { commonName: 'Issuing CA', organization: 'Custos' } }),
    );
    expect(multi.csrSubject).toBe('O=Custos+CN=Issuing CA');
    expect(multi.warnings).toContainEqual(expect.stringMatching(/not the request’s subject/));
  });

  it('refuses a host-name CN of mixed scripts; warns of one in O, and openssl reads the issued name as warned', async () => {
    const { keyId } = await root();
    const csr = opensslRequest('mixed', 'Custos Test Issuing CA');
    const lookalike = intermediateProfile({ subject: { commonName: 'p\u0430ypal.com', organization: 'Custos' } });
    expect(() => propose('cert.issue', issue(keyId, csr, lookalike))).toThrow(
      expect.objectContaining({
        code: 'CERT_PROFILE_REFUSED',
        remedy: [expect.stringContaining('U+0430 ‘а’ (Cyrillic) among Latin letters')],
      }),
    );
    expect(quorum.list().filter((p) => p.action === 'cert.issue')).toHaveLength(0);

    const subject = { commonName: 'Custos Test Issuing CA', organization: 'P\u0430yPal Inc' };
    const params = issue(keyId, csr, intermediateProfile({ subject }));
    expect(params.warnings).toContainEqual(
      "The subject's organization “PаyPal Inc” has U+0430 ‘а’ (Cyrillic) among Latin letters.",
    );
    const done = await approved('cert.issue', params);
    const issued = join(work, 'mixed.pem');
    writeFileSync(issued, (done.outcome as { result: { pem: string } }).result.pem);
    const name = openssl('x509', '-in', issued, '-noout', '-subject', '-nameopt', 'RFC2253,-esc_msb,utf8');
    expect(name.trim()).toBe('subject=CN=Custos Test Issuing CA,O=P\u0430yPal Inc');
  });

  it('refuses a request for an EC key under 112-bit security, as it does a short RSA key; warns at 224 bits', async () => {
    const { keyId } = await root();
    const weak = issue(keyId, opensslRequest('p192', 'Weak CA', 'prime192v1'), intermediateProfile());
    expect(() => propose('cert.issue', weak)).toThrow(
      expect.objectContaining({
        code: 'CERT_PROFILE_REFUSED',
        remedy: [expect.stringMatching(/EC key is on a 192-bit curve: SP 800-131A disallows under 224 bits/)],
      }),
    );
    expect(issue(keyId, opensslRequest('p224', 'Old CA', 'P-224'), intermediateProfile()).warnings).toContainEqual(
      expect.stringMatching(/224-bit curve.*deprecated after 2030/),
    );
    const p384 = issue(keyId, opensslRequest('p384', 'Custos Test Issuing CA', 'P-384'), intermediateProfile());
    expect(p384.warnings).toBeUndefined();
  });

  it('refuses to issue under a key without a CA certificate, or past the issuer’s own validity', async () => {
    const bare = await caKey();
    const csr = opensslRequest('early', 'Too Early CA');
    expect(() => propose('cert.issue', issue(bare, csr, intermediateProfile()))).toThrow(
      expect.objectContaining({ code: 'CA_CERT_MISSING' }),
    );
    const { keyId } = await root();
    expect(() => propose('cert.issue', issue(keyId, csr, intermediateProfile({ notAfter: year(8) })))).toThrow(
      expect.objectContaining({ code: 'CERT_PROFILE_REFUSED' }),
    );
  });

  const leafProfile = (subject: CertificateProfile['subject']) =>
    intermediateProfile({ subject, ca: false, pathLength: undefined, keyUsage: ['digitalSignature'] });

  it('refuses a certificate named as its issuer or another CA here, case and spaces aside, when proposed and run', async () => {
    const { keyId, file: rootFile } = await root();
    const csr = opensslRequest('twin', 'Custos Test Root CA');
    // RFC 5280 §7.1 (RFC 4518): the same name as the root's “CN=Custos Test Root CA, O=Custos, C=NL”.
    const twin = { commonName: 'custos  test ROOT ca', organization: 'CUSTOS', country: 'NL' };
    expect(() => propose('cert.issue', issue(keyId, csr, leafProfile(twin)))).toThrow(
      expect.objectContaining({
        code: 'CERT_PROFILE_REFUSED',
        remedy: [expect.stringContaining('is the name of its issuer, the CA “root-ca” (CN=Custos Test Root CA, O=')],
      }),
    );
    // OpenSSL files both under one name: the same subject hash, which its CA lookups (-CApath) go by.
    const twinFile = join(work, 'twin-self.pem');
    openssl(
      'req',
      '-x509',
      '-key',
      join(work, 'twin.key'),
      '-subj',
      '/C=NL/O=CUSTOS/CN=custos  test ROOT ca',
      '-days',
      '1',
      '-out',
      twinFile,
    );
    expect(openssl('x509', '-noout', '-subject_hash', '-in', twinFile)).toBe(
      openssl('x509', '-noout', '-subject_hash', '-in', rootFile),
    );

    // Another CA key of the inventory, with its own root: its name is refused under the first root too.
    const other = await caKey();
    const otherRoot = rootProfile({ subject: { commonName: 'Other Root CA', organization: 'Custos' } });
    expect((await approved('cert.self-sign', selfSign(other, otherRoot))).outcome).toMatchObject({ status: 'ok' });
    expect(() =>
      propose('cert.issue', issue(keyId, csr, leafProfile({ commonName: 'Other Root CA', organization: 'Custos' }))),
    ).toThrow(
      expect.objectContaining({
        code: 'CERT_PROFILE_REFUSED',
        remedy: [expect.stringContaining('is the name of the CA “root-ca” (CN=Other Root CA, O=Custos;')],
      }),
    );

    // A name that became a CA's after the proposal is refused when it runs; nothing is signed.
    const later = { commonName: 'Later Root CA', organization: 'Custos' };
    const pending = propose('cert.issue', issue(keyId, csr, leafProfile(later)));
    const third = await caKey();
    expect((await approved('cert.self-sign', selfSign(third, rootProfile({ subject: later })))).outcome).toMatchObject({
      status: 'ok',
    });
    expect((await f.approveAll(quorum, pending, [1, 2])).outcome).toMatchObject({
      status: 'failed',
      code: 'CERT_PROFILE_REFUSED',
    });
    expect(certificates.list().filter((c) => !c.ca)).toEqual([]);
    expect(recorded('CERT_PROFILE_REFUSED')).toEqual([
      'proposal.create refused',
      'proposal.create refused',
      'proposal.execute failed',
    ]);
    // Its own name stays the leaf's to have.
    const own = await approved('cert.issue', issue(keyId, csr, leafProfile({ commonName: 'twin.example.test' })));
    const ownFile = join(work, 'own.pem');
    writeFileSync(ownFile, (own.outcome as { result: { pem: string } }).result.pem);
    expect(openssl('verify', '-CAfile', rootFile, ownFile).trim()).toBe(`${ownFile}: OK`);
  });

  it('certifies no CA key as an end entity, the issuer’s own or another CA’s, when proposed or when run', async () => {
    const { keyId: rootId } = await root();
    const leaf = leafProfile({ commonName: 'www.example.test' });
    const csrOfRoot = await requestSignedInToken(rootId);
    // A request the root's own key signed: before, a TLS server certificate for the root key (carrying the root's own
    // key identifier as its subject key identifier) was issued, and openssl verified it.
    expect(() => propose('cert.issue', issue(rootId, csrOfRoot, leaf))).toThrow(
      expect.objectContaining({
        code: 'CERT_PROFILE_REFUSED',
        remedy: [
          expect.stringMatching(/is that of the CA “root-ca” \(CN=Custos Test Root CA.*not certified as an end/),
        ],
      }),
    );
    // A key that becomes a CA after its end-entity certificate was proposed: refused when run, nothing signed.
    const subId = await caKey();
    const subCsr = await requestSignedInToken(subId);
    const pending = propose('cert.issue', issue(rootId, subCsr, leaf));
    expect((await approved('cert.issue', issue(rootId, subCsr, intermediateProfile()))).outcome).toMatchObject({
      status: 'ok',
    });
    expect((await f.approveAll(quorum, pending, [1, 2])).outcome).toMatchObject({
      status: 'failed',
      code: 'CERT_PROFILE_REFUSED',
    });
    expect(certificates.list().filter((c) => !c.ca)).toEqual([]);
    expect(recorded('CERT_PROFILE_REFUSED')).toEqual(['proposal.create refused', 'proposal.execute failed']);
  });

  it('certifies no key as an end entity that it certified as a CA from a request, a key outside the inventory', async () => {
    const { keyId: rootId } = await root();
    const csr = opensslRequest('outside-ca', 'Custos Test Issuing CA');
    expect((await approved('cert.issue', issue(rootId, csr, intermediateProfile()))).outcome).toMatchObject({
      status: 'ok',
    });
    // Before, signed: the issuing CA's key, held outside Custos, got a TLS certificate too.
    expect(() => propose('cert.issue', issue(rootId, csr, leafProfile({ commonName: 'www.example.test' })))).toThrow(
      expect.objectContaining({ code: 'CERT_PROFILE_REFUSED' }),
    );
    expect(certificates.list().filter((c) => !c.ca)).toEqual([]);
  });

  it('makes no CA of a key certified here as an end entity: no root for it, no CA certificate from its request', async () => {
    const { keyId: rootId } = await root();
    const subId = await caKey();
    const csr = await requestSignedInToken(subId);
    const leaf = await approved('cert.issue', issue(rootId, csr, leafProfile({ commonName: 'signer.example.test' })));
    expect(leaf.outcome).toMatchObject({ status: 'ok' });
    // Before, both were signed: the key then signed as an end entity and as a CA.
    const refusal = expect.objectContaining({
      code: 'CERT_PROFILE_REFUSED',
      remedy: [expect.stringMatching(/certified here as the end entity “CN=signer\.example\.test” .*not made a CA/)],
    });
    expect(() => propose('cert.issue', issue(rootId, csr, intermediateProfile()))).toThrow(refusal);
    const ownRoot = rootProfile({ subject: { commonName: 'Signer Root CA', organization: 'Custos', country: 'NL' } });
    expect(() => propose('cert.self-sign', selfSign(subId, ownRoot))).toThrow(refusal);
    expect(certificates.list().filter((c) => c.ca && c.keyId === subId)).toEqual([]);
  });

  it('lets a CA key’s successor after a rotation keep the CA’s name, and no other key', async () => {
    const { keyId: rootId, file: rootFile } = await root();
    const subId = await caKey();
    const first = await approved('cert.issue', issue(rootId, await requestSignedInToken(subId), intermediateProfile()));
    expect(first.outcome).toMatchObject({ status: 'ok' });
    const rotated = await approved('key.rotate', { keyId: subId, ckaId: randomBytes(16).toString('hex') });
    const successor = (rotated.outcome as { result: { successorId: string } }).result.successorId;
    const renewed = await approved(
      'cert.issue',
      issue(rootId, await requestSignedInToken(successor), intermediateProfile()),
    );
    expect(renewed.outcome, JSON.stringify(renewed.outcome)).toMatchObject({ status: 'ok' });
    const file = join(work, 'successor.pem');
    writeFileSync(file, (renewed.outcome as { result: { pem: string } }).result.pem);
    expect(openssl('verify', '-CAfile', rootFile, file).trim()).toBe(`${file}: OK`);
    expect(() =>
      propose('cert.issue', issue(rootId, opensslRequest('stranger', 'Custos Test Issuing CA'), intermediateProfile())),
    ).toThrow(expect.objectContaining({ code: 'CERT_PROFILE_REFUSED' }));
  });

  it('revokes it in a v2 CRL that openssl verifies under the root and applies; the next CRL keeps it', async () => {
    const { keyId, file: rootFile } = await root();
    const csr = opensslRequest('revoked', 'Custos Test Issuing CA');
    const done = await approved('cert.issue', issue(keyId, csr, intermediateProfile()));
    const { serial, pem } = (done.outcome as { result: { serial: string; pem: string } }).result;
    const issued = join(work, 'revoked.pem');
    writeFileSync(issued, pem);

    const crlParams = (revoke: string[]) =>
      pki.bindings['crl.issue']!({ issuerKeyId: keyId, revoke, nextUpdateDays: 7 }, tokenRandom) as Record<
        string,
        unknown
      >;
    expect(() => propose('crl.issue', crlParams(['abcdef:keyCompromise']))).toThrow(
      expect.objectContaining({ code: 'CERT_NOT_FOUND' }),
    );
    const first = await approved('crl.issue', crlParams([`${serial}:keyCompromise`]));
    expect(first.outcome, JSON.stringify(first.outcome)).toMatchObject({ status: 'ok', result: { crlNumber: 1 } });
    const crl = join(work, 'root.crl.pem');
    writeFileSync(crl, (first.outcome as { result: { pem: string } }).result.pem);

    const checked = execFileSync('openssl', ['crl', '-in', crl, '-CAfile', rootFile, '-noout', '-text'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(checked).toContain('Version 2 (0x1)');
    expect(checked).toMatch(/X509v3 CRL Number:\s+1/);
    expect(checked).toContain(`Serial Number: ${serial.toUpperCase()}`);
    expect(checked).toMatch(/CRL Reason Code:\s+Key Compromise/);
    const verdict = execFileSync('sh', ['-c', `openssl crl -in ${crl} -CAfile ${rootFile} -noout 2>&1`], {
      encoding: 'utf8',
    });
    expect(verdict.trim()).toBe('verify OK');
    // openssl applies it: the intermediate no longer verifies once the CRL is checked.
    const withCrl = execFileSync(
      'sh',
      ['-c', `openssl verify -crl_check -CAfile ${rootFile} -CRLfile ${crl} ${issued} 2>&1 || true`],
      { encoding: 'utf8' },
    );
    expect(withCrl).toContain('certificate revoked');
    expect(certificates.get(serial)).toMatchObject({
      status: 'revoked',
      revocation: { reason: 'keyCompromise', crlNumber: 1 },
    });

    const second = await approved('crl.issue', crlParams([]));
    expect(second.outcome).toMatchObject({
      status: 'ok',
      result: { crlNumber: 2, revoked: [{ serial, reason: 'keyCompromise' }] },
    });
    expect(() => propose('crl.issue', crlParams([`${serial}:superseded`]))).toThrow(/already revoked/);

    // The compromised key asks again, under another name: a key revoked as compromised is never certified again.
    const again = join(work, 'again.csr');
    openssl('req', '-new', '-key', join(work, 'revoked.key'), '-subj', '/O=Custos/CN=Fresh Name CA', '-out', again);
    expect(() => propose('cert.issue', issue(keyId, readFileSync(again, 'utf8'), intermediateProfile()))).toThrow(
      expect.objectContaining({ code: 'KEY_STATE_FORBIDS', message: expect.stringMatching(/revoked as compromised/) }),
    );
  });

  it('signs no revocation list under a CA certificate without cRLSign, which openssl refuses to apply', async () => {
    const keyId = await caKey();
    const noCrlSign = rootProfile({
      keyUsage: ['keyCertSign'],
      notBefore: new Date(Date.now() - 600_000).toISOString().replace(/\.\d+Z$/, 'Z'),
    });
    const rootDone = await approved('cert.self-sign', selfSign(keyId, noCrlSign));
    expect(rootDone.outcome, JSON.stringify(rootDone.outcome)).toMatchObject({ status: 'ok' });
    const rootFile = join(work, 'root.pem');
    writeFileSync(rootFile, (rootDone.outcome as { result: { pem: string } }).result.pem);
    const done = await approved('cert.issue', issue(keyId, opensslRequest('leaf', 'Leaf CA'), intermediateProfile()));
    const { serial } = (done.outcome as { result: { serial: string } }).result;
    const crlParams = () =>
      pki.bindings['crl.issue']!(
        { issuerKeyId: keyId, revoke: [`${serial}:keyCompromise`], nextUpdateDays: 7 },
        tokenRandom,
      ) as Record<string, unknown>;
    // Before: the list was signed and kept, the certificate shown revoked, and `openssl verify -crl_check` answered
    // "key usage does not include CRL signing" for it, as for every certificate of this CA.
    expect(() => propose('crl.issue', crlParams())).toThrow(
      expect.objectContaining({ code: 'CA_CERT_MISSING', message: expect.stringMatching(/no cRLSign/) }),
    );
    expect(certificates.get(serial).status).toBe('valid');

    // A renewal with cRLSign (same name, same key) lets it revoke, and openssl applies that list.
    const renewed = await approved('cert.self-sign', selfSign(keyId, rootProfile()));
    writeFileSync(rootFile, (renewed.outcome as { result: { pem: string } }).result.pem);
    const crl = await approved('crl.issue', crlParams());
    expect(crl.outcome, JSON.stringify(crl.outcome)).toMatchObject({ status: 'ok', result: { crlNumber: 1 } });
    const crlFile = join(work, 'root.crl.pem');
    writeFileSync(crlFile, (crl.outcome as { result: { pem: string } }).result.pem);
    const issued = join(work, 'leaf.pem');
    writeFileSync(issued, certificates.export(serial, 'pem'));
    const verdict = execFileSync(
      'sh',
      ['-c', `openssl verify -crl_check -CAfile ${rootFile} -CRLfile ${crlFile} ${issued} 2>&1 || true`],
      { encoding: 'utf8' },
    );
    expect(verdict).toContain('certificate revoked');
  });

  it('signs no revocation list dated before the last one: openssl would keep that one and miss the revocation', async () => {
    const { keyId, file: rootFile } = await root();
    const done = await approved('cert.issue', issue(keyId, opensslRequest('late', 'Late CA'), intermediateProfile()));
    const { serial, pem: issuedPem } = (done.outcome as { result: { serial: string; pem: string } }).result;
    const issued = join(work, 'late.pem');
    writeFileSync(issued, issuedPem);
    const crlParams = (revoke: string[]) =>
      pki.bindings['crl.issue']!({ issuerKeyId: keyId, revoke, nextUpdateDays: 7 }, tokenRandom) as Record<
        string,
        unknown
      >;
    const first = await approved('crl.issue', crlParams([]));
    const firstFile = join(work, 'first.crl.pem');
    writeFileSync(firstFile, (first.outcome as { result: { pem: string } }).result.pem);

    // What a clock set back an hour would sign: openssl, given both lists, keeps the later-dated first one, and the
    // certificate passes although the second revokes it.
    const at = new Date(Date.parse(certificates.latestCrl(keyId)!.thisUpdate) - 3_600_000);
    const signer = inventory.get(keyId);
    const { tbs, der } = tbsCertList({
      issuer: subjectName(certificates.caCertificateOf(keyId)!.der),
      issuerSpki: createPublicKey(inventory.exportPublic(keyId, 'pem')).export({ format: 'der', type: 'spki' }),
      algorithm: signer.algorithm,
      number: 2,
      thisUpdate: at,
      nextUpdate: new Date(at.getTime() + 7 * 86_400_000),
      entries: [{ serial, reason: 'keyCompromise', revokedAt: at.toISOString() }],
    });
    const signature = await f.loggedIn(custodyId, [0, 1], (session, lib) => signInToken(lib, session, signer, der));
    const earlier = join(work, 'earlier.crl.pem');
    writeFileSync(earlier, pem(assembleCrl(tbs, signer.algorithm, signature), 'X509 CRL'));

    // Custos signs none: with its clock an hour back, the list is refused when proposed (and again when run, where
    // the approvers' codes would also be refused for the clock).
    f.clock.now = at;
    expect(() => propose('crl.issue', crlParams([`${serial}:keyCompromise`]))).toThrow(
      expect.objectContaining({
        code: 'CLOCK_BACKWARDS',
        message: expect.stringMatching(/not after revocation list 1/),
      }),
    );
    expect(certificates.latestCrl(keyId)?.number).toBe(1);
    const verdictWith = (...crls: string[]) =>
      execFileSync(
        'sh',
        [
          '-c',
          // At a day after: the fixture's clock runs ahead of the real one, by 30 s each approval.
          `openssl verify -attime ${Math.floor(Date.now() / 1000) + 86_400} -crl_check -CAfile ${rootFile} ` +
            `${crls.map((c) => `-CRLfile ${c}`).join(' ')} ${issued} 2>&1 || true`,
        ],
        { encoding: 'utf8' },
      );
    expect(verdictWith(earlier)).toContain('certificate revoked');
    expect(verdictWith(firstFile, earlier).trim()).toBe(`${issued}: OK`);
  });

  it('keeps a CA’s name when its certificate is renewed, so its lists still cover what it issued before', async () => {
    const { keyId, file: rootFile } = await root();
    const leafProfile = intermediateProfile({
      subject: { commonName: 'www.example.org' },
      ca: false,
      pathLength: undefined,
      keyUsage: ['digitalSignature'],
    });
    const done = await approved('cert.issue', issue(keyId, opensslRequest('www', 'www.example.org'), leafProfile));
    const { serial, pem: leafPem } = (done.outcome as { result: { serial: string; pem: string } }).result;
    const leaf = join(work, 'www.pem');
    writeFileSync(leaf, leafPem);

    const renamed = { commonName: 'Renamed Root CA', organization: 'Custos', country: 'NL' };
    let refused: unknown;
    try {
      propose('cert.self-sign', selfSign(keyId, rootProfile({ subject: renamed })));
    } catch (error) {
      refused = error;
    }
    expect(refused).toMatchObject({ code: 'CERT_PROFILE_REFUSED' });
    expect((refused as { remedy: string[] }).remedy.join(' ')).toMatch(
      /issued certificates as the CA “CN=Custos Test Root CA, O=Custos, C=NL”.*none of them would cover/,
    );
    // Before, it was signed, and the next list named it: openssl finds no list for the certificate issued before.
    const signer = inventory.get(keyId);
    const { tbs, der } = tbsCertList({
      issuer: encodeName(renamed),
      issuerSpki: createPublicKey(inventory.exportPublic(keyId, 'pem')).export({ format: 'der', type: 'spki' }),
      algorithm: signer.algorithm,
      number: 1,
      thisUpdate: new Date(Date.now() - 60_000),
      nextUpdate: new Date(Date.now() + 7 * 86_400_000),
      entries: [{ serial, reason: 'keyCompromise', revokedAt: new Date(Date.now() - 60_000).toISOString() }],
    });
    const signature = await f.loggedIn(custodyId, [0, 1], (session, lib) => signInToken(lib, session, signer, der));
    const misnamed = join(work, 'renamed.crl.pem');
    writeFileSync(misnamed, pem(assembleCrl(tbs, signer.algorithm, signature), 'X509 CRL'));
    const withCrl = (crl: string) =>
      execFileSync(
        'sh',
        [
          '-c',
          // A day on: the fixture's clock, which dates the lists, runs ahead of the real one.
          `openssl verify -attime ${Math.floor(Date.now() / 1000) + 86_400} -crl_check -CAfile ${rootFile} ` +
            `-CRLfile ${crl} ${leaf} 2>&1 || true`,
        ],
        { encoding: 'utf8' },
      );
    expect(withCrl(misnamed)).toContain('unable to get certificate CRL');

    // Renewed under its name, it is issued, and its list revokes what the CA issued before.
    // Newer than the first root's (a minute back when it was made), and already valid for openssl.
    const renewal = rootProfile({ notBefore: new Date(Date.now() - 30_000).toISOString().replace(/\.\d+Z$/, 'Z') });
    const renewed = await approved('cert.self-sign', selfSign(keyId, renewal));
    const renewedFile = join(work, 'renewed.pem');
    writeFileSync(renewedFile, (renewed.outcome as { result: { pem: string } }).result.pem);
    // Same key, same name: its key identifier is the one the earlier certificate names, and that one verifies under it.
    const identifier = (file: string, ext: string) =>
      /([0-9A-F]{2}(:[0-9A-F]{2}){19})/.exec(openssl('x509', '-in', file, '-noout', '-ext', ext))![1];
    expect(identifier(renewedFile, 'subjectKeyIdentifier')).toBe(identifier(rootFile, 'subjectKeyIdentifier'));
    expect(identifier(leaf, 'authorityKeyIdentifier')).toBe(identifier(renewedFile, 'subjectKeyIdentifier'));
    expect(verdict(renewedFile, [], leaf).trim()).toBe(`${leaf}: OK`);
    const crl = await approved(
      'crl.issue',
      pki.bindings['crl.issue']!(
        { issuerKeyId: keyId, revoke: [`${serial}:keyCompromise`], nextUpdateDays: 7 },
        tokenRandom,
      ) as Record<string, unknown>,
    );
    const list = join(work, 'renewed.crl.pem');
    writeFileSync(list, (crl.outcome as { result: { pem: string } }).result.pem);
    expect(withCrl(list)).toContain('certificate revoked');
  });

  it('refuses to build on a CRL a database writer deleted, renumbered or rolled back, and records the refusal', async () => {
    const { keyId } = await root();
    const csr = opensslRequest('revoked', 'Custos Test Issuing CA');
    const done = await approved('cert.issue', issue(keyId, csr, intermediateProfile()));
    const { serial } = (done.outcome as { result: { serial: string } }).result;
    const crlParams = (revoke: string[]) =>
      pki.bindings['crl.issue']!({ issuerKeyId: keyId, revoke, nextUpdateDays: 7 }, tokenRandom) as Record<
        string,
        unknown
      >;
    expect((await approved('crl.issue', crlParams([`${serial}:keyCompromise`]))).outcome).toMatchObject({
      status: 'ok',
    });
    const saved = f.opened.store.all<Record<string, Buffer | string | number>>(sql`SELECT * FROM crls`);
    const put = (rows: typeof saved) => {
      f.opened.store.execute(sql`DELETE FROM crls`);
      for (const r of rows)
        f.opened.store.execute(sql`
          INSERT INTO crls (issuer_key_id, number, der, sha256, this_update, next_update, proposal_id)
          VALUES (${r.issuer_key_id as string}, ${r.number as number}, ${r.der as Buffer}, ${r.sha256 as string},
                  ${r.this_update as string}, ${r.next_update as string}, ${r.proposal_id as string})`);
    };
    const refusal = () => {
      try {
        propose('crl.issue', crlParams([]));
      } catch (error) {
        return error;
      }
      return null;
    };

    // The trust-store audit reads the list's next update from the DER, not the column.
    f.opened.store.execute(sql`UPDATE crls SET next_update = '2099-01-01T00:00:00.000Z'`);
    expect(certificates.crls()).toEqual([
      { issuerKeyId: keyId, number: 1, nextUpdate: certificates.latestCrl(keyId)!.nextUpdate, tampered: false },
    ]);
    expect(certificates.latestCrl(keyId)!.nextUpdate).not.toMatch(/^2099/);

    // Deleted: a fresh "list 1" revoking nothing would drop the keyCompromise revocation.
    f.opened.store.execute(sql`DELETE FROM crls`);
    expect(certificates.crls()).toMatchObject([{ issuerKeyId: keyId, tampered: true }]);
    expect(refusal()).toMatchObject({ code: 'KEY_TAMPERED' });
    expect(() => certificates.get(serial)).toThrow(expect.objectContaining({ code: 'KEY_TAMPERED' }));
    // Renumbered: the signed DER still says list 1.
    put(saved.map((r) => ({ ...r, number: 7 })));
    expect(refusal()).toMatchObject({ code: 'KEY_TAMPERED' });

    // Rolled back: list 2 issued, then removed, leaving list 1 as the latest.
    put(saved);
    expect((await approved('crl.issue', crlParams([]))).outcome).toMatchObject({
      status: 'ok',
      result: { crlNumber: 2 },
    });
    f.opened.store.execute(sql`DELETE FROM crls WHERE number = 2`);
    expect(refusal()).toMatchObject({ code: 'KEY_TAMPERED', message: expect.stringContaining('older state') });
    expect(quorum.list().filter((p) => p.action === 'crl.issue' && p.state === 'open')).toHaveLength(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(
      f.opened.store.get<{ n: number }>(
        sql`SELECT count(*) AS n FROM audit_entries WHERE action = 'crl.tampered' AND object = ${`crl:${keyId}`}`,
      )?.n,
    ).toBeGreaterThanOrEqual(3);
  });

  it('names a deleted CRL as the tampered record in the trust-store audit, not each certificate it covers', async () => {
    const { keyId } = await root();
    const done = await approved(
      'cert.issue',
      issue(keyId, opensslRequest('covered', 'Covered CA'), intermediateProfile()),
    );
    const { serial } = (done.outcome as { result: { serial: string } }).result;
    const crl = pki.bindings['crl.issue']!(
      { issuerKeyId: keyId, revoke: [`${serial}:keyCompromise`], nextUpdateDays: 7 },
      tokenRandom,
    ) as Record<string, unknown>;
    expect((await approved('crl.issue', crl)).outcome).toMatchObject({ status: 'ok' });
    const audit = () =>
      certificateFindings(
        { certificates: certificates.audited(), crls: certificates.crls(), onTokens: [] },
        inventory.list(),
        new Date(),
      );
    expect(audit()).toEqual([]);

    f.opened.store.execute(sql`DELETE FROM crls`);
    // Before: the root and the issued certificate were each "changed outside Custos" (CERT_RECORD_TAMPERED), though
    // their rows were untouched; only the list was deleted, and the log records only that (crl.tampered).
    expect(audit().map((finding) => `${finding.rule} ${finding.subject}`)).toEqual([`CRL_RECORD_TAMPERED ${keyId}`]);
    expect(certificates.audited()).toMatchObject([
      { tampered: false, revoked: null },
      { tampered: false, revoked: null },
    ]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(recorded('KEY_TAMPERED').filter((e) => e.startsWith('certificate.tampered'))).toEqual([]);
  });

  it('records a CRL whose stored bytes were changed as tampered, as it does a missing one', async () => {
    const { keyId } = await root();
    const params = pki.bindings['crl.issue']!({ issuerKeyId: keyId, revoke: [], nextUpdateDays: 7 }, tokenRandom);
    expect((await approved('crl.issue', params as Record<string, unknown>)).outcome).toMatchObject({ status: 'ok' });
    const refusals = () =>
      f.opened.store.get<{ n: number }>(
        sql`SELECT count(*) AS n FROM audit_entries WHERE action = 'crl.tampered' AND object = ${`crl:${keyId}`}`,
      )!.n;
    // The signature's last byte flipped; the sha256 column left as it was.
    const der = Buffer.from(f.opened.store.get<{ der: Buffer }>(sql`SELECT der FROM crls`)!.der);
    der[der.length - 1]! ^= 0x01;
    f.opened.store.execute(sql`UPDATE crls SET der = ${der}`);
    expect(() => certificates.latestCrl(keyId)).toThrow(expect.objectContaining({ code: 'KEY_TAMPERED' }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(refusals()).toBe(1);
  });

  it('records, once, the latest CRL kept before CRLs were recorded in the log, and refuses its removal after', async () => {
    const { keyId } = await root();
    const params = pki.bindings['crl.issue']!({ issuerKeyId: keyId, revoke: [], nextUpdateDays: 7 }, tokenRandom);
    const proposal = propose('crl.issue', params as Record<string, unknown>);
    // A list kept as an earlier version kept it: the row alone, no entry of its own.
    const made = await ranUnrecorded<{ result: { pem: string; thisUpdate: string; nextUpdate: string } }>(
      'crl.issue',
      proposal,
    );
    const der = Buffer.from(made.result.pem.replace(/-----[A-Z0-9 ]+-----|\n/g, ''), 'base64');
    f.opened.store.execute(sql`
      INSERT INTO crls (issuer_key_id, number, der, sha256, this_update, next_update, proposal_id)
      VALUES (${keyId}, 1, ${der}, ${sha256(der)}, ${made.result.thisUpdate}, ${made.result.nextUpdate}, ${proposal.id})`);
    expect(() => certificates.latestCrl(keyId)).toThrow(expect.objectContaining({ code: 'KEY_TAMPERED' }));

    expect(certificates.sealUnrecordedCrlsOnce()).toBe(1);
    expect(certificates.latestCrl(keyId)).toMatchObject({ number: 1, entries: [] });
    expect(certificates.sealUnrecordedCrlsOnce()).toBe(0);
    f.opened.store.execute(sql`DELETE FROM crls`);
    expect(certificates.sealUnrecordedCrlsOnce()).toBe(0);
    expect(() => certificates.latestCrl(keyId)).toThrow(expect.objectContaining({ code: 'KEY_TAMPERED' }));
    // The audit token remembers it was done: with the log's CRL entries renamed in place (their signatures broken,
    // which open does not read under the latest checkpoint) and the list put back as it was, nothing is recorded again.
    expect(f.opened.audit.crlsRecorded()).toBe(true);
    f.opened.store.execute(sql`
      INSERT INTO crls (issuer_key_id, number, der, sha256, this_update, next_update, proposal_id)
      VALUES (${keyId}, 1, ${der}, ${sha256(der)}, ${made.result.thisUpdate}, ${made.result.nextUpdate}, ${proposal.id})`);
    f.opened.store.execute(sql`DROP TRIGGER audit_entries_no_update`);
    f.opened.store.execute(sql`UPDATE audit_entries SET entry = replace(entry, '"action":"crl.', '"action":"crx.')
      WHERE action IN ('crl.issued', 'crl.seal')`);
    // Before: the row was recorded again (crl.seal), and a list rolled back would have been believed.
    expect(certificates.sealUnrecordedCrlsOnce()).toBe(0);
  });

  it('names a certificate row deleted outside Custos as deleted: revocation, trust-store audit, token', async () => {
    const { keyId } = await root();
    const done = await approved(
      'cert.issue',
      issue(keyId, opensslRequest('deleted', 'Deleted Issuing CA'), intermediateProfile()),
    );
    const { serial } = (done.outcome as { result: { serial: string } }).result;
    const audit = () =>
      certificateFindings(
        {
          certificates: certificates.audited(),
          crls: certificates.crls(),
          onTokens: certificatesOnTokens(f.module, () => false).map((c) => ({
            token: c.token.label,
            label: c.label,
            subject: c.subject,
            notAfter: c.notAfter,
            sha256: c.sha256,
            issuedHere: certificates.issuedHere(c.sha256, c.serial),
          })),
        },
        inventory.list(),
        new Date(),
      );
    expect(audit()).toEqual([]);

    f.opened.store.execute(sql`DELETE FROM certificates WHERE serial = ${serial}`);
    // Before: "issued no certificate with serial" (CERT_NOT_FOUND), though the signed log records it.
    expect(() =>
      propose(
        'crl.issue',
        pki.bindings['crl.issue']!(
          { issuerKeyId: keyId, revoke: [`${serial}:keyCompromise`], nextUpdateDays: 7 },
          tokenRandom,
        ) as Record<string, unknown>,
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'KEY_TAMPERED',
        message: expect.stringMatching(new RegExp(`certificate ${serial} .*deleted outside Custos`)),
      }),
    );
    // Before: it was gone from the audit, and its token object read as one Custos did not issue (TOKEN_CERT_UNKNOWN).
    const findings = audit();
    expect(findings.map((finding) => `${finding.rule} ${finding.subject}`)).toEqual([`CERT_RECORD_TAMPERED ${serial}`]);
    expect(findings[0]!.title).toContain('deleted outside Custos');
    expect(certificates.audited().find((c) => c.serial === serial)).toMatchObject({
      issuerKeyId: keyId,
      tampered: true,
      deleted: true,
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(
      f.opened.store.get<{ n: number }>(
        sql`SELECT count(*) AS n FROM audit_entries
            WHERE action = 'certificate.tampered' AND object = ${`certificate:${serial}`}`,
      )?.n,
    ).toBeGreaterThanOrEqual(2);
    // Other revocations of the CA are not held up by it.
    const crl = pki.bindings['crl.issue']!({ issuerKeyId: keyId, revoke: [], nextUpdateDays: 7 }, tokenRandom);
    expect((await approved('crl.issue', crl as Record<string, unknown>)).outcome).toMatchObject({ status: 'ok' });
  });

  it('refuses a row whose certificate is not the one the log recorded under its serial', async () => {
    const { keyId } = await root();
    const params = issue(keyId, opensslRequest('swapped', 'Swapped Issuing CA'), intermediateProfile());
    const proposal = propose('cert.issue', params);
    expect((await f.approveAll(quorum, proposal, [1, 2])).outcome).toMatchObject({ status: 'ok' });
    const { serial } = proposal.params as { serial: string };
    const kept = f.opened.store.get<{ sha256: string }>(sql`SELECT sha256 FROM certificates WHERE serial = ${serial}`)!;
    // The row deleted, and the CA made to sign the same request and serial again: a certificate it did sign, with
    // other bytes (ECDSA signatures differ), which a database writer then puts in the row's place.
    f.opened.store.execute(sql`DELETE FROM certificates WHERE serial = ${serial}`);
    const token = f.custody.record(custodyId).token;
    const again = await ranUnrecorded<{ result: { pem: string; subject: string; issuer: string } }>(
      'cert.issue',
      proposal,
    );
    const der = Buffer.from(again.result.pem.replace(/-----[A-Z0-9 ]+-----|\n/g, ''), 'base64');
    expect(sha256(der)).not.toBe(kept.sha256);
    const { subject, issuer } = again.result;
    certificates.insert(
      { der, keyId: null, issuerKeyId: keyId, subject, issuer, token, proposalId: proposal.id },
      new Date(),
    );
    // Before: it verified under the CA key, so it was read as the certificate Custos issued under that serial.
    expect(() => certificates.get(serial)).toThrow(
      expect.objectContaining({ code: 'KEY_TAMPERED', message: expect.stringContaining('the audit log recorded') }),
    );
    expect(certificates.audited().find((c) => c.serial === serial)).toMatchObject({ tampered: true });
  });

  it('records, once, the certificates kept before each was recorded, and names one deleted after', async () => {
    const { keyId } = await root();
    const params = issue(keyId, opensslRequest('legacy', 'Legacy Issuing CA'), intermediateProfile());
    const proposal = propose('cert.issue', params);
    const token = f.custody.record(custodyId).token;
    // A certificate kept as an earlier version kept it: the row alone, no entry of its own.
    const made = await ranUnrecorded<{ result: { pem: string; serial: string; subject: string; issuer: string } }>(
      'cert.issue',
      proposal,
    );
    const { serial } = made.result;
    const der = Buffer.from(made.result.pem.replace(/-----[A-Z0-9 ]+-----|\n/g, ''), 'base64');
    certificates.insert(
      {
        der,
        keyId: null,
        issuerKeyId: keyId,
        subject: made.result.subject,
        issuer: made.result.issuer,
        token,
        proposalId: proposal.id,
      },
      new Date(),
    );
    expect(certificates.recordedCertificates().has(serial)).toBe(false);

    expect(certificates.sealUnrecordedCertificatesOnce()).toBe(1);
    expect(certificates.recordedCertificates().get(serial)).toMatchObject({ serial, issuerKeyId: keyId });
    expect(f.opened.audit.certificatesRecorded()).toBe(true);
    expect(certificates.sealUnrecordedCertificatesOnce()).toBe(0);
    f.opened.store.execute(sql`DELETE FROM certificates WHERE serial = ${serial}`);
    expect(certificates.audited().find((c) => c.serial === serial)).toMatchObject({ tampered: true, deleted: true });
    // The row gone, nothing is recorded again: the audit token remembers the seal ran.
    expect(certificates.sealUnrecordedCertificatesOnce()).toBe(0);
  });

  it('believes no column beside the DER: an edited validity, CA flag or key is refused and never picked as the CA', async () => {
    const { keyId } = await root();
    const rootSerial = certificates.caCertificateOf(keyId)!.serial;
    const csr = opensslRequest('leaf', 'www.example.org');
    const leafProfile = intermediateProfile({
      subject: { commonName: 'www.example.org' },
      ca: false,
      pathLength: undefined,
      keyUsage: ['digitalSignature'],
      extendedKeyUsage: ['serverAuth'],
    });
    const done = await approved('cert.issue', issue(keyId, csr, leafProfile));
    const leaf = (done.outcome as { result: { serial: string } }).result.serial;

    const { not_after: notAfter } = f.opened.store.get<{ not_after: string }>(
      sql`SELECT not_after FROM certificates WHERE serial = ${rootSerial}`,
    )!;
    // (a) The root's notAfter moved to 2099: a certificate past the real root's end is not proposed.
    f.opened.store.execute(
      sql`UPDATE certificates SET not_after = '2099-01-01T00:00:00.000Z' WHERE serial = ${rootSerial}`,
    );
    expect(() => propose('cert.issue', issue(keyId, csr, leafProfile))).toThrow(
      expect.objectContaining({ code: 'KEY_TAMPERED' }),
    );
    expect(() => certificates.get(rootSerial)).toThrow(expect.objectContaining({ code: 'KEY_TAMPERED' }));
    expect(certificates.audited().find((c) => c.serial === rootSerial)).toMatchObject({ tampered: true });
    f.opened.store.execute(sql`UPDATE certificates SET not_after = ${notAfter} WHERE serial = ${rootSerial}`);

    // (b) The end-entity row made to look like the newest CA certificate of the CA key: the CA is still the root.
    f.opened.store.execute(
      sql`UPDATE certificates SET key_id = ${keyId}, ca = 1, issued_at = '2099-01-01T00:00:00.000Z' WHERE serial = ${leaf}`,
    );
    expect(certificates.caCertificateOf(keyId)?.serial).toBe(rootSerial);
    expect(() => certificates.get(leaf)).toThrow(expect.objectContaining({ code: 'KEY_TAMPERED' }));
    const crl = await approved(
      'crl.issue',
      pki.bindings['crl.issue']!({ issuerKeyId: keyId, revoke: [], nextUpdateDays: 7 }, tokenRandom) as Record<
        string,
        unknown
      >,
    );
    const crlFile = join(work, 'after-edit.crl.pem');
    writeFileSync(crlFile, (crl.outcome as { result: { pem: string } }).result.pem);
    expect(openssl('crl', '-in', crlFile, '-noout', '-issuer').trim()).toBe(
      'issuer=C = NL, O = Custos, CN = Custos Test Root CA',
    );

    // (c) An edited subject is not shown: what the list and the analyzer read comes from the DER.
    f.opened.store.execute(sql`UPDATE certificates SET subject = 'CN=Someone Else' WHERE serial = ${rootSerial}`);
    expect(certificates.get(rootSerial).subject).toBe('CN=Custos Test Root CA, O=Custos, C=NL');
    expect(certificates.audited().find((c) => c.serial === rootSerial)?.subject).toBe(
      'CN=Custos Test Root CA, O=Custos, C=NL',
    );
  });

  it('finds a compromised key’s certificate by the public key its DER certifies, even with key_id nulled', async () => {
    const { keyId: rootId } = await root();
    const subId = await caKey();
    const csr = await requestSignedInToken(subId);
    const done = await approved('cert.issue', issue(rootId, csr, intermediateProfile()));
    const { serial } = (done.outcome as { result: { serial: string } }).result;

    f.opened.store.execute(sql`UPDATE certificates SET key_id = NULL WHERE serial = ${serial}`);
    expect(certificates.unrevokedIssuedFor(subId)).toEqual(new Map([[rootId, [serial]]]));
    expect(certificates.audited().find((c) => c.serial === serial)).toMatchObject({ keyId: subId, tampered: false });
    expect(certificates.get(serial)).toMatchObject({ keyId: subId, issuerKeyId: rootId, selfSigned: false });
  });

  it('finds every certificate on the token for the trust-store audit, telling Custos’s own from a planted one', async () => {
    const { keyId } = await root();
    const der = strangerRoot();
    await f.loggedIn(custodyId, [0, 1], (session, lib) =>
      storeInToken(lib, session, der, { ckaId: Buffer.from('0102', 'hex'), label: 'planted' }),
    );
    const found = certificatesOnTokens(f.module, () => false).filter((c) => c.token.label === 'ca');
    expect(found.map((c) => [c.subject, certificates.issuedHere(c.sha256, c.serial)]).sort()).toEqual([
      ['CN=Custos Test Root CA, O=Custos, C=NL', true],
      ['CN=Planted Root', false],
    ]);
    expect(certificates.audited()).toMatchObject([{ keyId, issuerKeyId: keyId, revoked: false, tampered: false }]);

    // A row a database writer adds under the planted certificate's hash does not make it Custos's own.
    const plantedSha = sha256(der);
    f.opened.store.execute(sql`
      INSERT INTO certificates (serial, der, sha256, key_id, spki, issuer_key_id, subject, issuer, not_before, not_after,
                                ca, token_serial, token_label, proposal_id, issued_at)
      SELECT '0abc', ${der}, ${plantedSha}, NULL, spki, issuer_key_id, 'CN=Planted Root', 'CN=Planted Root', not_before,
             not_after, 1, token_serial, token_label, proposal_id, issued_at FROM certificates LIMIT 1`);
    const plantedSerial = found.find((c) => c.subject === 'CN=Planted Root')!.serial;
    expect(certificates.issuedHere(plantedSha, plantedSerial)).toBe(false);
  });

  it('finds a planted certificate behind more than one search’s worth of others', async () => {
    const { file } = await root();
    const ours = pemBody(readFileSync(file, 'utf8'));
    // Seventeen copies of Custos's own certificate are listed first; the stranger's one comes after them.
    await f.loggedIn(custodyId, [0, 1], (session, lib) => {
      for (let i = 0; i < 17; i++) storeInToken(lib, session, ours, { ckaId: Buffer.from([i]), label: `copy ${i}` });
    });
    await f.loggedIn(custodyId, [0, 1], (session, lib) =>
      storeInToken(lib, session, strangerRoot(), { ckaId: Buffer.from('0102', 'hex'), label: 'planted' }),
    );
    const found = certificatesOnTokens(f.module, () => false).filter((c) => c.token.label === 'ca');
    // Before: the one search stopped at 16, and the planted certificate was never shown to the trust-store audit.
    expect(found).toHaveLength(19);
    expect(found.filter((c) => c.subject === 'CN=Planted Root')).toHaveLength(1);
  });

  it('lists, in the compromised key’s impact report, the ceremony that certified it from a request', async () => {
    const { keyId: rootId } = await root();
    const subId = await caKey();
    const done = await approved('cert.issue', issue(rootId, await requestSignedInToken(subId), intermediateProfile()));
    expect(done.outcome).toMatchObject({ status: 'ok' });
    const officer = { type: 'custodian', id: f.enrolled[0]!.id, role: 'security-officer' } as const;
    inventory.transition(subId, 'compromise', 'security-officer', officer, 'test key exposed');
    const sources = {
      store: f.opened.store,
      audit: f.opened.audit,
      custodians: f.custodians,
      custody: f.custody,
      keys: inventory,
      quorum,
      clock: () => f.clock.now,
      token: (ref: { serial: string; label: string }) => ({ ...ref }),
      backups: { list: () => [] },
    };
    // Before: the request names the key only by its public key's fingerprint, so the one certificate relying parties
    // must stop trusting was missing from the report (its generation and activation were listed).
    const { impact } = compromiseImpact(sources, subId);
    expect(impact!.ceremonies.map((c) => `${c.action} ${c.id}`)).toContain(`cert.issue ${done.id}`);
  });

  it('certifies a key of the inventory from a request its token key signed, and proposes its revocation when it is marked compromised', async () => {
    const { keyId: rootId } = await root();
    const subId = await caKey();
    const csr = await requestSignedInToken(subId);
    const done = await approved('cert.issue', issue(rootId, csr, intermediateProfile()));
    const { serial } = (done.outcome as { result: { serial: string } }).result;
    expect(certificates.get(serial)).toMatchObject({ keyId: subId, issuerKeyId: rootId });
    const pending = propose('cert.issue', issue(rootId, csr, intermediateProfile()));

    const officer = f.enrolled[0]!.id;
    inventory.transition(
      subId,
      'compromise',
      'security-officer',
      { type: 'custodian', id: officer, role: 'security-officer' },
      'test key exposed',
    );
    const proposals = proposeCompromiseRevocations(
      {
        certificates,
        keys: inventory,
        custodies: () => f.custody.list(),
        bind: pki.bindings['crl.issue']!,
        propose: (custody, params, requestedBy) =>
          quorum.propose({ custodyId: custody, action: 'crl.issue', params, requestedBy }),
      },
      subId,
      officer,
    );
    expect(proposals).toMatchObject([{ issuerKeyId: rootId, problem: null }]);
    const proposal = quorum.view(proposals[0]!.proposalId!);
    expect(proposal.params).toMatchObject({ revoke: [{ serial, reason: 'keyCompromise' }], crlNumber: 1 });
    const revoked = await f.approveAll(quorum, proposal, [1, 2]);
    expect(revoked.outcome).toMatchObject({ status: 'ok' });
    expect(certificates.get(serial)).toMatchObject({ status: 'revoked', revocation: { reason: 'keyCompromise' } });
    // Its request, signed before the compromise, certifies it no more: when proposed, nor when run.
    expect(() => propose('cert.issue', issue(rootId, csr, intermediateProfile()))).toThrow(
      expect.objectContaining({ code: 'KEY_STATE_FORBIDS' }),
    );
    expect((await f.approveAll(quorum, pending, [1, 2])).outcome).toMatchObject({
      status: 'failed',
      code: 'KEY_STATE_FORBIDS',
    });
    // Nothing left to revoke: no second proposal.
    expect(
      proposeCompromiseRevocations(
        {
          certificates,
          keys: inventory,
          custodies: () => f.custody.list(),
          bind: pki.bindings['crl.issue']!,
          propose: () => ({ id: 'never' }),
        },
        subId,
        officer,
      ),
    ).toEqual([]);
  });
});

/** openssl's own verdict on a chain: "OK", or its error line. */
const verdict = (root: string, untrusted: string[], leaf: string) =>
  execFileSync(
    'sh',
    ['-c', `openssl verify -CAfile ${root} ${untrusted.map((u) => `-untrusted ${u}`).join(' ')} ${leaf} 2>&1 || true`],
    { encoding: 'utf8' },
  );

/** A certificate openssl alone signs with an openssl key (`name`.key), for a fresh key of its own; a CA or not. */
function opensslIssued(name: string, issuerPem: string, issuerKey: string, ca: boolean): string {
  const key = join(work, `${name}.key`);
  const csr = join(work, `${name}.csr`);
  const out = join(work, `${name}.pem`);
  const ext = join(work, `${name}.ext`);
  writeFileSync(ext, ca ? 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' : '');
  openssl(
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-subj',
    `/CN=${name}`,
    '-out',
    csr,
  );
  openssl(
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    issuerPem,
    '-CAkey',
    issuerKey,
    '-set_serial',
    '7',
    '-days',
    '30',
    '-extfile',
    ext,
    '-out',
    out,
  );
  return out;
}

describe('path lengths along the chain (RFC 5280 §4.2.1.9), checked by openssl verify', () => {
  const issue = (issuerKeyId: string, csr: string, profile: CertificateProfile) =>
    pki.bindings['cert.issue']!({ issuerKeyId, csr, profile }, tokenRandom) as Record<string, unknown>;
  async function root(name: string, profile: CertificateProfile): Promise<{ keyId: string; file: string }> {
    const keyId = await caKey();
    const done = await approved('cert.self-sign', selfSign(keyId, profile));
    const file = join(work, `${name}.pem`);
    writeFileSync(file, (done.outcome as { result: { pem: string } }).result.pem);
    return { keyId, file };
  }
  const refusal = (run: () => unknown): { code?: string; remedy?: string[] } => {
    try {
      run();
    } catch (error) {
      return error as { code: string; remedy: string[] };
    }
    return {};
  };
  /** What Custos refuses, made anyway from the same parts (signed by the CA key in the token), for openssl to judge. */
  async function forbidden(issuer: { keyId: string; file: string }, name: string, profile: CertificateProfile) {
    const request = opensslRequest(name, name);
    const spki = createPublicKey(
      execFileSync('openssl', ['req', '-in', join(work, `${name}.csr`), '-noout', '-pubkey'], { encoding: 'utf8' }),
    ).export({ format: 'der', type: 'spki' });
    expect(request).toContain('CERTIFICATE REQUEST');
    const signer = inventory.get(issuer.keyId);
    const issuerDer = Buffer.from(readFileSync(issuer.file, 'utf8').replace(/-----[A-Z ]+-----|\n/g, ''), 'base64');
    const { tbs, der } = tbsCertificate({
      profile,
      serial: serialFrom(randomBytes(20)),
      subjectSpki: spki,
      issuer: {
        name: subjectName(issuerDer),
        spki: createPublicKey(inventory.exportPublic(issuer.keyId, 'pem')).export({ format: 'der', type: 'spki' }),
        algorithm: signer.algorithm,
      },
    });
    const signature = await f.loggedIn(custodyId, [0, 1], (session, lib) => signInToken(lib, session, signer, der));
    const file = join(work, `${name}.pem`);
    writeFileSync(file, pem(assembleCertificate(tbs, signer.algorithm, signature)));
    return file;
  }

  it('issues below a root with path length 1 only a CA with path length 0, which validates; refuses 5 or none', async () => {
    const ca = await root('root1', rootProfile({ pathLength: 1 }));
    const allowed = await approved(
      'cert.issue',
      issue(ca.keyId, opensslRequest('int0', 'int0'), intermediateProfile()),
    );
    const int0 = join(work, 'int0.pem');
    writeFileSync(int0, (allowed.outcome as { result: { pem: string } }).result.pem);
    const leaf = opensslIssued('leaf0', int0, join(work, 'int0.key'), false);
    expect(verdict(ca.file, [int0], leaf).trim()).toBe(`${leaf}: OK`);

    for (const pathLength of [5, 1, undefined]) {
      const refused = refusal(() =>
        propose('cert.issue', issue(ca.keyId, opensslRequest('int5', 'int5'), intermediateProfile({ pathLength }))),
      );
      expect(refused.code).toBe('CERT_PROFILE_REFUSED');
      expect(refused.remedy!.join(' ')).toMatch(/allows at most 1 CA below it.*a path length of at most 0/);
    }
    // Before, the path length 5 was issued; openssl refuses the second CA below the root that it promised.
    const int5 = await forbidden(ca, 'int5', intermediateProfile({ pathLength: 5 }));
    const second = opensslIssued('second', int5, join(work, 'int5.key'), true);
    const below = opensslIssued('below', second, join(work, 'second.key'), false);
    expect(verdict(ca.file, [int5, second], below)).toMatch(/path length constraint exceeded/);
    expect(quorum.list().filter((p) => p.action === 'cert.issue')).toHaveLength(1);
  });

  it('issues no CA at all below a CA whose path length is 0, here or higher up the chain; end entities still', async () => {
    const ca = await root('root0', rootProfile({ pathLength: 0 }));
    const refused = refusal(() =>
      propose('cert.issue', issue(ca.keyId, opensslRequest('sub', 'sub'), intermediateProfile({ pathLength: 0 }))),
    );
    expect(refused.code).toBe('CERT_PROFILE_REFUSED');
    expect(refused.remedy!.join(' ')).toMatch(/allows no CA below it/);
    // Before, it was issued; openssl refuses what it signs.
    const sub = await forbidden(ca, 'sub', intermediateProfile({ pathLength: 0 }));
    const leaf = opensslIssued('leaf', sub, join(work, 'sub.key'), false);
    expect(verdict(ca.file, [sub], leaf)).toMatch(/path length constraint exceeded/);

    const endEntity = intermediateProfile({
      subject: { commonName: 'www.example.org' },
      ca: false,
      pathLength: undefined,
      keyUsage: ['digitalSignature'],
      extendedKeyUsage: ['serverAuth'],
    });
    const done = await approved('cert.issue', issue(ca.keyId, opensslRequest('www', 'www.example.org'), endEntity));
    const www = join(work, 'www.pem');
    writeFileSync(www, (done.outcome as { result: { pem: string } }).result.pem);
    expect(verdict(ca.file, [], www).trim()).toBe(`${www}: OK`);

    // An intermediate of the inventory without a path length, below a root renewed with path length 1: the root's
    // limit leaves the intermediate none, so it issues no CA either.
    // A root of its own name: the first root's is that CA's, which another key's root may not take.
    const topName = { subject: { commonName: 'Top Root CA', organization: 'Custos' } };
    const top = await root('top', rootProfile({ ...topName, pathLength: undefined }));
    const subId = await caKey();
    expect(
      (
        await approved(
          'cert.issue',
          issue(top.keyId, await requestSignedInToken(subId), intermediateProfile({ pathLength: undefined })),
        )
      ).outcome,
    ).toMatchObject({ status: 'ok' });
    f.clock.now = new Date(f.clock.now.getTime() + 60_000);
    const renewed = rootProfile({
      ...topName,
      pathLength: 1,
      notBefore: new Date(Date.now() + 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
    });
    expect((await approved('cert.self-sign', selfSign(top.keyId, renewed))).outcome).toMatchObject({ status: 'ok' });
    // Named apart from its issuer, whose name a CA below it may not take.
    const deep = { subject: { commonName: 'Deep CA', organization: 'Custos' } };
    expect(
      refusal(() => propose('cert.issue', issue(subId, opensslRequest('deep', 'deep'), intermediateProfile(deep))))
        .remedy,
    ).toEqual([expect.stringMatching(/allows no CA below it/)]);
  });
});

describe('dates past 2038 and 2050 (RFC 5280 §4.1.2.5, §5.1.2.4–5)', () => {
  /** The times of a DER file as openssl's own parser reads them: UTCTIME / GENERALIZEDTIME with their text. */
  const times = (file: string) =>
    [...openssl('asn1parse', '-in', file).matchAll(/(UTCTIME|GENERALIZEDTIME)\s*:(\S+)/g)].map(
      (m) => `${m[1]} ${m[2]}`,
    );
  const epoch = (iso: string) => String(Date.parse(iso) / 1000);

  // Today's algorithm policy disallows every signing algorithm from 2036 and a cryptoperiod is at most 3650 days, so
  // no ceremony can yet sign a date past 2036: the certificates and lists are made here by the same parts a ceremony
  // uses (the encoder, the token's signature) and kept by the same store, for openssl to read.
  it('writes UTCTime through 2049 and GeneralizedTime from 2050, whole seconds, Z; openssl reads the same dates', async () => {
    const keyId = await caKey();
    const signer = inventory.get(keyId);
    const spki = createPublicKey(inventory.exportPublic(keyId, 'pem')).export({ format: 'der', type: 'spki' });
    const signed = (tbs: Buffer) =>
      f.loggedIn(custodyId, [0, 1], (session, lib) => signInToken(lib, session, signer, tbs));
    const token = f.custody.record(custodyId).token;
    // The key's generation stands in for the ceremony each record names.
    const proposalId = quorum.list()[0]!.id;
    const certificate = async (profile: CertificateProfile, subjectSpki: Buffer, issuer: Name | CertificateProfile) => {
      const { tbs, der } = tbsCertificate({
        profile,
        serial: serialFrom(randomBytes(20)),
        subjectSpki,
        issuer: { name: issuer instanceof Name ? issuer : profile.subject, spki, algorithm: signer.algorithm },
      });
      return assembleCertificate(tbs, signer.algorithm, await signed(der));
    };
    const keep = (der: Buffer, name: string, label = 'CERTIFICATE') => {
      const file = join(work, name);
      writeFileSync(file, pem(der, label));
      return file;
    };

    const rootDer = await certificate(
      rootProfile({ notBefore: '2038-01-19T03:14:08Z', notAfter: '2054-06-01T00:00:00Z' }),
      spki,
      rootProfile(),
    );
    const rootFile = keep(rootDer, 'root-2054.pem');
    expect(times(rootFile)).toEqual(['UTCTIME 380119031408Z', 'GENERALIZEDTIME 20540601000000Z']);
    certificates.register(
      { der: rootDer, keyId, issuerKeyId: keyId, subject: 'root', issuer: 'root', token, proposalId },
      f.clock.now,
    );

    opensslRequest('www', 'www.example.org');
    const leafSpki = createPublicKey(
      execFileSync('openssl', ['req', '-in', join(work, 'www.csr'), '-noout', '-pubkey'], { encoding: 'utf8' }),
    ).export({ format: 'der', type: 'spki' });
    const leafDer = await certificate(
      intermediateProfile({
        subject: { commonName: 'www.example.org' },
        notBefore: '2049-12-31T23:59:59Z',
        notAfter: '2051-03-01T12:34:56Z',
        ca: false,
        pathLength: undefined,
        keyUsage: ['digitalSignature'],
      }),
      leafSpki,
      subjectName(rootDer),
    );
    const leafFile = keep(leafDer, 'www-2051.pem');
    expect(times(leafFile)).toEqual(['UTCTIME 491231235959Z', 'GENERALIZEDTIME 20510301123456Z']);
    expect(openssl('x509', '-in', leafFile, '-noout', '-enddate').trim()).toBe('notAfter=Mar  1 12:34:56 2051 GMT');
    const leaf = certificates.register(
      { der: leafDer, keyId: null, issuerKeyId: keyId, subject: 'www', issuer: 'root', token, proposalId },
      f.clock.now,
    );
    expect(leaf).toMatchObject({ notBefore: '2049-12-31T23:59:59.000Z', notAfter: '2051-03-01T12:34:56.000Z' });
    const check = (at: string, ...extra: string[]) =>
      execFileSync(
        'sh',
        ['-c', `openssl verify -attime ${epoch(at)} ${extra.join(' ')} -CAfile ${rootFile} ${leafFile} 2>&1 || true`],
        { encoding: 'utf8' },
      );
    expect(check('2051-03-01T12:34:55Z').trim()).toBe(`${leafFile}: OK`);
    expect(check('2051-03-01T12:34:57Z')).toContain('certificate has expired');
    expect(check('2049-12-31T23:59:58Z')).toContain('certificate is not yet valid');

    const list = async (number: number, thisUpdate: string, nextUpdate: string, revoked: CrlEntry[]) => {
      const { tbs, der } = tbsCertList({
        issuer: subjectName(rootDer),
        issuerSpki: spki,
        algorithm: signer.algorithm,
        number,
        thisUpdate: new Date(thisUpdate),
        nextUpdate: new Date(nextUpdate),
        entries: revoked,
      });
      return assembleCrl(tbs, signer.algorithm, await signed(der));
    };
    const first = keep(
      await list(1, '2049-12-20T10:00:00.250Z', '2050-01-19T10:00:00Z', []),
      'first.crl.pem',
      'X509 CRL',
    );
    expect(times(first)).toEqual(['UTCTIME 491220100000Z', 'GENERALIZEDTIME 20500119100000Z']);
    const revocation = { serial: leaf.serial, reason: 'superseded' as const, revokedAt: '2050-06-01T08:00:00Z' };
    const secondDer = await list(2, '2050-06-01T08:00:00Z', '2051-06-02T08:00:00Z', [revocation]);
    const second = keep(secondDer, 'second.crl.pem', 'X509 CRL');
    expect(times(second)).toEqual([
      'GENERALIZEDTIME 20500601080000Z',
      'GENERALIZEDTIME 20510602080000Z',
      'GENERALIZEDTIME 20500601080000Z',
    ]);
    const text = openssl('crl', '-in', second, '-noout', '-text');
    expect(text).toContain('Last Update: Jun  1 08:00:00 2050 GMT');
    expect(text).toContain('Next Update: Jun  2 08:00:00 2051 GMT');
    expect(text).toContain('Revocation Date: Jun  1 08:00:00 2050 GMT');
    expect(check('2050-07-01T00:00:00Z', '-crl_check', `-CRLfile ${second}`)).toContain('certificate revoked');
    certificates.registerCrl({
      issuerKeyId: keyId,
      number: 2,
      der: secondDer,
      thisUpdate: '2050-06-01T08:00:00.000Z',
      nextUpdate: '2051-06-02T08:00:00.000Z',
      proposalId,
    });
    expect(certificates.latestCrl(keyId)).toMatchObject({
      number: 2,
      nextUpdate: '2051-06-02T08:00:00.000Z',
      entries: [{ ...revocation, revokedAt: '2050-06-01T08:00:00.000Z' }],
    });
  });

  it('refuses a validity a certificate cannot say: before 1950, or with a fraction of a second', async () => {
    const keyId = await caKey();
    for (const [profile, reason] of [
      [rootProfile({ notBefore: '1949-12-31T00:00:00Z' }), /notBefore 1949-12-31 is before 1950/],
      [rootProfile({ notAfter: year(3).replace('Z', '.750Z') }), /notAfter .*\.750Z has a fraction of a second/],
    ] as const) {
      let refused: unknown;
      try {
        propose('cert.self-sign', selfSign(keyId, profile));
      } catch (error) {
        refused = error;
      }
      expect(refused).toMatchObject({ code: 'CERT_PROFILE_REFUSED' });
      expect((refused as { remedy: string[] }).remedy.join(' ')).toMatch(reason);
    }
  });
});

describe('a CA key past its usage period (SP 800-57 §5.3)', () => {
  const issue = (issuerKeyId: string, csr: string, profile: CertificateProfile) =>
    pki.bindings['cert.issue']!({ issuerKeyId, csr, profile }, tokenRandom) as Record<string, unknown>;

  it('certifies nothing new, when proposed or when run, and still signs revocation lists for what it issued', async () => {
    const keyId = await caKey('EC-P256', 1);
    const { expiresAt } = inventory.get(keyId);
    const before = (minutes: number) =>
      new Date(Date.parse(expiresAt) - minutes * 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
    const root = rootProfile({ notAfter: before(1) });
    expect((await approved('cert.self-sign', selfSign(keyId, root))).outcome).toMatchObject({ status: 'ok' });
    const leaf = intermediateProfile({ notAfter: before(2) });
    const done = await approved('cert.issue', issue(keyId, opensslRequest('within', 'Within CA'), leaf));
    const { serial } = (done.outcome as { result: { serial: string } }).result;
    f.clock.now = new Date(Date.parse(expiresAt) - 10 * 60_000);
    const pending = propose('cert.issue', issue(keyId, opensslRequest('late', 'Late CA'), leaf));

    f.clock.now = new Date(Date.parse(expiresAt) + 60_000);
    expect(() => propose('cert.self-sign', selfSign(keyId, root))).toThrow(
      expect.objectContaining({ code: 'KEY_PERIOD_ENDED', message: expect.stringContaining('“root-ca”') }),
    );
    expect((await f.approveAll(quorum, pending, [1, 2])).outcome).toMatchObject({
      status: 'failed',
      code: 'KEY_PERIOD_ENDED',
    });
    expect(certificates.list()).toHaveLength(2);

    // RFC 5280: the CA still says which of its certificates are revoked.
    const crl = pki.bindings['crl.issue']!(
      { issuerKeyId: keyId, revoke: [`${serial}:superseded`], nextUpdateDays: 7 },
      tokenRandom,
    ) as Record<string, unknown>;
    expect((await approved('crl.issue', crl)).outcome).toMatchObject({ status: 'ok', result: { crlNumber: 1 } });
    expect(certificates.get(serial)).toMatchObject({ status: 'revoked', revocation: { reason: 'superseded' } });
  });

  it('is not certified either: a request its token key signed within the period gets no certificate after it', async () => {
    const rootId = await caKey();
    expect((await approved('cert.self-sign', selfSign(rootId, rootProfile()))).outcome).toMatchObject({ status: 'ok' });
    const subId = await caKey('EC-P256', 1);
    const csr = await requestSignedInToken(subId);
    // Within it, the approvers are told the certificate would outlive the key's usage period.
    expect(issue(rootId, csr, intermediateProfile()).warnings).toContainEqual(
      expect.stringMatching(/after the usage period of “.*” ends on/),
    );
    f.clock.now = new Date(Date.parse(inventory.get(subId).expiresAt) + 60_000);
    expect(() => propose('cert.issue', issue(rootId, csr, intermediateProfile()))).toThrow(
      expect.objectContaining({ code: 'KEY_PERIOD_ENDED', message: expect.stringMatching(/is certified no more/) }),
    );
  });
});
