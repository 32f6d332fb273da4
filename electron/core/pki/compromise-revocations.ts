import type { TokenRef } from '../../../shared/tokens';
import { CustosError, isCustosError } from '../errors';
import type { KeyInventory } from '../keys/key-inventory';
import type { CertificateStore } from './certificate-store';
import type { ProposalBinding } from './pki-operations';

export interface RevocationProposal {
  issuerKeyId: string;
  proposalId: string | null;
  problem: string | null;
}

/**
 * A key marked compromised: each CA here that certified it gets a CRL proposal revoking those
 * certificates (keyCompromise), requested by the officer who marked it, for the custodians of the CA
 * key's token to approve. One that cannot be made (no custody of that token, the CA key itself no
 * longer usable) is named instead; the analyzer keeps flagging the certificate (CERT_KEY_COMPROMISED).
 */
export function proposeCompromiseRevocations(
  d: {
    certificates: CertificateStore;
    keys: KeyInventory;
    custodies: () => { id: string; state: string; token: TokenRef }[];
    bind: ProposalBinding;
    propose: (custodyId: string, params: unknown, requestedBy: string) => { id: string };
  },
  keyId: string,
  officerId: string,
): RevocationProposal[] {
  return [...d.certificates.unrevokedIssuedFor(keyId)].map(([issuerKeyId, serials]) => {
    try {
      const issuer = d.keys.get(issuerKeyId);
      const same = (t: TokenRef) => t.serial === issuer.token.serial && t.label === issuer.token.label;
      const custody = d.custodies().find((c) => c.state === 'active' && same(c.token));
      if (!custody)
        throw new CustosError('CUSTODY_NOT_FOUND', `No custody holds the token of the CA key “${issuer.label}”.`);
      const request = { issuerKeyId, revoke: serials.map((s) => `${s}:keyCompromise`), nextUpdateDays: 30 };
      const params = d.bind(request, () => Buffer.alloc(0));
      return { issuerKeyId, proposalId: d.propose(custody.id, params, officerId).id, problem: null };
    } catch (error) {
      const problem = isCustosError(error) ? error.message : 'Custos hit an unexpected problem proposing it.';
      return { issuerKeyId, proposalId: null, problem };
    }
  });
}
