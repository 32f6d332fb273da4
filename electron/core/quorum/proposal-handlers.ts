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

export function proposalHandlers({
  quorum,
  proveFactors,
  copiesOf,
  bindings = {},
  tokenRandom,
}: {
  quorum: QuorumService;
  proveFactors: FactorProofs['proveFactors'];
  /** Every place a key lives (tokens, backup sets), bound into a destruction's proposal for its approvers. */
  copiesOf: (keyId: string) => KeyCopy[];
  /** What other folders bind when an action is proposed (a certificate's serial from the token's RNG). */
  bindings?: Record<string, (params: Record<string, unknown>, random: (bytes: number) => Buffer) => unknown>;
  /** Random bytes from the custody's token (C_GenerateRandom), for what a binding draws. */
  tokenRandom?: (custodyId: string, bytes: number) => Buffer;
}): Pick<Handlers, ProposalChannel> {
  return {
    'proposals.list': () => quorum.list(),
    'proposals.create': async ({ custodyId, action, params, requester }) => {
      quorum.mayAct(requester.custodianId, 'propose');
      // A new key's CKA_ID (a rotation's successor too) is chosen now and bound into what the approvers
      // approve, so a crash mid-generation can be reconciled by looking for exactly that ID in the token.
      // A destruction names every copy of the key when proposed, so the approvers see the backups still holding it.
      const binding = bindings[action];
      const bound = NEW_KEY_ACTIONS.has(action)
        ? { ...params, ckaId: randomBytes(16).toString('hex') }
        : action === 'key.schedule-destruction' && typeof params.keyId === 'string'
          ? { ...params, copies: copiesOf(params.keyId) }
          : binding && tokenRandom
            ? binding(params, (bytes) => tokenRandom(custodyId, bytes))
            : params;
      // Bound first: a request whose signature fails is refused before anyone's factors are spent on it.
      await proveFactors(requester, 'propose');
      return quorum.propose({ custodyId, action, params: bound, requestedBy: requester.custodianId });
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
