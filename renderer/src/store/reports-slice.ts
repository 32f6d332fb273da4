import type { StateCreator } from 'zustand';
import type { ComplianceView, ValidationRecord } from '../../../shared/compliance';
import type { WireError } from '../../../shared/errors';
import type { ControlStatus, ReportSummary } from '../../../shared/reports';
import type { CustosState, Deps } from './index';
import type { Proof } from './quorum-slice';

export interface ReportsSlice {
  compliance: ComplianceView | null;
  reports: ReportSummary[] | null;
  controls: ControlStatus[] | null;
  practiceStatement: string | null;
  reportError: WireError | null;
  reportNotice: string | null;
  reportBusy: boolean;
  loadReports(asOf?: string): Promise<void>;
  createReport(
    subject:
      | { proposalId: string }
      | { custodyId: string }
      | { inventory: true }
      | { compliance: { asOf?: string } }
      | { revocation: { keyId: string } }
      | { impact: { keyId: string } },
  ): Promise<void>;
  witness(ceremonyId: string, name: string, role: string): Promise<void>;
  recordValidation(record: ValidationRecord, officer: Proof): Promise<void>;
  recordPolicyReview(officer: Proof): Promise<void>;
  showPracticeStatement(): Promise<void>;
  writePracticeStatement(): Promise<void>;
}

export const createReportsSlice =
  ({ bridge }: Deps): StateCreator<CustosState, [], [], ReportsSlice> =>
  (set, get) => {
    const run = async <T>(
      call: () => Promise<{ ok: true; value: T } | { ok: false; error: WireError }>,
      done: (value: T) => Partial<ReportsSlice>,
    ) => {
      set({ reportBusy: true, reportError: null, reportNotice: null });
      const result = await call();
      set(result.ok ? { reportBusy: false, ...done(result.value) } : { reportBusy: false, reportError: result.error });
    };
    return {
      compliance: null,
      reports: null,
      controls: null,
      practiceStatement: null,
      reportError: null,
      reportNotice: null,
      reportBusy: false,
      async loadReports(asOf) {
        const [compliance, reports, controls] = await Promise.all([
          bridge.compliance.view(asOf ? { asOf } : {}),
          bridge.reports.list({}),
          bridge.compliance.controls({}),
        ]);
        set({
          ...(compliance.ok ? { compliance: compliance.value } : { reportError: compliance.error }),
          reports: reports.ok ? reports.value : [],
          controls: controls.ok ? controls.value : [],
        });
      },
      createReport: async (subject) => {
        // Signing a report writes a checkpoint and six files; say so while it runs.
        set({ reportNotice: 'Signing the report and writing its files…' });
        const files = 'report.json, report.sig, audit-key.pem, report.pdf, report-pdf.json, report-pdf.sig';
        await run(
          () => bridge.reports.create(subject),
          (r) => ({
            reportNotice: `Report ${r.id} is signed. Files (${files}) are in ${r.dir}. SHA-256 of report.json: ${r.sha256}`,
          }),
        );
        await get().loadReports();
      },
      witness: (ceremonyId, name, role) =>
        run(
          () => bridge.reports.witness({ ceremonyId, name, role }),
          (w) => ({
            reportNotice: `${w.name} (${w.role}) signed off; the sign-off will be in the ceremony’s reports.`,
          }),
        ),
      recordValidation: (record, officer) =>
        run(
          () => bridge.compliance.recordValidation({ ...record, officer }),
          (view) => ({ compliance: view, reportNotice: `Validation recorded for ${record.modulePath}.` }),
        ),
      recordPolicyReview: (officer) =>
        run(
          () => bridge.compliance.policyReviewed({ officer }),
          (view) => ({ compliance: view, reportNotice: 'Today’s policy review is recorded.' }),
        ),
      showPracticeStatement: () =>
        run(
          () => bridge.compliance.practiceStatement({}),
          (v) => ({ practiceStatement: v.markdown }),
        ),
      writePracticeStatement: () =>
        run(
          () => bridge.compliance.writePracticeStatement({}),
          (v) => ({
            reportNotice: `The practice statement draft is written to ${v.dir}: ${v.files.map((f) => `${f.name} (SHA-256 ${f.sha256})`).join(', ')}.`,
          }),
        ),
    };
  };
