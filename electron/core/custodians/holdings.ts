import type { BackupSummary } from '../../../shared/backups';
import type { RunStepView, RunSummary, RunView } from '../../../shared/ceremony-script';
import type { ProposalView } from '../../../shared/quorum';
import type { CustodyRecord } from '../custody/custody-service';

/** The services whose records say what a person still holds; read through them, so a tampered record refuses. */
export interface HoldingSources {
  custody: { list(): (CustodyRecord & { holderIds: string[] })[] };
  backups: { list(): BackupSummary[] };
  /** Every open proposal, not a page of them. */
  proposals: { open(): ProposalView[] };
  ceremonies?: { list(): RunSummary[]; view(runId: string): RunView };
}

/**
 * What a person still holds or is part of, in words, for a retirement to refuse: a share of a custody in effect or
 * pending, a card of a backup set that is not retired (or of a retired one, not yet confirmed destroyed), an open
 * proposal they made, approved or are named in, a step still to come of a ceremony run in progress.
 */
export function holdingsOf(sources: HoldingSources, person: { id: string; name: string }): string[] {
  const custodianId = person.id;
  const custody = sources.custody
    .list()
    .filter((c) => c.state !== 'superseded' && c.holderIds.includes(custodianId))
    .map((c) => `a share of the ${c.state === 'pending' ? 'pending ' : ''}custody of token “${c.token.label}”`);
  const sets = sources.backups.list();
  const cards = sets
    .filter((set) => set.retirement === null && set.holders.some((h) => h.id === custodianId))
    .map((set) => `a card of backup set ${set.setId.slice(0, 8)} (token “${set.token.label}”)`);
  // A retired person's factors confirm nothing: their card of a retired set would stay unconfirmed for good.
  const unconfirmed = sets
    .filter((set) => set.retirement?.cards.some((c) => c.id === custodianId && c.destroyedAt === null))
    .map((set) => `a card of retired backup set ${set.setId.slice(0, 8)} not yet confirmed destroyed`);
  const proposals = sources.proposals
    .open()
    .filter(
      (p) =>
        p.requestedBy === custodianId ||
        p.approvals.some((a) => a.custodianId === custodianId) ||
        JSON.stringify(p.params).includes(custodianId),
    )
    .map((p) => `a place in open proposal ${p.shortFingerprint} (${p.action})`);
  return [...custody, ...cards, ...unconfirmed, ...proposals, ...runPlaces(sources, person.name)];
}

/** The steps still to come of each run in progress that name this person (scripts name people by name). */
function runPlaces({ ceremonies }: HoldingSources, name: string): string[] {
  if (!ceremonies) return [];
  return ceremonies
    .list()
    .filter((r) => r.state === 'in-progress')
    .map((r) => ceremonies.view(r.id))
    .flatMap((run) => {
      const places = run.steps.flatMap((step) => placesIn(step, name).map((as) => `${as} of step “${step.title}”`));
      return places.length > 0 ? [`a place in ceremony run ${run.id} “${run.title}” (${places.join(', ')})`] : [];
    });
}

/** What this person still has to do in a step: perform it, approve it, hold a share of its custody, witness it. */
function placesIn(step: RunStepView, name: string): string[] {
  if (step.state === 'done') return [];
  const toPerform = step.state === 'waiting' || step.state === 'failed';
  return [
    toPerform && step.by === name ? 'performer' : null,
    step.state !== 'performed' && step.approvers.includes(name) ? 'approver' : null,
    toPerform && step.custody?.holders.includes(name) ? 'holder' : null,
    step.witnesses.some((w) => w.name === name && w.signedAt === null) ? 'witness' : null,
  ].filter((place): place is string => place !== null);
}
