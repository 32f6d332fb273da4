import type { KeyInventory } from '../keys/key-inventory';
import type { ProposalCheck, QuorumOperation, QuorumReconciler } from '../quorum/quorum-service';
import type { Need } from '../hsm/capabilities';
import type { CertificateStore } from './certificate-store';
import { rootCertificate } from './root-certificate';

/** Binds, when proposed, what Custos chooses for an action; `random` draws bytes from the custody's token. */
export type ProposalBinding = (params: Record<string, unknown>, random: (bytes: number) => Buffer) => unknown;

/**
 * What pki/ contributes to the quorum's registry (issue #15): the certificate ceremonies, with their
 * checks, needs, reconcilers and what each binds when proposed. Assembled by the composition root.
 */
export function pkiOperations(now: () => Date, inventory: KeyInventory, certificates: CertificateStore) {
  const root = rootCertificate(now, inventory, certificates);
  const check: ProposalCheck = (params, custody) => root.ready(params, custody.token);
  return {
    operations: { 'cert.self-sign': root.run } satisfies Record<string, QuorumOperation>,
    checks: { 'cert.self-sign': check } satisfies Record<string, ProposalCheck>,
    needs: { 'cert.self-sign': (params: unknown): Need[] => root.needs!(params) },
    reconcilers: { 'cert.self-sign': root.reconcile } satisfies Record<string, QuorumReconciler>,
    bindings: { 'cert.self-sign': (params, random) => root.bind(params, random(20)) } satisfies Record<
      string,
      ProposalBinding
    >,
  };
}
