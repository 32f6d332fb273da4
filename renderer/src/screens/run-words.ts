import type { RunStepView, RunView } from '../../../shared/ceremony-script';
import { approvalsComplete, type ProposalView } from '../../../shared/quorum';

/** A step's state as a chip: its words, and the chip's colour class. */
export const STEP_CHIPS: Record<RunStepView['state'], { text: string; chip: string }> = {
  waiting: { text: 'to do', chip: 'chip' },
  proposed: { text: 'proposed', chip: 'chip chip-open' },
  performed: { text: 'waiting for witnesses', chip: 'chip chip-witness' },
  failed: { text: 'failed', chip: 'chip chip-failed' },
  done: { text: 'done', chip: 'chip chip-executed' },
};

export const RUN_CHIPS: Record<RunView['state'], { text: string; chip: string }> = {
  'in-progress': { text: 'in progress', chip: 'chip chip-open' },
  done: { text: 'done', chip: 'chip chip-executed' },
  aborted: { text: 'aborted', chip: 'chip chip-failed' },
};

/** The page of a run on the Ceremonies screen, and of its abort confirmation. */
export const runPage = (runId: string) => `run:${runId}`;
export const abortPage = (runId: string) => `abort:${runId}`;
/** An instant as the screens print it: to the minute, in UTC. */
export const utc = (instant: string) => `${new Date(instant).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** The confirmation page before ending a rehearsal whose run is not finished. */
export const END_REHEARSAL_PAGE = 'end-rehearsal';

/**
 * Who must act now on a step, by name: its performer while it waits (and every holder of a custody), the approvers
 * still to approve while its proposal is open, the witnesses still to sign once it is performed.
 */
export function whoActsNow(step: RunStepView, proposal: ProposalView | undefined, nameOf: (id: string) => string) {
  switch (step.state) {
    case 'waiting':
    case 'failed':
      return step.custody ? [step.by, ...step.custody.holders.filter((n) => n !== step.by)] : [step.by];
    case 'proposed': {
      const approved = new Set((proposal?.approvals ?? []).filter((a) => a.held).map((a) => nameOf(a.custodianId)));
      return step.approvers.filter((n) => !approved.has(n));
    }
    case 'performed':
      return step.witnesses.filter((w) => w.signedAt === null).map((w) => w.name);
    case 'done':
      return [];
  }
}

/** The cards a restore still waits for once its approvals are held (in the core's words); none otherwise. */
export function cardsAwaited(proposal: ProposalView): string[] {
  return proposal.action === 'key.restore' && approvalsComplete(proposal) ? proposal.waitingFor : [];
}

/** What the people named must do now, in a few words (`count`: how many are named). */
export function actNowVerb(step: RunStepView, count: number): string {
  const one = count === 1;
  switch (step.state) {
    case 'waiting':
      if (step.custody) return 'give both factors, one after the other, to take the token into custody';
      return step.kind === 'action' ? 'proposes it' : 'performs it';
    case 'failed':
      return 'proposes it again';
    case 'proposed':
      return `${one ? 'compares' : 'compare'} the fingerprint with the printed script and ${one ? 'approves' : 'approve'}`;
    case 'performed':
      return `${one ? 'confirms' : 'confirm'}, as ${one ? 'witness' : 'witnesses'}, that it was done`;
    case 'done':
      return 'nothing to do';
  }
}
