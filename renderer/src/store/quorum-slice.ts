import type { StateCreator } from 'zustand';
import type { WireError } from '../../../shared/errors';
import type { BackupImportResult, BackupSummary, PrintableCard } from '../../../shared/backups';
import { actionTitle } from '../../../shared/actions';
import { describeFailure, type CustodyView, type ProposalView } from '../../../shared/quorum';
import type { CustosBridge } from '../bridge';
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
  /** The form the last error belongs to (it shows the error itself), or null for the screen's top. */
  quorumErrorAt: string | null;
  /** What the last action did; 'failed' when the quorum was met but the operation did not complete. */
  quorumNotice: { text: string; tone: 'ok' | 'failed' } | null;
  quorumBusy: boolean;
  loadQuorum(): Promise<void>;
  takeCustody(request: {
    token: { serial: string; label: string };
    threshold: number;
    holders: Proof[];
    label?: string;
    currentSoPin?: string;
  }): Promise<boolean>;
  proposeDrill(custodyId: string, requester: Proof): Promise<boolean>;
  proposeTurnover(custodyId: string, holders: string[], threshold: number, requester: Proof): Promise<boolean>;
  settleCustody(custodyId: string, holders: Proof[]): Promise<boolean>;
  approveProposal(proposalId: string, fingerprint: string, approver: Proof): Promise<boolean>;
  /** An approver closes it for everyone and says why; the reason is kept in the signed record. */
  rejectProposal(proposalId: string, by: Proof, reason: string): Promise<boolean>;
  /** The proposer withdraws it; a reason is optional. */
  cancelProposal(proposalId: string, by: Proof, reason?: string): Promise<boolean>;
  backups: BackupSummary[] | null;
  /** A backup just made whose holders collect their cards one at a time; the one card on screen, if any. */
  printing: {
    setId: string;
    holders: { index: number; id: string; name: string }[];
    card: PrintableCard | null;
    collected: number[];
  } | null;
  proposeBackup(
    custodyId: string,
    keyIds: string[],
    holders: string[],
    threshold: number,
    requester: Proof,
  ): Promise<boolean>;
  proposeRestore(custodyId: string, setId: string, overrideDestroyed: boolean, requester: Proof): Promise<boolean>;
  /** The quorum of `custodyId` decides; its errors show in the retirement form. */
  proposeRetire(custodyId: string, setId: string, reason: string, requester: Proof): Promise<boolean>;
  /** A certificate ceremony proposed from its form on Certificates, which shows the refusals itself. */
  proposeCertificateCeremony(
    custodyId: string,
    action: CertificateCeremony,
    params: ProposalParams,
    requester: Proof,
  ): Promise<boolean>;
  /** A holder of a retired set's card records, with both factors, that it is destroyed. */
  recordCardDestroyed(setId: string, holder: Proof): Promise<boolean>;
  showCards(setId: string): Promise<void>;
  releaseCard(holder: Proof): Promise<boolean>;
  hideCard(): void;
  forgetCards(): Promise<void>;
  enterShare(proposalId: string, text: string): Promise<boolean>;
  exportBackup(setId: string): Promise<boolean>;
  /**
   * The last answer to "Import a backup file": the set stored and how it was authenticated, a cancelled dialog, or why
   * not.
   */
  backupImport: { result: BackupImportResult | null; error: WireError | null };
  /** Main asks for the file; true when a set was stored. */
  importBackup(expectAuditKey?: string): Promise<boolean>;
  checkShare(text: string): Promise<boolean>;
}

/** The form where a holder types a card for this restore: a refused card is said there. */
export const cardFormOf = (proposalId: string) => `card-${proposalId}`;

/** The custody forms, each showing its own refusals beside the fields that fix them (`quorumErrorAt`). */
export const CUSTODY_FORMS = { take: 'custody-take', turnover: 'custody-turnover', settle: 'custody-settle' } as const;

export const createQuorumSlice =
  ({ bridge }: Deps): StateCreator<CustosState, [], [], QuorumSlice> =>
  (set, get) => {
    const run = async <T>(
      call: () => Promise<{ ok: true; value: T } | { ok: false; error: WireError }>,
      notice: (value: T) => string,
      at: string | null = null,
    ): Promise<boolean> => {
      set({ quorumBusy: true, quorumError: null, quorumErrorAt: null, quorumNotice: null });
      const result = await call();
      // Busy until the lists are read again: a form clears when this returns, so the next approver, who starts typing
      // once "Checking…" is gone, must not have their fingerprint and factors wiped by a clear that came later.
      try {
        await get().loadQuorum();
      } finally {
        set(
          result.ok
            ? { quorumBusy: false, quorumNotice: noticeFor(result.value, notice) }
            : { quorumBusy: false, quorumError: result.error, quorumErrorAt: at },
        );
      }
      return result.ok;
    };
    return {
      custodies: null,
      proposals: null,
      quorumError: null,
      quorumErrorAt: null,
      quorumNotice: null,
      quorumBusy: false,
      async loadQuorum() {
        const [custodies, proposals, backups] = await Promise.all([
          bridge.custody.list({}),
          bridge.proposals.list({}),
          bridge.backups.list({}),
        ]);
        set({
          custodies: custodies.ok ? custodies.value : [],
          proposals: proposals.ok ? proposals.value : [],
          backups: backups.ok ? backups.value : [],
        });
      },
      takeCustody: (request) =>
        run(
          () => bridge.custody.take(request),
          (c) =>
            `Token “${c.token.label}” (${c.token.serial}) is in custody, ${c.threshold} of ${c.holders.length}. Nobody has seen its PINs.`,
          CUSTODY_FORMS.take,
        ),
      proposeDrill: (custodyId, requester) =>
        run(
          () => bridge.proposals.create({ custodyId, action: 'token.quorum-drill', params: {}, requester }),
          (p) => `Proposal ${p.shortFingerprint} is open: read this fingerprint aloud to the approvers.`,
        ),
      proposeTurnover: (custodyId, holders, threshold, requester) =>
        run(
          () =>
            bridge.proposals.create({ custodyId, action: 'custody.redeal', params: { holders, threshold }, requester }),
          (p) =>
            `Proposal ${p.shortFingerprint} is open. The current holders approve it; every new holder confirms it with their passphrase and code.`,
          CUSTODY_FORMS.turnover,
        ),
      settleCustody: (custodyId, holders) =>
        run(
          () => bridge.custody.settle({ custodyId, holders }),
          (r) =>
            r.outcome === 'activated'
              ? `The token has this custody’s PINs: it is now the active custody of “${r.custody.token.label}”.`
              : 'The token does not take both of this custody’s PINs: it is set aside, and a custody in force before ' +
                'stays in force (with none, re-initialise the token or take it again with its SO PIN).',
          CUSTODY_FORMS.settle,
        ),
      approveProposal: (proposalId, fingerprint, approver) =>
        run(
          () => bridge.proposals.approve({ proposalId, fingerprint, approver }),
          (p) =>
            p.state === 'executed'
              ? `Approved. The quorum was met and the operation ran once.`
              : `Recorded: ${p.approvals.filter((a) => a.held).length} of ${p.threshold} approvals are held${p.holdersToConfirm.length > 0 ? `; ${p.holdersToConfirm.length} new holder(s) still to confirm` : ''}.`,
          approveFormOf(proposalId),
        ),
      rejectProposal: (proposalId, by, reason) =>
        run(
          () => bridge.proposals.reject({ proposalId, by, reason }),
          (p) => `Proposal ${p.shortFingerprint} is rejected: nobody can approve it now, and nothing was done.`,
          stopFormOf(proposalId),
        ),
      cancelProposal: (proposalId, by, reason) =>
        run(
          () => bridge.proposals.cancel({ proposalId, by, ...(reason ? { reason } : {}) }),
          (p) => `Proposal ${p.shortFingerprint} is cancelled by its proposer: nothing was done.`,
          stopFormOf(proposalId),
        ),
      backups: null,
      printing: null,
      proposeBackup: (custodyId, keyIds, holders, threshold, requester) =>
        run(
          () =>
            bridge.proposals.create({
              custodyId,
              action: 'key.backup',
              params: { keyIds, holders, threshold },
              requester,
            }),
          (p) => `Backup proposal ${p.shortFingerprint} is open. Have the cards printed as soon as it runs.`,
        ),
      proposeRestore: (custodyId, setId, overrideDestroyed, requester) =>
        run(
          () =>
            bridge.proposals.create({
              custodyId,
              action: 'key.restore',
              params: { setId, ...(overrideDestroyed ? { overrideDestroyed } : {}) },
              requester,
            }),
          (p) =>
            `Restore proposal ${p.shortFingerprint} is open. After the approvals, the card holders enter their cards on the Approvals screen.`,
        ),
      proposeRetire: (custodyId, setId, reason, requester) =>
        run(
          () => bridge.proposals.create({ custodyId, action: 'backup.retire', params: { setId, reason }, requester }),
          (p) =>
            `Retirement proposal ${p.shortFingerprint} is open: read this fingerprint aloud to the approvers on the Approvals screen. The set can still be restored until they approve.`,
          RETIRE_FORM,
        ),
      proposeCertificateCeremony: (custodyId, action, params, requester) =>
        run(
          () => bridge.proposals.create({ custodyId, action, params, requester }),
          (p) =>
            `${actionTitle(action)}: proposal ${p.shortFingerprint} is open. Read this fingerprint aloud to the approvers on the Approvals screen; nothing is signed until they approve.`,
          certificateFormOf(action),
        ),
      recordCardDestroyed: (setId, holder) =>
        run(
          () => bridge.backups.cardDestroyed({ setId, holder }),
          (b) => {
            const cards = b.retirement?.cards ?? [];
            const who = cards.find((c) => c.id === holder.custodianId)?.name;
            const pending = cards.filter((c) => !c.destroyedAt).map((c) => c.name);
            return `${who ? `${who}’s card` : 'The card'} of backup set ${b.setId.slice(0, 8)} is recorded as destroyed. ${
              pending.length === 0
                ? 'Every card of this set is now recorded as destroyed.'
                : `Still to record their card: ${pending.join(', ')}.`
            }`;
          },
          CARD_DESTROYED_FORM,
        ),
      async showCards(setId) {
        await get().loadQuorum();
        const backup = get().backups?.find((b) => b.setId === setId);
        if (backup)
          set({
            printing: {
              setId,
              holders: backup.holders.map(({ index, id, name }) => ({ index, id, name })),
              card: null,
              collected: [],
            },
            quorumError: null,
            quorumNotice: null,
          });
      },
      async releaseCard(holder) {
        const printing = get().printing;
        if (!printing) return false;
        set({ quorumBusy: true, quorumError: null, quorumNotice: null });
        const result = await bridge.backups.card({ setId: printing.setId, holder });
        set(
          result.ok
            ? {
                quorumBusy: false,
                printing: {
                  ...printing,
                  card: result.value,
                  collected: [...new Set([...printing.collected, result.value.index])],
                },
              }
            : { quorumBusy: false, quorumError: result.error, quorumErrorAt: null },
        );
        return result.ok;
      },
      hideCard() {
        const printing = get().printing;
        if (printing) set({ printing: { ...printing, card: null } });
      },
      async forgetCards() {
        const setId = get().printing?.setId;
        set({ printing: null });
        if (setId)
          await run(
            () => bridge.backups.forgetCards({ setId }),
            () => 'The cards are forgotten: nobody can print them again.',
          );
      },
      enterShare: (proposalId, text) =>
        run(
          () => bridge.backups.enterShare({ proposalId, text }),
          (p) =>
            p.state === 'executed'
              ? 'Card accepted. The backup was restored and every key proven.'
              : `Card accepted. Still needed: ${[...p.waitingFor, ...(p.approvals.filter((a) => a.held).length < p.threshold ? ['approvals'] : [])].join('; ')}.`,
          // A refused card is said at the form it was typed in, wherever that is (Approvals, a ceremony's runner).
          cardFormOf(proposalId),
        ),
      exportBackup: (setId) => {
        const auditKey = get().backups?.find((b) => b.setId === setId)?.madeBy.auditKey;
        // The fingerprint goes on paper with the file: a new installation checks the file against it.
        const printIt = auditKey ? ` Made by audit key ${auditKey}: print it and keep the printout with the file.` : '';
        return run(
          () => bridge.backups.exportFile({ setId }),
          (r) => `The signed backup file is at ${r.path}. Keep it apart from the share cards.${printIt}`,
        );
      },
      backupImport: { result: null, error: null },
      async importBackup(expectAuditKey) {
        set({ quorumBusy: true, quorumError: null, quorumNotice: null, backupImport: { result: null, error: null } });
        const result = await bridge.backups.importFile(expectAuditKey ? { expectAuditKey } : {});
        set({
          quorumBusy: false,
          backupImport: result.ok ? { result: result.value, error: null } : { result: null, error: result.error },
        });
        await get().loadQuorum();
        return result.ok && result.value.outcome === 'imported';
      },
      checkShare: (text) =>
        run(
          () => bridge.backups.checkShare({ text }),
          (r) => `Card ${r.index} (${r.holder}) of backup set ${r.setId.slice(0, 8)} is valid. The check is recorded.`,
        ),
    };
  };

/** The backup retirement forms, which show their own errors. */
export const RETIRE_FORM = 'retire';
export const CARD_DESTROYED_FORM = 'card-destroyed';

/** The certificate ceremonies, each proposed from its own form on Certificates. */
export const CERTIFICATE_CEREMONIES = ['cert.self-sign', 'cert.issue', 'crl.issue'] as const;
export type CertificateCeremony = (typeof CERTIFICATE_CEREMONIES)[number];
export const isCertificateCeremony = (action: string): action is CertificateCeremony =>
  (CERTIFICATE_CEREMONIES as readonly string[]).includes(action);
export const certificateFormOf = (action: CertificateCeremony) => `certificate:${action}`;
type ProposalParams = NonNullable<Parameters<CustosBridge['proposals']['create']>[0]['params']>;

/** The forms on a proposal that show their own errors. */
export const approveFormOf = (proposalId: string) => `approve:${proposalId}`;
export const stopFormOf = (proposalId: string) => `stop:${proposalId}`;

/** An approval (or the last card) that ran the operation may still have failed in the token: say so, and why. */
function noticeFor<T>(value: T, notice: (value: T) => string): NonNullable<QuorumSlice['quorumNotice']> {
  const outcome = (value as Partial<ProposalView> | null)?.outcome;
  if (outcome?.status === 'failed') {
    const remedy = outcome.remedy?.length ? ` What to do: ${outcome.remedy.join(' ')}` : '';
    return {
      text: `The quorum was met, but the operation did not complete. ${describeFailure(outcome)}${remedy}`,
      tone: 'failed',
    };
  }
  return { text: notice(value), tone: 'ok' };
}
