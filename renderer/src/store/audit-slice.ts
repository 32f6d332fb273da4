import type { StateCreator } from 'zustand';
import type { AuditEntryDetail, AuditFilter, AuditRow, AuditVerdict, CheckpointInfo } from '../../../shared/audit';
import type { WireError } from '../../../shared/errors';
import type { CustosState, Deps } from './index';

export const AUDIT_PAGE = 200;

export interface AuditSlice {
  auditFilter: AuditFilter;
  auditTotal: number | null;
  /** Loaded pages by page number; the table asks for what scrolls into view. */
  auditPages: Record<number, AuditRow[]>;
  auditQuery: number;
  auditDetail: AuditEntryDetail | null;
  auditError: WireError | null;
  verifying: { checked: number; total: number } | null;
  verdict: AuditVerdict | null;
  lastCheckpoint: CheckpointInfo | null;
  searchAudit(filter: AuditFilter): Promise<void>;
  loadAuditPage(page: number): Promise<void>;
  openAuditEntry(seq: number): Promise<void>;
  closeAuditEntry(): void;
  verifyAudit(): Promise<void>;
  checkpointAudit(): Promise<void>;
  applyVerifyProgress(progress: { checked: number; total: number }): void;
}

export const createAuditSlice =
  ({ bridge }: Deps): StateCreator<CustosState, [], [], AuditSlice> =>
  (set, get) => {
    const inFlight = new Set<string>();
    return {
      auditFilter: {},
      auditTotal: null,
      auditPages: {},
      auditQuery: 0,
      auditDetail: null,
      auditError: null,
      verifying: null,
      verdict: null,
      lastCheckpoint: null,
      async searchAudit(filter) {
        set((s) => ({
          auditFilter: filter,
          auditTotal: null,
          auditPages: {},
          auditQuery: s.auditQuery + 1,
          auditError: null,
        }));
        await get().loadAuditPage(0);
      },
      async loadAuditPage(page) {
        const { auditFilter, auditPages, auditQuery } = get();
        const key = `${auditQuery}:${page}`;
        if (auditPages[page] || inFlight.has(key)) return;
        inFlight.add(key);
        const result = await bridge.audit.page({ filter: auditFilter, offset: page * AUDIT_PAGE, limit: AUDIT_PAGE });
        inFlight.delete(key);
        if (get().auditQuery !== auditQuery) return; // a newer search replaced this one
        if (result.ok)
          set((s) => ({ auditTotal: result.value.total, auditPages: { ...s.auditPages, [page]: result.value.rows } }));
        else set({ auditError: result.error });
      },
      async openAuditEntry(seq) {
        const result = await bridge.audit.entry({ seq });
        set(result.ok ? { auditDetail: result.value, auditError: null } : { auditError: result.error });
      },
      closeAuditEntry() {
        set({ auditDetail: null });
      },
      async verifyAudit() {
        set({ verifying: { checked: 0, total: get().auditTotal ?? 0 }, verdict: null, auditError: null });
        const result = await bridge.audit.verify({});
        set(result.ok ? { verifying: null, verdict: result.value } : { verifying: null, auditError: result.error });
      },
      async checkpointAudit() {
        const result = await bridge.audit.checkpoint({});
        set(result.ok ? { lastCheckpoint: result.value, auditError: null } : { auditError: result.error });
      },
      applyVerifyProgress(progress) {
        if (get().verifying) set({ verifying: progress });
      },
    };
  };
