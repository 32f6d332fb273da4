import { createPublicKey, X509Certificate } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import { SelfSignParams } from '../../../shared/actions';
import { nameInWords } from '../../../shared/pki';
import type { TokenRef } from '../../../shared/tokens';
import { CustosError } from '../errors';
import { findObjects } from '../hsm/find-objects';
import { publicKeySpki, requireSigningKey } from '../keys/key-generation';
import type { KeyAction, KeyInventory } from '../keys/key-inventory';
import type { QuorumReconciler } from '../quorum/quorum-service';
import { assembleCertificate, pem, tbsCertificate } from './certificate';
import { certificateInToken, sha256, storeInToken, type CertificateStore } from './certificate-store';
import { requireProfile } from './profile-check';
import { signInToken, signingNeed } from './token-signer';

/** The certificate object's label in the token: the key's label, so `pkcs11-tool -O` pairs them by eye too. */
const objectLabel = (keyLabel: string) => `${keyLabel} certificate`.slice(0, 64);

/** The public key in the inventory, as SubjectPublicKeyInfo DER. */
function inventorySpki(inventory: KeyInventory, keyId: string): Buffer {
  return createPublicKey(inventory.exportPublic(keyId, 'pem')).export({ format: 'der', type: 'spki' });
}

/**
 * The quorum action `cert.self-sign`: a root certificate for a key in the token, signed by that key
 * inside the token. The profile is checked (RFC 5280, the key's cryptoperiod) when proposed and again
 * when run; the public key certified is the token's own public key object, compared with the
 * inventory's; the result is verified by OpenSSL (through node:crypto) before it is stored — in the
 * token beside its key and in the inventory.
 */
export function rootCertificate(
  now: () => Date,
  inventory: KeyInventory,
  certificates: CertificateStore,
): KeyAction & { reconcile: QuorumReconciler; bind(params: Record<string, unknown>, random: Buffer): unknown } {
  const ready = (params: unknown, token: TokenRef) => {
    const p = SelfSignParams.parse(params);
    const key = requireSigningKey(inventory, p.keyId, token);
    if (key.usage !== 'sign')
      throw new CustosError(
        'KEY_TYPE_UNSUITED',
        `“${key.label}” is a ${key.usage} key; a CA key must be a signing key.`,
      );
    requireProfile(p.profile, {
      kind: 'root',
      subjectKey: { algorithm: key.algorithm },
      signerExpiresAt: key.expiresAt,
      now: now(),
    });
    if (certificates.has(p.serial))
      throw new CustosError('PROPOSAL_INVALID', 'A certificate with this serial already exists; propose again.');
    return { p, key };
  };

  const registration = (der: Buffer, p: SelfSignParams, token: TokenRef, proposalId: string, reconciled: boolean) => {
    const subject = nameInWords(p.profile.subject);
    const label = objectLabel(inventory.get(p.keyId).label);
    return {
      result: {
        serial: p.serial,
        keyId: p.keyId,
        subject,
        issuer: subject,
        notBefore: p.profile.notBefore,
        notAfter: p.profile.notAfter,
        sha256: sha256(der),
        tokenObject: label,
        pem: pem(der),
        ...(reconciled ? { reconciled: true } : {}),
      },
      commit: () =>
        certificates.register(
          { der, keyId: p.keyId, issuerKeyId: p.keyId, subject, issuer: subject, token, proposalId },
          now(),
        ),
    };
  };

  return {
    ready,
    needs: (params) => {
      const key = inventory.get(SelfSignParams.parse(params).keyId);
      return [signingNeed(key.algorithm, `Signing a certificate with the ${key.algorithm} key “${key.label}”`)];
    },
    /** Binds what Custos chooses when proposed: the serial (the token's random bytes) and the profile's warnings. */
    bind: (params, random) => {
      const bytes = Buffer.from(random.subarray(0, 20));
      bytes[0] = bytes[0]! & 0x7f || 0x01;
      const bound = { ...params, serial: bytes.toString('hex') };
      // A malformed proposal is refused by the quorum with every problem named; nothing to add to it here.
      const parsed = SelfSignParams.safeParse(bound);
      if (!parsed.success) return bound;
      const p = parsed.data;
      const key = inventory.get(p.keyId);
      const warnings = requireProfile(p.profile, {
        kind: 'root',
        subjectKey: { algorithm: key.algorithm },
        signerExpiresAt: key.expiresAt,
        now: now(),
      });
      return warnings.length ? { ...bound, warnings } : bound;
    },
    run: ({ session, lib, params, token, proposalId }) => {
      const { p, key } = ready(params, token);
      const spki = inventorySpki(inventory, key.id);
      const [publicHandle] = findObjects(
        lib,
        session,
        [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
          { type: pkcs11js.CKA_ID, value: Buffer.from(key.id, 'hex') },
        ],
        1,
      );
      if (!publicHandle || !publicKeySpki(lib, session, publicHandle, key.algorithm).equals(spki))
        throw new CustosError(
          'KEY_TAMPERED',
          `The token's public key for “${key.label}” is not the one in the inventory; nothing was signed.`,
        );
      const { tbs, der: tbsDer } = tbsCertificate({
        profile: p.profile,
        serial: p.serial,
        subjectSpki: spki,
        issuer: { name: p.profile.subject, spki, algorithm: key.algorithm },
      });
      const der = assembleCertificate(tbs, key.algorithm, signInToken(lib, session, key, tbsDer));
      if (!new X509Certificate(der).verify(createPublicKey({ key: spki, format: 'der', type: 'spki' })))
        throw new CustosError('KEY_TAMPERED', 'The token’s signature does not verify under the key’s public key.');
      storeInToken(lib, session, der, { ckaId: Buffer.from(key.id, 'hex'), label: objectLabel(key.label) });
      return registration(der, p, token, proposalId, false);
    },
    // A crash after the certificate reached the token: it is public, so it shows without a login.
    reconcile: ({ session, lib, params, token, proposalId }) => {
      const p = SelfSignParams.parse(params);
      if (certificates.has(p.serial)) return null;
      const der = certificateInToken(lib, session, p.serial);
      if (!der) return null;
      const spki = inventorySpki(inventory, p.keyId);
      if (!new X509Certificate(der).verify(createPublicKey({ key: spki, format: 'der', type: 'spki' }))) return null;
      return registration(der, p, token, proposalId, true);
    },
  };
}
