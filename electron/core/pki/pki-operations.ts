import type { Need } from '../hsm/capabilities';
import type { KeyInventory } from '../keys/key-inventory';
import type { ProposalCheck, QuorumOperation, QuorumReconciler } from '../quorum/quorum-service';
import { certificateActions } from './certificate-actions';
import type { CertificateStore } from './certificate-store';
import { revocationList } from './revocation-list';

/** Binds, when proposed, what Custos chooses for an action; `random` draws bytes from the custody's token. */
export type ProposalBinding = (params: Record<string, unknown>, random: (bytes: number) => Buffer) => unknown;

/**
 * What pki/ contributes to the quorum's registry (issue #15): the certificate ceremonies, with their
 * checks, needs, reconcilers and what each binds when proposed. Assembled by the composition root.
 */
export function pkiOperations(now: () => Date, inventory: KeyInventory, certificates: CertificateStore) {
  const certificateMakers = certificateActions(now, inventory, certificates);
  const actions = { ...certificateMakers, 'crl.issue': revocationList(now, inventory, certificates) };
  const each = <T>(part: (action: (typeof actions)[keyof typeof actions]) => T): Record<string, T> =>
    Object.fromEntries(Object.entries(actions).map(([name, action]) => [name, part(action)]));
  return {
    operations: each<QuorumOperation>((a) => a.run),
    checks: each<ProposalCheck>((a) => (params, custody) => a.ready(params, custody.token)),
    needs: each<(params: unknown) => Need[]>((a) => (params) => a.needs(params)),
    // A CRL leaves nothing in the token: an interrupted one is recorded as interrupted and proposed again.
    reconcilers: Object.fromEntries(
      Object.entries(certificateMakers).map(([name, action]) => [name, action.reconcile]),
    ) as Record<string, QuorumReconciler>,
    bindings: each<ProposalBinding>((a) => (params, random) => a.bind(params, random)),
  };
}
