import type { StateCreator } from 'zustand';
import type { WireError } from '../../../shared/errors';
import type { CustodyView, ProposalView } from '../../../shared/quorum';
import type { CustosState, Deps } from './index';

export interface Proof {
  custodianId: string;
  passphrase: string;
  code: string;
}

export interface QuorumSlice {
  custodies: CustodyView[] | null;
  proposals: ProposalView[] | null;
  quorumError: WireError | null;
  quorumNotice: string | null;
  quorumBusy: boolean;
  loadQuorum(): Promise<void>;
  takeCustody(request: { token: { serial: string; label: string }; threshold: number; holders: Proof[]; label?: string; currentSoPin?: string }): Promise<boolean>;
  proposeDrill(custodyId: string, requester: Proof): Promise<boolean>;
  proposeTurnover(custodyId: string, holders: string[], threshold: number, requester: Proof): Promise<boolean>;
  approveProposal(proposalId: string, fingerprint: string, approver: Proof): Promise<boolean>;
  rejectProposal(proposalId: string, by: Proof): Promise<boolean>;
}

export const createQuorumSlice =
  ({ bridge }: Deps): StateCreator<CustosState, [], [], QuorumSlice> =>
  (set, get) => {
    const run = async <T>(call: () => Promise<{ ok: true; value: T } | { ok: false; error: WireError }>, notice: (value: T) => string): Promise<boolean> => {
      set({ quorumBusy: true, quorumError: null, quorumNotice: null });
      const result = await call();
      set(result.ok ? { quorumBusy: false, quorumNotice: notice(result.value) } : { quorumBusy: false, quorumError: result.error });
      await get().loadQuorum();
      return result.ok;
    };
    return {
      custodies: null,
      proposals: null,
      quorumError: null,
      quorumNotice: null,
      quorumBusy: false,
      async loadQuorum() {
        const [custodies, proposals] = await Promise.all([bridge.custody.list({}), bridge.proposals.list({})]);
        set({ custodies: custodies.ok ? custodies.value : [], proposals: proposals.ok ? proposals.value : [] });
      },
      takeCustody: (request) =>
        run(() => bridge.custody.take(request), (c) => `Token “${c.token.label}” (${c.token.serial}) is in custody, ${c.threshold} of ${c.holders.length}. Nobody has seen its PINs.`),
      proposeDrill: (custodyId, requester) =>
        run(() => bridge.proposals.create({ custodyId, action: 'token.quorum-drill', params: {}, requester }), (p) => `Proposal ${p.shortFingerprint} is open: read this fingerprint aloud to the approvers.`),
      proposeTurnover: (custodyId, holders, threshold, requester) =>
        run(
          () => bridge.proposals.create({ custodyId, action: 'custody.redeal', params: { holders, threshold }, requester }),
          (p) => `Proposal ${p.shortFingerprint} is open. The current holders approve it; every new holder confirms it with their passphrase and code.`,
        ),
      approveProposal: (proposalId, fingerprint, approver) =>
        run(() => bridge.proposals.approve({ proposalId, fingerprint, approver }), (p) =>
          p.state === 'executed'
            ? `Approved. The quorum was met and the operation ran once.`
            : `Recorded: ${p.approvals.filter((a) => a.held).length} of ${p.threshold} approvals are held${p.holdersToConfirm.length > 0 ? `; ${p.holdersToConfirm.length} new holder(s) still to confirm` : ''}.`,
        ),
      rejectProposal: (proposalId, by) => run(() => bridge.proposals.reject({ proposalId, by }), () => 'Proposal rejected.'),
    };
  };
