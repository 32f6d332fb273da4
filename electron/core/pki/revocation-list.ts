import { createPublicKey, verify } from 'node:crypto';
import { CrlParams } from '../../../shared/actions';
import type { TokenRef } from '../../../shared/tokens';
import { CustosError } from '../errors';
import type { KeyInventory } from '../keys/key-inventory';
import { pem, signsRevocationLists, subjectName } from './certificate';
import type { CertificateAction } from './certificate-actions';
import { sha256, type CertificateStore, type StoredCrl } from './certificate-store';
import { assembleCrl, tbsCertList, type CrlEntry } from './crl';
import { signInToken, signatureScheme, signingNeed } from './token-signer';
import { requireSigningKey } from '../keys/key-generation';

const DAY = 86_400_000;
const seconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);

/**
 * A list dated no later than the one before it loses to it wherever both are held (OpenSSL, like most relying parties,
 * keeps the one with the latest thisUpdate), so a revocation it adds would go unseen: a clock set back (an air-gapped
 * machine's lost battery, or its owner) signs none.
 */
function refuseEarlierThan(previous: StoredCrl | null, at: Date, signing: boolean): void {
  // Proposed within the previous list's second, it is signed later; signed within it, the two would tie.
  const last = previous ? Date.parse(previous.thisUpdate) : -Infinity;
  if (previous && (signing ? seconds(at).getTime() <= last : seconds(at).getTime() < last))
    throw new CustosError(
      'CLOCK_BACKWARDS',
      `The clock reads ${at.toISOString()}, not after revocation list ${previous.number} (thisUpdate ` +
        `${previous.thisUpdate}): a list dated earlier would lose to that one wherever both are held.`,
      ['Set the machine’s clock right, then propose the list again.'],
    );
}

/**
 * The quorum action `crl.issue`: a v2 CRL signed inside the token by a CA key, listing every
 * certificate its previous CRL listed plus those revoked now (each one this CA issued). Checked when
 * proposed and again when run; verified under the CA's public key before it is kept.
 */
export function revocationList(
  now: () => Date,
  inventory: KeyInventory,
  certificates: CertificateStore,
): Omit<CertificateAction, 'reconcile'> {
  const plan = (params: unknown, token: TokenRef) => {
    const p = CrlParams.parse(params);
    const signer = requireSigningKey(inventory, p.issuerKeyId, token, 'revocation-list');
    const ca = certificates.caCertificateOf(signer.id);
    if (!ca)
      throw new CustosError('CA_CERT_MISSING', `“${signer.label}” has no CA certificate here yet.`, [
        'Make its certificate first (cert.self-sign or cert.issue).',
      ]);
    // Checked when proposed, not only when run: the list would be signed and kept, and no relying party would apply it.
    if (!signsRevocationLists(ca.der))
      throw new CustosError(
        'CA_CERT_MISSING',
        `The CA certificate of “${signer.label}” does not allow signing revocation lists (no cRLSign in its key ` +
          'usage): relying parties refuse a list it signs, so its revocations would never be applied.',
        [
          'Renew its certificate with cRLSign (cert.self-sign for a root, cert.issue from its parent CA), then ' +
            'propose the list again.',
        ],
      );
    const previous = certificates.latestCrl(signer.id);
    if (p.crlNumber !== (previous?.number ?? 0) + 1)
      throw new CustosError(
        'PROPOSAL_INVALID',
        `Revocation list ${p.crlNumber} is no longer the next: number ${previous?.number} was issued since.`,
        ['Propose the list again.'],
      );
    refuseEarlierThan(previous, now(), false);
    const issued = new Set(certificates.issuedBy(signer.id));
    const listed = new Set(previous?.entries.map((e) => e.serial));
    for (const { serial } of p.revoke) {
      // One the log records and the database no longer holds is refused as deleted, not as never issued.
      if (!issued.has(serial)) certificates.refuseIfDeleted(serial, signer.id);
      if (!issued.has(serial))
        throw new CustosError('CERT_NOT_FOUND', `“${signer.label}” issued no certificate with serial ${serial}.`, [
          'custos cert list shows each certificate with its issuer.',
        ]);
      if (listed.has(serial))
        throw new CustosError('PROPOSAL_INVALID', `Serial ${serial} is already revoked (on list ${previous?.number}).`);
    }
    if (new Set(p.revoke.map((r) => r.serial)).size !== p.revoke.length)
      throw new CustosError('PROPOSAL_INVALID', 'A serial is listed twice.');
    return { p, signer, ca, previous };
  };

  return {
    ready: (params, token) => void plan(params, token),
    needs: (params) => {
      const key = inventory.get(CrlParams.parse(params).issuerKeyId);
      return [signingNeed(key.algorithm, `Signing a revocation list with the ${key.algorithm} key “${key.label}”`)];
    },
    bind: (params) => {
      const issuer = typeof params.issuerKeyId === 'string' ? params.issuerKeyId : '';
      const latest = issuer ? certificates.latestCrl(issuer) : null;
      return { ...params, crlNumber: (latest?.number ?? 0) + 1 };
    },
    run: ({ session, lib, params, token, proposalId }) => {
      const { p, signer, ca, previous } = plan(params, token);
      const thisUpdate = seconds(now());
      refuseEarlierThan(previous, thisUpdate, true);
      const nextUpdate = new Date(thisUpdate.getTime() + p.nextUpdateDays * DAY);
      const entries: CrlEntry[] = [
        ...(previous?.entries ?? []),
        ...p.revoke.map((r) => ({ ...r, revokedAt: thisUpdate.toISOString() })),
      ];
      const spki = createPublicKey(inventory.exportPublic(signer.id, 'pem')).export({ format: 'der', type: 'spki' });
      const { tbs, der: tbsDer } = tbsCertList({
        issuer: subjectName(ca.der),
        issuerSpki: spki,
        algorithm: signer.algorithm,
        number: p.crlNumber,
        thisUpdate,
        nextUpdate,
        entries,
      });
      const signature = signInToken(lib, session, signer, tbsDer);
      if (!verify(signatureScheme(signer.algorithm).hash, tbsDer, createPublicKey(pem(spki, 'PUBLIC KEY')), signature))
        throw new CustosError('KEY_TAMPERED', 'The token’s signature does not verify under the CA key’s public key.');
      const der = assembleCrl(tbs, signer.algorithm, signature);
      return {
        result: {
          issuerKeyId: signer.id,
          crlNumber: p.crlNumber,
          thisUpdate: thisUpdate.toISOString(),
          nextUpdate: nextUpdate.toISOString(),
          revoked: entries,
          sha256: sha256(der),
          pem: pem(der, 'X509 CRL'),
        },
        commit: () =>
          certificates.registerCrl({
            issuerKeyId: signer.id,
            number: p.crlNumber,
            der,
            thisUpdate: thisUpdate.toISOString(),
            nextUpdate: nextUpdate.toISOString(),
            proposalId,
          }),
      };
    },
  };
}
