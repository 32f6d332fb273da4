import type { BackupSummary } from '../../../shared/backups';
import type { ProposalView } from '../../../shared/quorum';
import type { CustodyRecord } from '../custody/custody-service';

/** The services whose records say what a person still holds; read through them, so a tampered record refuses. */
export interface HoldingSources {
  custody: { list(): (CustodyRecord & { holderIds: string[] })[] };
  backups: { list(): BackupSummary[] };
  proposals: { list(): ProposalView[] };
}

/**
 * What a person still holds or is part of, in words, for a retirement to refuse: a share of a custody in effect or
 * pending, a card of a backup set that is not retired (or of a retired one, not yet confirmed destroyed), an open
 * proposal they made, approved or are named in.
 */
export function holdingsOf(sources: HoldingSources, custodianId: string): string[] {
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
    .list()
    .filter(
      (p) =>
        p.state === 'open' &&
        (p.requestedBy === custodianId ||
          p.approvals.some((a) => a.custodianId === custodianId) ||
          JSON.stringify(p.params).includes(custodianId)),
    )
    .map((p) => `a place in open proposal ${p.shortFingerprint} (${p.action})`);
  return [...custody, ...cards, ...unconfirmed, ...proposals];
}
