import { createPublicKey, X509Certificate } from 'node:crypto';
import { IssueParams, SelfSignParams } from '../../../shared/actions';
import { nameInWords, type CertificateProfile } from '../../../shared/pki';
import type { KeyRecord } from '../../../shared/keys';
import type { TokenRef } from '../../../shared/tokens';
import { CustosError } from '../errors';
import { publicKeyObjectsHolding, requireSigningKey } from '../keys/key-generation';
import type { KeyAction, KeyInventory } from '../keys/key-inventory';
import { refusePastUsagePeriod } from '../keys/usage-period';
import type { QuorumReconciler } from '../quorum/quorum-service';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  assembleCertificate,
  encodeName,
  keyIdentifier,
  pathLengthOf,
  pem,
  subjectName,
  tbsCertificate,
} from './certificate';
import { certificatesInToken, sha256, storeInToken, type CertificateStore } from './certificate-store';
import { checkRequest, nameText, requestDer } from './csr';
import { sameName } from './name-match';
import { checkProfile, requireProfile, type ProfileContext } from './profile-check';
import { signInToken, signingNeed } from './token-signer';

/** A certificate action: the key action's parts, plus its recovery and what it binds when proposed. */
export type CertificateAction = Required<KeyAction> & {
  reconcile: QuorumReconciler;
  bind(params: Record<string, unknown>, random: (bytes: number) => Buffer): unknown;
};

/** What one certificate is, whoever asked for it: the parts the token signs and the inventory keeps. */
interface Planned {
  profile: CertificateProfile;
  serial: string;
  signer: KeyRecord;
  subjectSpki: Buffer;
  /** The certified key when the inventory holds it (a root's own key). */
  subjectKeyId: string | null;
  issuer: { der: Buffer | null; text: string };
  subjectText: string;
}

const spkiOf = (inventory: KeyInventory, keyId: string): Buffer =>
  createPublicKey(inventory.exportPublic(keyId, 'pem')).export({ format: 'der', type: 'spki' });
export const verifies = (der: Buffer, spki: Buffer) =>
  new X509Certificate(der).verify(createPublicKey({ key: spki, format: 'der', type: 'spki' }));

/** 20 bytes from the token's RNG, first byte 0x01–0x7f: a positive INTEGER with no leading zero. */
export function serialFrom(random: Buffer): string {
  const bytes = Buffer.from(random.subarray(0, 20));
  bytes[0] = bytes[0]! & 0x7f || 0x01;
  return bytes.toString('hex');
}

/**
 * The certificate ceremonies (issue #15) share one path: checks when proposed and again when run,
 * the signer's public key in the token compared with the inventory's, the TBS signed inside the
 * token, the result verified by OpenSSL (node:crypto) before it is kept — in the token (a public
 * CKO_CERTIFICATE object) and in the inventory, registered with the execution's audit entry.
 */
export function certificateActions(now: () => Date, inventory: KeyInventory, certificates: CertificateStore) {
  const profileContext = (signer: KeyRecord, kind: ProfileContext['kind'], extra: Partial<ProfileContext> = {}) => ({
    kind,
    subjectKey: { algorithm: signer.algorithm },
    signerExpiresAt: signer.expiresAt,
    now: now(),
    ...extra,
  });

  const caKey = (keyId: string, token: TokenRef) => {
    const key = requireSigningKey(inventory, keyId, token);
    if (key.usage !== 'sign')
      throw new CustosError(
        'KEY_TYPE_UNSUITED',
        `“${key.label}” is a ${key.usage} key; a CA key must be a signing key.`,
      );
    return key;
  };

  /**
   * A request made with a key of the inventory (signed before that key was suspended, compromised or rotated) would
   * certify a key Custos no longer uses: only a key in pre-activation or active, and not waiting to be destroyed, is.
   */
  const refuseRetiredSubject = (spki: Buffer) => {
    const der = createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ format: 'der', type: 'spki' });
    // A key outside the inventory is known here only by its certificates: one revoked as compromised ends it too.
    const revoked = certificates.compromisedFor(der);
    if (revoked)
      throw new CustosError(
        'KEY_STATE_FORBIDS',
        `The request's public key is that of certificate ${revoked.serial.slice(0, 16)}… (${revoked.subject}), ` +
          `revoked as compromised (${revoked.revocation!.reason}); no certificate is issued for it again.`,
        ['The key’s holder makes a new key and a request from it.'],
      );
    const digest = sha256(der);
    const key = inventory.list().find((k) => k.fingerprint === digest);
    if (!key) return;
    if (key.state !== 'pre-activation' && key.state !== 'active')
      throw new CustosError(
        'KEY_STATE_FORBIDS',
        `The request's public key is “${key.label}”, which is ${key.state}; no certificate is issued for it.`,
        ['Certify an active key: a new request from the key that replaced it.'],
      );
    if (key.destructionNotBefore)
      throw new CustosError('DESTRUCTION_WAITING', `The request's key “${key.label}” is waiting to be destroyed.`, [
        'Cancel the destruction (a quorum) to certify it, or certify another key.',
      ]);
    refusePastUsagePeriod(key, 'is certified no more');
  };

  /**
   * How many CAs may follow below the key's CA certificate: its own path length, and each CA certificate above it
   * (the newest of each issuer key, as Custos issues under it) less the CAs between them (RFC 5280 §6.1.4 (l)–(m)).
   */
  const issuerPathLength = (keyId: string): number | undefined => {
    let limit: number | undefined;
    let key = keyId;
    // A chain of CA certificates, at most as deep as the largest path length a profile may set, plus the root.
    for (let between = 0; between <= 9; between++) {
      const ca = certificates.caCertificateOf(key);
      if (!ca) break;
      const own = pathLengthOf(ca.der);
      if (own !== undefined) limit = Math.max(0, Math.min(limit ?? own, own - between));
      if (ca.issuerKeyId === key) break;
      key = ca.issuerKeyId;
    }
    return limit;
  };

  /**
   * A CA key that issued certificates under one name keeps it: its revocation lists name the issuer of its newest CA
   * certificate, and a list under a new name covers none of the certificates that name the old one (RFC 5280 §6.3.3),
   * so they could no longer be revoked.
   */
  const refuseRenamedCa = (keyId: string | undefined, profile: CertificateProfile) => {
    const current = keyId ? certificates.caCertificateOf(keyId) : null;
    if (!keyId || !current || !profile.ca || certificates.issuedBy(keyId).length === 0) return;
    const named = Buffer.from(AsnConvert.serialize(subjectName(current.der)));
    if (named.equals(Buffer.from(AsnConvert.serialize(encodeName(profile.subject))))) return;
    const was = nameText(subjectName(current.der));
    throw new CustosError('CERT_PROFILE_REFUSED', 'This certificate profile cannot be proposed.', [
      `The key already issued certificates as the CA “${was}”; a CA certificate naming “${nameInWords(profile.subject)}” ` +
        'would make its revocation lists name that, and none of them would cover a certificate it issued before ' +
        `(RFC 5280 §6.3.3). Keep the subject “${was}”, or rotate to a new key for the new name.`,
    ]);
  };

  /**
   * A certificate for another key under the exact name of a CA here (its issuer, or any CA key of the inventory) reads
   * to people as that CA, and to path building as a certificate that CA holds: with its issuer's name it is taken for
   * one the CA issued to itself (RFC 5280 §6.1: not counted against path lengths); a root under it makes two issuers
   * whose certificates name one issuer. Names compare as RFC 5280 §7.1 does, case and spaces aside. A CA certificate
   * for the same key (a renewal), or for the CA key's successor after a rotation (same family), keeps the name.
   */
  const caNameRefusals = (profile: CertificateProfile, spki: Buffer, issuerKeyId: string): string[] => {
    const certified = inventory.list().find((k) => k.fingerprint === sha256(spki));
    const asked = encodeName(profile.subject);
    const reasons = certificates.heldCaCertificates().flatMap((held) => {
      if (held.spki.equals(spki) || !sameName(asked, subjectName(held.der))) return [];
      const ca = inventory.get(held.keyId);
      if (profile.ca && certified?.family === ca.family) return [];
      const which = held.keyId === issuerKeyId ? 'its issuer, the CA' : 'the CA';
      return [
        `The subject “${nameInWords(profile.subject)}” is the name of ${which} “${ca.label}” ` +
          `(${nameText(subjectName(held.der))}; RFC 5280 §7.1 compares names without regard to case or spaces): a ` +
          'certificate for another key under that name would read to people, and to path building, as that CA. ' +
          'Give the certificate a name of its own.',
      ];
    });
    // A CA certificate renewed under the same name is one name.
    return [...new Set(reasons)];
  };

  /**
   * A CA key signs certificates and revocation lists only (SP 800-57 Part 1 §5.2: one key, one purpose). An end-entity
   * certificate for a key with a CA certificate here would let it sign as a server or a person too (for the issuer's
   * own key, carrying the CA's own key identifier, and openssl verifies it); a CA certificate for a key certified here
   * as an end entity would make a CA of a key that already signs as one.
   */
  const oneUseRefusals = (profile: CertificateProfile, spki: Buffer): string[] => {
    if (profile.ca) {
      const leaf = certificates.endEntitiesFor(spki)[0];
      return leaf
        ? [
            `The key is certified here as the end entity “${leaf.subject}” (serial ${leaf.serial.slice(0, 16)}…): ` +
              'a key that signs as a server or a person is not made a CA (SP 800-57 Part 1 §5.2). Make a new key.',
          ]
        : [];
    }
    const held = certificates.heldCaCertificates().find((c) => c.spki.equals(spki));
    // A CA certified here from a request holds its key outside the inventory: still a CA key.
    const outside = held ? undefined : certificates.caCertificatesFor(spki)[0];
    if (outside)
      return [
        `The request's public key is certified here as the CA “${outside.subject}” (serial ` +
          `${outside.serial.slice(0, 16)}…): a CA key signs certificates and revocation lists only (SP 800-57 Part 1 ` +
          '§5.2), so it is not certified as an end entity. Certify a key of its own for this use.',
      ];
    if (!held) return [];
    return [
      `The request's public key is that of the CA “${inventory.get(held.keyId).label}” ` +
        `(${nameText(subjectName(held.der))}): a CA key signs certificates and revocation lists only ` +
        '(SP 800-57 Part 1 §5.2), so it is not certified as an end entity. Certify a key of its own for this use.',
    ];
  };

  const unusedSerial = (serial: string) => {
    if (certificates.has(serial))
      throw new CustosError('PROPOSAL_INVALID', 'A certificate with this serial already exists; propose again.');
  };

  const selfSigned = (params: unknown, token: TokenRef): Planned => {
    const p = SelfSignParams.parse(params);
    const signer = caKey(p.keyId, token);
    const spki = spkiOf(inventory, signer.id);
    requireProfile(p.profile, profileContext(signer, 'root'), [
      ...caNameRefusals(p.profile, spki, signer.id),
      ...oneUseRefusals(p.profile, spki),
    ]);
    refuseRenamedCa(signer.id, p.profile);
    unusedSerial(p.serial);
    const text = nameInWords(p.profile.subject);
    return {
      profile: p.profile,
      serial: p.serial,
      signer,
      subjectSpki: spki,
      subjectKeyId: signer.id,
      issuer: { der: null, text },
      subjectText: text,
    };
  };

  const issued = (params: unknown, token: TokenRef): Planned => {
    const p = IssueParams.parse(params);
    const signer = caKey(p.issuerKeyId, token);
    const ca = certificates.caCertificateOf(signer.id);
    if (!ca)
      throw new CustosError('CA_CERT_MISSING', `“${signer.label}” has no CA certificate here yet.`, [
        'Make its root certificate first (cert.self-sign), or issue it one from its parent CA.',
      ]);
    const request = checkRequest(requestDer(p.csr));
    if (request.sha256 !== p.csrSha256 || request.publicKeyFingerprint !== p.publicKeyFingerprint)
      throw new CustosError('CSR_INVALID', 'The request is not the one bound into this proposal.');
    refuseRetiredSubject(request.spki);
    // As the inventory and the stored certificates hold it, whatever encoding the request used.
    const spki = createPublicKey({ key: request.spki, format: 'der', type: 'spki' }).export({
      format: 'der',
      type: 'spki',
    });
    requireProfile(
      p.profile,
      profileContext(signer, p.profile.ca ? 'intermediate' : 'end-entity', {
        subjectKey: { algorithm: request.keyAlgorithm, ...(request.bits ? { bits: request.bits } : {}) },
        issuerNotAfter: ca.notAfter,
        issuerPathLength: issuerPathLength(signer.id),
      }),
      [...caNameRefusals(p.profile, spki, signer.id), ...oneUseRefusals(p.profile, spki)],
    );
    refuseRenamedCa(inventory.list().find((k) => k.fingerprint === request.publicKeyFingerprint)?.id, p.profile);
    unusedSerial(p.serial);
    return {
      profile: p.profile,
      serial: p.serial,
      signer,
      subjectSpki: request.spki,
      subjectKeyId: null,
      issuer: { der: ca.der, text: nameText(subjectName(ca.der)) },
      subjectText: nameInWords(p.profile.subject),
    };
  };

  const registration = (der: Buffer, plan: Planned, token: TokenRef, proposalId: string, reconciled: boolean) => ({
    result: {
      serial: plan.serial,
      keyId: plan.subjectKeyId,
      issuerKeyId: plan.signer.id,
      subject: plan.subjectText,
      issuer: plan.issuer.text,
      notBefore: plan.profile.notBefore,
      notAfter: plan.profile.notAfter,
      sha256: sha256(der),
      tokenObject: objectLabel(plan),
      pem: pem(der),
      ...(reconciled ? { reconciled: true } : {}),
    },
    commit: () =>
      certificates.register(
        {
          der,
          keyId: plan.subjectKeyId,
          issuerKeyId: plan.signer.id,
          subject: plan.subjectText,
          issuer: plan.issuer.text,
          token,
          proposalId,
        },
        now(),
      ),
  });

  const run =
    (plan: (params: unknown, token: TokenRef) => Planned): KeyAction['run'] =>
    ({ session, lib, params, token, proposalId }) => {
      const planned = plan(params, token);
      const signerSpki = spkiOf(inventory, planned.signer.id);
      // Its own public half, not whatever public key object the token lists first: anyone can plant one with no PIN.
      if (publicKeyObjectsHolding(lib, session, planned.signer, signerSpki).length === 0)
        throw new CustosError(
          'KEY_TAMPERED',
          `The token's public key for “${planned.signer.label}” is not the one in the inventory; nothing was signed.`,
        );
      const { tbs, der: tbsDer } = tbsCertificate({
        profile: planned.profile,
        serial: planned.serial,
        subjectSpki: planned.subjectSpki,
        issuer: {
          name: planned.issuer.der ? subjectName(planned.issuer.der) : planned.profile.subject,
          spki: signerSpki,
          algorithm: planned.signer.algorithm,
        },
      });
      const der = assembleCertificate(tbs, planned.signer.algorithm, signInToken(lib, session, planned.signer, tbsDer));
      if (!verifies(der, signerSpki))
        throw new CustosError('KEY_TAMPERED', 'The token’s signature does not verify under the CA key’s public key.');
      storeInToken(lib, session, der, { ckaId: objectId(planned), label: objectLabel(planned) });
      return registration(der, planned, token, proposalId, false);
    };

  // A crash after the certificate reached the token: it is public, so it shows without a login.
  const reconcile =
    (plan: (params: unknown, token: TokenRef) => Planned, serialOf: (params: unknown) => string): QuorumReconciler =>
    ({ session, lib, params, token, proposalId }) => {
      const serial = serialOf(params);
      if (certificates.has(serial)) return null;
      const planned = plan(params, token);
      const signerSpki = spkiOf(inventory, planned.signer.id);
      // The run's certificate is the one the CA key signed with the run's serial (drawn for this proposal alone): one
      // planted under the serial ahead of it, malformed, or another of this CA's certificates relabelled with the
      // serial, no longer hides it or stands in for it.
      const isRuns = (candidate: Buffer) => {
        try {
          const x = new X509Certificate(candidate);
          return BigInt(`0x${x.serialNumber}`) === BigInt(`0x${serial}`) && verifies(candidate, signerSpki);
        } catch {
          return false;
        }
      };
      const der = certificatesInToken(lib, session, serial).find(isRuns);
      return der ? registration(der, planned, token, proposalId, true) : null;
    };

  // A binding only adds the warnings: the refusals are the proposal check's (ready), inside the quorum's vetting, so a
  // refused profile is recorded as a refused proposal like the quorum's other refusals.
  const root: CertificateAction = {
    ready: (params, token) => void selfSigned(params, token),
    needs: (params) => {
      const key = inventory.get(SelfSignParams.parse(params).keyId);
      return [signingNeed(key.algorithm, `Signing a certificate with the ${key.algorithm} key “${key.label}”`)];
    },
    bind: (params, random) => {
      const bound = { ...custosBinds(params), serial: serialFrom(random(20)) };
      // A malformed proposal is refused by the quorum with every problem named; nothing to add to it here.
      const parsed = SelfSignParams.safeParse(bound);
      if (!parsed.success) return bound;
      const signer = inventory.get(parsed.data.keyId);
      // A signer past its usage period is the quorum's to refuse, and record (KEY_PERIOD_ENDED); its profile is moot.
      if (signer.usagePeriodEnded) return bound;
      const { warnings } = checkProfile(parsed.data.profile, profileContext(signer, 'root'));
      return warnings.length ? { ...bound, warnings } : bound;
    },
    run: run(selfSigned),
    reconcile: reconcile(selfSigned, (params) => SelfSignParams.parse(params).serial),
  };

  const issue: CertificateAction = {
    ready: (params, token) => void issued(params, token),
    needs: (params) => {
      const key = inventory.get(IssueParams.parse(params).issuerKeyId);
      return [signingNeed(key.algorithm, `Signing a certificate with the ${key.algorithm} key “${key.label}”`)];
    },
    // The request is read and its signature checked before any proposal exists: a tampered one is refused here.
    bind: (params, random) => {
      const request = checkRequest(requestDer(typeof params.csr === 'string' ? params.csr : ''));
      const bound = {
        ...custosBinds(params),
        csrSha256: request.sha256,
        csrSubject: request.subject,
        publicKeyFingerprint: request.publicKeyFingerprint,
        serial: serialFrom(random(20)),
      };
      const parsed = IssueParams.safeParse(bound);
      if (!parsed.success) return bound;
      const p = parsed.data;
      const signer = inventory.get(p.issuerKeyId);
      if (signer.usagePeriodEnded) return bound;
      const ca = certificates.caCertificateOf(signer.id);
      const { warnings } = checkProfile(
        p.profile,
        profileContext(signer, p.profile.ca ? 'intermediate' : 'end-entity', {
          subjectKey: { algorithm: request.keyAlgorithm, ...(request.bits ? { bits: request.bits } : {}) },
          ...(ca ? { issuerNotAfter: ca.notAfter, issuerPathLength: issuerPathLength(signer.id) } : {}),
        }),
      );
      if (request.subject !== nameInWords(p.profile.subject))
        warnings.push(`The certificate will name “${nameInWords(p.profile.subject)}”, not the request’s subject.`);
      const certified = inventory.list().find((k) => k.fingerprint === request.publicKeyFingerprint);
      if (certified && Date.parse(p.profile.notAfter) > Date.parse(certified.expiresAt))
        warnings.push(
          `The certificate would be valid until ${p.profile.notAfter.slice(0, 10)}, after the usage period of ` +
            `“${certified.label}” ends on ${certified.expiresAt.slice(0, 10)}: from then on it signs nothing (SP 800-57).`,
        );
      return warnings.length ? { ...bound, warnings } : bound;
    },
    run: run(issued),
    reconcile: reconcile(issued, (params) => IssueParams.parse(params).serial),
  };

  return { 'cert.self-sign': root, 'cert.issue': issue };
}

/** The proposer's parameters without the warnings, which Custos alone finds and binds (none sent by a page). */
function custosBinds(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(params).filter(([name]) => name !== 'warnings'));
}

/** The certificate object's label in the token: its subject's common name. */
const objectLabel = (plan: Planned) => `${plan.profile.subject.commonName} certificate`.slice(0, 64);

/** Beside its key (same CKA_ID) when the key is in the token; else the key identifier, as PKCS#11 apps look it up. */
const objectId = (plan: Planned) =>
  plan.subjectKeyId ? Buffer.from(plan.subjectKeyId, 'hex') : keyIdentifier(plan.subjectSpki);
