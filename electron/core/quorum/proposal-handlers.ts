import { randomBytes } from 'node:crypto';
import type { KeyCopy } from '../../../shared/backups';
import type { FactorProofs } from '../custodians/factor-proofs';
import type { Handlers } from '../ipc/router';
import { FACTOR_FAILURES, type AuditPlans } from '../ipc/request-record';
import type { QuorumService } from './quorum-service';

type ProposalChannel =
  'proposals.list' | 'proposals.create' | 'proposals.approve' | 'proposals.reject' | 'proposals.cancel';

export const proposalPlan: AuditPlans<ProposalChannel> = {
  'proposals.list': { action: 'proposal.list', self: false, params: false },
  // A proposal reaching for another token's keys, or for what the token cannot do, is recorded by the quorum
  // service, whoever calls it.
  'proposals.create': {
    action: 'proposal.create',
    self: true,
    params: false,
    selfFailures: [...FACTOR_FAILURES, 'KEY_WRONG_TOKEN', 'TOKEN_CAPABILITY_MISSING'],
  },
  'proposals.approve': {
    action: 'proposal.approve',
    self: true,
    params: false,
    selfFailures: [...FACTOR_FAILURES, 'SELF_APPROVAL', 'ALREADY_APPROVED', 'FINGERPRINT_MISMATCH', 'NOT_AUTHORIZED'],
  },
  'proposals.reject': { action: 'proposal.reject', self: true, params: false, selfFailures: FACTOR_FAILURES },
  'proposals.cancel': { action: 'proposal.cancel', self: true, params: false, selfFailures: FACTOR_FAILURES },
};

const NEW_KEY_ACTIONS: ReadonlySet<string> = new Set(['key.generate', 'key.rotate']);

/**
 * What Custos binds into a proposal beside what the proposer gave: a new key's CKA_ID, a
 * destruction's copies, a transport's package id, an import's declarations read from its package.
 */
function bound(
  action: string,
  params: Record<string, unknown>,
  copiesOf: (keyId: string) => KeyCopy[],
  bindImport: (params: Record<string, unknown>) => Record<string, unknown>,
): Record<string, unknown> {
  if (NEW_KEY_ACTIONS.has(action)) return { ...params, ckaId: randomBytes(16).toString('hex') };
  if (action === 'key.schedule-destruction' && typeof params.keyId === 'string')
    return { ...params, copies: copiesOf(params.keyId) };
  if (action === 'key.export-wrapped') return { ...params, packageId: randomBytes(16).toString('hex') };
  if (action === 'key.import-wrapped') return bindImport(params);
  return params;
}

export function proposalHandlers({
  quorum,
  proveFactors,
  copiesOf,
  bindImport,
}: {
  quorum: QuorumService;
  proveFactors: FactorProofs['proveFactors'];
  /** Every place a key lives (tokens, backup sets), bound into a destruction's proposal for its approvers. */
  copiesOf: (keyId: string) => KeyCopy[];
  /** An import's declarations, read from the received package its parameters name. */
  bindImport: (params: Record<string, unknown>) => Record<string, unknown>;
}): Pick<Handlers, ProposalChannel> {
  return {
    'proposals.list': () => quorum.list(),
    'proposals.create': async ({ custodyId, action, params, requester }) => {
      quorum.mayAct(requester.custodianId, 'propose');
      await proveFactors(requester, 'propose');
      // A new key's CKA_ID is chosen now and bound into what the approvers approve, so a crash mid-generation can be
      // reconciled by looking for exactly that ID in the token; a destruction names every copy of the key.
      const withBound = bound(action, params, copiesOf, bindImport);
      return quorum.propose({ custodyId, action, params: withBound, requestedBy: requester.custodianId });
    },
    'proposals.approve': ({ proposalId, fingerprint, approver }) =>
      quorum.approve({ proposalId, fingerprint, ...approver }),
    'proposals.reject': async ({ proposalId, by, reason }) => {
      quorum.mayAct(by.custodianId, 'reject');
      await proveFactors(by, 'reject');
      return quorum.reject(proposalId, by.custodianId, reason);
    },
    'proposals.cancel': async ({ proposalId, by, reason }) => {
      await proveFactors(by, 'cancel');
      return quorum.cancel(proposalId, by.custodianId, reason);
    },
  };
}
