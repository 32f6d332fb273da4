import { randomBytes } from 'node:crypto';
import type { KeyCopy } from '../../../shared/backups';
import type { FactorProofs } from '../custodians/factor-proofs';
import type { Handlers } from '../ipc/router';
import { FACTOR_FAILURES, type AuditPlans } from '../ipc/request-record';
import { RECORDED_AT_PROPOSAL, type QuorumService } from './quorum-service';

type ProposalChannel =
  'proposals.list' | 'proposals.create' | 'proposals.approve' | 'proposals.reject' | 'proposals.cancel';

export const proposalPlan: AuditPlans<ProposalChannel> = {
  'proposals.list': { action: 'proposal.list', self: false, params: false },
  // A proposal refused for a reason RECORDED_AT_PROPOSAL lists (another token's keys, what the token cannot do, a key
  // past its period, a certificate profile refused) is recorded by the quorum service, whoever calls it.
  'proposals.create': {
    action: 'proposal.create',
    self: true,
    params: false,
    selfFailures: [...FACTOR_FAILURES, ...RECORDED_AT_PROPOSAL],
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

export interface BinderSources {
  /** Every place a key lives (tokens, backup sets), bound into a destruction's proposal for its approvers. */
  copiesOf: (keyId: string) => KeyCopy[];
  /** What other folders bind when an action is proposed (a certificate's serial from the token's RNG). */
  bindings?: Record<string, (params: Record<string, unknown>, random: (bytes: number) => Buffer) => unknown>;
  /** Random bytes from the custody's token (C_GenerateRandom), for what a binding draws. */
  tokenRandom?: (custodyId: string, bytes: number) => Buffer;
}

/** What a caller may fix instead of Custos drawing it: a ceremony script derives a new key's CKA_ID from itself. */
export interface BindChoices {
  ckaId?: string;
  /** Where a binding's random bytes come from (the custody's token unless given). */
  random?: (bytes: number) => Buffer;
}

/**
 * What Custos binds into a proposal when it is made, beyond what the proposer gave. A new key's CKA_ID (a
 * rotation's successor too) is chosen now and bound into what the approvers approve, so a crash mid-generation
 * can be reconciled by looking for exactly that ID in the token. A destruction names every copy of the key, so
 * the approvers see the backups still holding it.
 */
export function proposalBinder({ copiesOf, bindings = {}, tokenRandom }: BinderSources) {
  return (custodyId: string, action: string, params: Record<string, unknown>, choices: BindChoices = {}) => {
    const binding = bindings[action];
    const random = choices.random ?? (tokenRandom ? (bytes: number) => tokenRandom(custodyId, bytes) : undefined);
    return NEW_KEY_ACTIONS.has(action)
      ? { ...params, ckaId: choices.ckaId ?? randomBytes(16).toString('hex') }
      : action === 'key.schedule-destruction' && typeof params.keyId === 'string'
        ? { ...params, copies: copiesOf(params.keyId) }
        : binding && random
          ? binding(params, random)
          : params;
  };
}

export function proposalHandlers({
  quorum,
  proveFactors,
  bind,
}: {
  quorum: QuorumService;
  proveFactors: FactorProofs['proveFactors'];
  bind: ReturnType<typeof proposalBinder>;
}): Pick<Handlers, ProposalChannel> {
  return {
    'proposals.list': () => quorum.list(),
    'proposals.create': async ({ custodyId, action, params, requester }) => {
      quorum.mayAct(requester.custodianId, 'propose');
      const bound = bind(custodyId, action, params);
      // Bound and vetted first: a request whose signature fails, or that names a retired person, reaches for another
      // token's key or for what the token lacks, is refused (and recorded) before anyone's factors are spent on it.
      quorum.vet({ custodyId, action, params: bound, requestedBy: requester.custodianId });
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
