import { RetireParams } from '../../../shared/actions';
import type { BackupSummary } from '../../../shared/backups';
import type { AuditService } from '../audit/audit-service';
import type { CustodianService } from '../custodians/custodian-service';
import { CustosError } from '../errors';
import type { ProposalCheck, QuorumOperation } from '../quorum/quorum-service';
import type { Store } from '../store/database';
import { signState, stateDocument, stateVerdict, type SignedColumns } from '../store/signed-state';
import { sql } from '../store/sql';
import type { Manifest } from './manifest';

export type Retirement = NonNullable<BackupSummary['retirement']>;

interface RetirementRow extends SignedColumns {
  set_id: string;
  proposal_id: string;
  reason: string;
  retired_at: string;
}

interface CardRow extends SignedColumns {
  set_id: string;
  share_index: number;
  holder_id: string;
  destroyed_at: string;
}

/**
 * Retiring a backup set (issue #14 §4: destruction covers every copy). The quorum approves
 * `backup.retire`; from its execution the set is never restored. Each card holder then records, with
 * both factors, that their card is destroyed: the wrapped keys in the file are useless without t cards,
 * so the set is gone once enough cards are. Both are signed rows beside append-only audit entries
 * (`backup.retired`, `backup.card.destroyed`): a retirement whose row a database writer deletes is
 * still a retirement, reported as tampered; a forged card confirmation is not believed.
 */
export class BackupRetirements {
  constructor(
    private readonly options: {
      store: Store;
      audit: AuditService;
      custodians: CustodianService;
      manifest: (setId: string) => Manifest;
      clock: () => Date;
    },
  ) {}

  /** The set's retirement as recorded, or null while it is live. */
  retirement(setId: string): Retirement | null {
    const { store, audit } = this.options;
    const entry = store.get<{ seq: number; time: string }>(
      sql`SELECT max(seq) AS seq, time FROM audit_entries WHERE object = ${`backup:${setId}`} AND action = 'backup.retired' AND result = 'ok'`,
    );
    const row = store.get<RetirementRow>(sql`SELECT * FROM backup_retirements WHERE set_id = ${setId}`);
    // The heads signed with the latest checkpoint name a retirement whose entry was edited away under it.
    const named = audit.recordHead({ table: 'backup_retirements', id: setId })?.seq !== undefined;
    if (!row && entry?.seq == null && !named) return null;
    const cards = this.cards(setId);
    if (
      !row ||
      stateVerdict(audit, row, (seq) => retirementDocument(row, seq), entry?.seq, {
        table: 'backup_retirements',
        id: setId,
      }) !== 'authentic'
    ) {
      return {
        retiredAt: entry?.seq != null ? entry.time : (row?.retired_at ?? ''),
        reason: 'the stored retirement record is missing or was changed outside Custos',
        proposalId: row?.proposal_id ?? '',
        status: 'tampered',
        cards,
      };
    }
    return { retiredAt: row.retired_at, reason: row.reason, proposalId: row.proposal_id, status: 'recorded', cards };
  }

  /**
   * A retired set is never restored, whatever else its row says, nor exported: an installation that imported the file
   * would know nothing of the retirement and restore it with the cards not yet destroyed.
   */
  refuseRetired(setId: string, as: 'restored' | 'exported' = 'restored'): void {
    const retired = this.retirement(setId);
    if (!retired) return;
    throw new CustosError(
      'BACKUP_RETIRED',
      `Backup set ${setId.slice(0, 8)}… was retired${retired.retiredAt ? ` on ${retired.retiredAt.slice(0, 10)}` : ''}; it can no longer be ${as}. Nothing was changed.`,
      [`${as === 'restored' ? 'Restore' : 'Export'} another backup set (custos backup list shows which are live).`],
    );
  }

  /** Refuses, when proposed and when run, a set that is unknown, tampered with or already retired. */
  readonly check: ProposalCheck = (params) => {
    const { setId } = RetireParams.parse(params);
    this.options.manifest(setId);
    if (this.retirement(setId))
      throw new CustosError('BACKUP_RETIRED', `Backup set ${setId.slice(0, 8)}… is already retired.`, [
        'Nothing to do: its holders confirm their cards destroyed with custos backup card-destroyed.',
      ]);
  };

  /** The quorum action `backup.retire`: nothing in the token changes; the quorum's login is the decision. */
  operation(): QuorumOperation {
    return ({ params, proposalId }) => {
      this.check(params, { id: '', token: { serial: '', label: '' } });
      const { setId, reason } = RetireParams.parse(params);
      const manifest = this.options.manifest(setId);
      const retiredAt = this.options.clock().toISOString();
      return {
        result: { setId, reason, retiredAt, holders: manifest.shares.map((s) => s.holder.id) },
        commit: () =>
          this.options.audit.record(
            {
              actor: SYSTEM,
              action: 'backup.retired',
              object: { type: 'backup', id: setId },
              params: { proposal: proposalId, reason },
            },
            () => {
              this.options.store.execute(sql`
                INSERT INTO backup_retirements (set_id, proposal_id, reason, retired_at)
                VALUES (${setId}, ${proposalId}, ${reason}, ${retiredAt})`);
              const row = this.options.store.get<RetirementRow>(
                sql`SELECT * FROM backup_retirements WHERE set_id = ${setId}`,
              )!;
              const { seq, signature } = signState(this.options.audit, (at) => retirementDocument(row, at), {
                table: 'backup_retirements',
                id: setId,
              });
              this.options.store.execute(
                sql`UPDATE backup_retirements SET state_seq = ${seq}, state_sig = ${signature} WHERE set_id = ${setId}`,
              );
            },
          ),
      };
    };
  }

  /**
   * A holder of a retired set's card records, with both factors, that the card is destroyed. Asked again,
   * it records nothing more and answers the same.
   */
  async cardDestroyed(
    setId: string,
    holder: { custodianId: string; passphrase: string; code: string },
  ): Promise<Retirement> {
    const manifest = this.options.manifest(setId);
    const share = manifest.shares.find((s) => s.holder.id === holder.custodianId);
    if (!share)
      throw new CustosError(
        'NOT_AUTHORIZED',
        `${this.options.custodians.get(holder.custodianId).name} holds no card of this backup.`,
      );
    if (!this.retirement(setId))
      throw new CustosError(
        'BACKUP_NOT_RETIRED',
        `Backup set ${setId.slice(0, 8)}… is not retired: its cards are still needed to restore it. Nothing was recorded.`,
        ['Propose backup.retire first; once the quorum has retired the set, each holder destroys their card.'],
      );
    const { custodians, store, audit } = this.options;
    (await custodians.verifyFactors(holder.custodianId, holder.passphrase, holder.code, `card ${setId}`)).fill(0);
    if (this.cards(setId).find((c) => c.index === share.index)?.destroyedAt) return this.retirement(setId)!;
    const at = this.options.clock().toISOString();
    audit.record(
      {
        actor: { type: 'custodian', id: holder.custodianId, role: 'custodian' },
        action: 'backup.card.destroyed',
        object: { type: 'backup', id: setId },
        params: { index: share.index },
      },
      () => {
        store.execute(sql`DELETE FROM card_destructions WHERE set_id = ${setId} AND share_index = ${share.index}`);
        const row: CardRow = {
          set_id: setId,
          share_index: share.index,
          holder_id: holder.custodianId,
          destroyed_at: at,
          state_seq: null,
          state_sig: null,
        };
        const { seq, signature } = signState(audit, (s) => cardDocument(row, s), {
          table: 'card_destructions',
          id: `${setId}/${share.index}`,
        });
        store.execute(sql`
          INSERT INTO card_destructions (set_id, share_index, holder_id, destroyed_at, state_seq, state_sig)
          VALUES (${setId}, ${share.index}, ${holder.custodianId}, ${at}, ${seq}, ${signature})`);
      },
    );
    return this.retirement(setId)!;
  }

  /** Each card of the set: destroyed when its holder's signed confirmation is on record, else pending. */
  private cards(setId: string): Retirement['cards'] {
    const { store, audit } = this.options;
    const confirmed = new Map(
      store
        .all<CardRow>(sql`SELECT * FROM card_destructions WHERE set_id = ${setId}`)
        .filter(
          (r) =>
            r.state_sig !== null &&
            r.state_seq !== null &&
            audit.verifyDocument(cardDocument(r, r.state_seq), r.state_sig),
        )
        .map((r) => [r.share_index, r]),
    );
    return this.options.manifest(setId).shares.map((s) => {
      const row = confirmed.get(s.index);
      return {
        index: s.index,
        id: s.holder.id,
        name: s.holder.name,
        destroyedAt: row && row.holder_id === s.holder.id ? row.destroyed_at : null,
      };
    });
  }
}

const SYSTEM = { type: 'system', id: 'system' } as const;

function retirementDocument(row: RetirementRow, seq: number): Buffer {
  return stateDocument(
    'custos/backup-retirement',
    { setId: row.set_id, proposalId: row.proposal_id, reason: row.reason, retiredAt: row.retired_at },
    seq,
  );
}

function cardDocument(row: CardRow, seq: number): Buffer {
  return stateDocument(
    'custos/backup-card-destroyed',
    { setId: row.set_id, index: row.share_index, holderId: row.holder_id, destroyedAt: row.destroyed_at },
    seq,
  );
}
