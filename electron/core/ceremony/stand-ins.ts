import pkcs11js from 'pkcs11js';
import { nameInWords, type CertificateProfile } from '../../../shared/pki';
import { assembleCertificate, reissuedTbs, subjectName, tbsCertificate } from '../pki/certificate';
import type { Name } from '@peculiar/asn1-x509';
import { storeInToken, type CertificateStore } from '../pki/certificate-store';
import { signInToken } from '../pki/token-signer';
import { serialFrom, verifies } from '../pki/certificate-actions';
import { scheduleDestruction } from '../keys/destruction';
import { StandInParams, type StandIn } from '../../../shared/actions';
import type { TokenRef } from '../../../shared/tokens';
import { CustosError } from '../errors';
import { findObjects } from '../hsm/find-objects';
import type { ProposalCheck, QuorumOperation } from '../quorum/quorum-service';
import type { Store } from '../store/database';
import { sql } from '../store/sql';
import { generateInToken, registration } from '../keys/key-generation';
import type { KeyInventory } from '../keys/key-inventory';

/**
 * A rehearsal's stand-in keys (`rehearsal.stand-ins`). A script that acts on keys of the real installation — backs one
 * up, schedules or carries out its destruction, rotates it, signs with it — is rehearsed on stand-ins: new keys made
 * in the scratch token, under the same quorum rules as any generation (the holders who took the scratch token
 * approve it), with the real keys' ids, labels, algorithms, usages, states, usage periods' ends and waiting
 * destructions. They are not
 * copies: nothing of a real key reaches a scratch token. Only a rehearsal's scratch installation, on its own token,
 * makes them; the real installation refuses the action when proposed and when run.
 */
export function standInKeys(
  store: Store,
  now: () => Date,
  inventory: KeyInventory,
  certificates: CertificateStore,
  scratch: () => { token: TokenRef } | null,
): { operation: QuorumOperation; check: ProposalCheck } {
  const ready = (params: unknown, token: TokenRef): StandIn[] => {
    const place = scratch();
    if (!place || place.token.serial !== token.serial || place.token.label !== token.label)
      throw new CustosError(
        'REHEARSAL_ONLY',
        'Stand-in keys are made only in a rehearsal’s scratch token; nothing was proposed or changed.',
        ['Rehearse the script (custos ceremony rehearse, or Rehearse on the Ceremonies screen): it offers them there.'],
      );
    const { keys } = StandInParams.parse(params);
    const seen = new Set<string>();
    for (const key of keys) {
      const taken =
        seen.has(key.keyId) || store.get(sql`SELECT 1 AS yes FROM keys WHERE id = ${key.keyId}`) !== undefined;
      if (taken)
        throw new CustosError(
          'KEY_ALREADY_IN_TOKEN',
          `The rehearsal already has a key with the id ${key.keyId} (“${key.label}”); no stand-in was made.`,
        );
      seen.add(key.keyId);
    }
    return keys;
  };

  const operation: QuorumOperation = ({ session, lib, params, proposalId, token }) => {
    const keys = ready(params, token);
    const made: {
      key: StandIn;
      spki: Buffer | null;
      kcv: string | null;
      certificate: Buffer | null;
      reissued: Buffer[];
    }[] = [];
    try {
      for (const key of keys) {
        // The scratch token is SoftHSM2's, which restricts export to trusted keys; accepted either way, since a
        // stand-in protects nothing.
        const generated = generateInToken(lib, session, { ...generation(key), acceptUnrestrictedExport: true });
        made.push({ key, spki: generated.spki, kcv: generated.kcv, certificate: null, reissued: [] });
        if (key.caCertificate && generated.spki) {
          const ca = standInCertificate(lib, session, key, key.caCertificate, generated.spki);
          made.at(-1)!.certificate = ca;
          made.at(-1)!.reissued = (key.reissue ?? []).map((c) =>
            reissue(lib, session, key, { name: subjectName(ca), spki: generated.spki! }, c),
          );
        }
      }
    } catch (error) {
      // All or none: the stand-ins made before the one that failed are taken out again.
      for (const { key } of made) removeObjects(lib, session, key.keyId);
      throw error;
    }
    const at = now();
    const registered = made.map(({ key, spki, kcv }) =>
      registration(store, inventory, proposalId, generation(key), spki, kcv, at, {
        family: key.family,
        version: key.version,
        previous: null,
        state: key.state,
        expiresAt: key.expiresAt,
      }),
    );
    return {
      result: {
        keys: registered.map(({ result }) => ({
          keyId: result.keyId,
          label: result.label,
          fingerprint: result.fingerprint,
          kcv: result.kcv,
        })),
      },
      commit: () => {
        for (const { commit } of registered) commit();
        for (const { key, certificate, reissued } of made) {
          if (!certificate) continue;
          const name = nameInWords(key.caCertificate!.subject);
          certificates.insert(
            {
              der: certificate,
              keyId: key.keyId,
              issuerKeyId: key.keyId,
              subject: name,
              issuer: name,
              token,
              proposalId,
            },
            at,
          );
          // What the real CA issued, issued again by the stand-in: its subject key is not a key of the rehearsal.
          reissued.forEach((der, i) =>
            certificates.insert(
              {
                der,
                keyId: null,
                issuerKeyId: key.keyId,
                subject: key.reissue![i]!.subject,
                issuer: name,
                token,
                proposalId,
              },
              at,
            ),
          );
        }
        for (const key of keys)
          if (key.destroyableFrom !== null)
            scheduleDestruction(store, inventory, { keyId: key.keyId, proposalId, at, notBefore: key.destroyableFrom });
      },
    };
  };

  return { operation, check: (params, custody) => void ready(params, custody.token) };
}

const generation = (key: StandIn) => ({
  algorithm: key.algorithm,
  label: key.label,
  usage: key.usage,
  backupable: key.backupable,
  cryptoperiodDays: key.cryptoperiodDays,
  ckaId: key.keyId,
});

/**
 * The stand-in's own CA certificate: the real CA certificate's profile, self-signed in the token by the stand-in (a
 * serial from the token's RNG), read back by OpenSSL, and kept beside the key.
 */
function standInCertificate(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  key: StandIn,
  profile: CertificateProfile,
  spki: Buffer,
): Buffer {
  const { tbs, der: tbsDer } = tbsCertificate({
    profile,
    serial: serialFrom(lib.C_GenerateRandom(session, Buffer.alloc(20))),
    subjectSpki: spki,
    issuer: { name: profile.subject, spki, algorithm: key.algorithm },
  });
  const der = assembleCertificate(
    tbs,
    key.algorithm,
    signInToken(lib, session, { id: key.keyId, algorithm: key.algorithm }, tbsDer),
  );
  if (!verifies(der, spki))
    throw new CustosError('KEY_TAMPERED', 'The stand-in’s certificate does not verify under its own public key.');
  storeInToken(lib, session, der, {
    ckaId: Buffer.from(key.keyId, 'hex'),
    label: `${profile.subject.commonName} certificate`.slice(0, 64),
  });
  return der;
}

/** A certificate the real CA issued, signed again by its stand-in: same serial and fields, checked as any issuance. */
function reissue(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  key: StandIn,
  issuer: { name: Name; spki: Buffer },
  issued: NonNullable<StandIn['reissue']>[number],
): Buffer {
  const spki = issuer.spki;
  const { tbs, der: tbsDer } = reissuedTbs(Buffer.from(issued.der, 'base64'), { ...issuer, algorithm: key.algorithm });
  const der = assembleCertificate(
    tbs,
    key.algorithm,
    signInToken(lib, session, { id: key.keyId, algorithm: key.algorithm }, tbsDer),
  );
  if (!verifies(der, spki))
    throw new CustosError('KEY_TAMPERED', 'A certificate issued again by the stand-in does not verify under it.');
  return der;
}

function removeObjects(lib: pkcs11js.PKCS11, session: Buffer, keyId: string): void {
  const id = { type: pkcs11js.CKA_ID, value: Buffer.from(keyId, 'hex') };
  for (const handle of findObjects(lib, session, [id], 8)) lib.C_DestroyObject(session, handle);
}
