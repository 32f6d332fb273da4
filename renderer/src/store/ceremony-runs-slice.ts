import type { StateCreator } from 'zustand';
import type { LintReport, PlannedCeremony, RunSummary, RunView } from '../../../shared/ceremony-script';
import type { WireError } from '../../../shared/errors';
import { describeFailure, type ProposalView } from '../../../shared/quorum';
import type { CustosState, Deps } from './index';
import type { Proof } from './quorum-slice';

/** The forms of a script's check and run, each showing its own refusal beside the fields that fix it. */
export type RunForm = 'check' | 'start' | 'perform' | 'approve' | 'witness' | 'finish' | 'abort';

export interface CeremonyRunsSlice {
  runs: RunSummary[] | null;
  /** Scripts kept as planned, not started yet. */
  planned: PlannedCeremony[] | null;
  plannedError: WireError | null;
  /** Full views of the runs in progress (for who must act now) and of the run last opened. */
  runViews: Record<string, RunView>;
  /** The script chosen on "Check a script": its file name, its exact text and what lint said. */
  scriptCheck: { fileName: string; text: string; report: LintReport } | null;
  runError: WireError | null;
  runErrorAt: RunForm | null;
  /** What the last step did, said at the top of the run page (and focused). */
  runNotice: { text: string; tone: 'ok' | 'failed' } | null;
  runBusy: boolean;
  /** The runs and the planned ceremonies. */
  loadRuns(): Promise<void>;
  /** Keeps the script checked as planned. */
  planScript(): Promise<void>;
  withdrawPlan(sha256: string): Promise<void>;
  /** A planned script, checked again (by whichever installation answers now) on the check page. */
  checkPlanned(plan: PlannedCeremony): Promise<void>;
  loadRun(runId: string): Promise<void>;
  /** The text read from the chosen file goes to lint as it is: the core hashes it byte for byte. */
  checkScript(fileName: string, text: string): Promise<void>;
  /** The script on "Check a script" linted again by the installation the screens now show (a rehearsal's, or back). */
  recheckScript(): Promise<void>;
  /** The run's id when it started. */
  startRun(administrator: Proof): Promise<string | null>;
  performStep(request: {
    runId: string;
    stepId: string;
    by: Proof;
    holders?: Proof[];
    currentSoPin?: string;
    value?: string;
  }): Promise<boolean>;
  approveStep(runId: string, proposalId: string, fingerprint: string, approver: Proof): Promise<boolean>;
  witnessStep(runId: string, stepId: string, witness: Proof): Promise<boolean>;
  abortRun(runId: string, by: Proof, reason: string): Promise<boolean>;
  /** A run whose steps are all done but whose report was not made: the report, then its finish. */
  finishRun(runId: string): Promise<boolean>;
}

type Answer<T> = { ok: true; value: T } | { ok: false; error: WireError };

export const createCeremonyRunsSlice =
  ({ bridge }: Deps): StateCreator<CustosState, [], [], CeremonyRunsSlice> =>
  (set, get) => {
    /** One submit: busy while it runs, its refusal kept for its form, its result said at the top. */
    const act = async <T>(
      form: RunForm,
      call: () => Promise<Answer<T>>,
      done: (value: T) => CeremonyRunsSlice['runNotice'],
    ): Promise<T | null> => {
      set({ runBusy: true, runError: null, runErrorAt: null, runNotice: null });
      const result = await call();
      if (!result.ok) {
        set({ runBusy: false, runError: result.error, runErrorAt: form });
        return null;
      }
      set({ runBusy: false, runNotice: done(result.value) });
      return result.value;
    };
    const keep = (run: RunView) => set({ runViews: { ...get().runViews, [run.id]: run } });
    const stepDone = (run: RunView, stepId: string, what: string) => {
      keep(run);
      void get().loadRuns();
      if (run.state === 'done')
        return ok(`The ceremony is complete. Its signed report is ${run.reportId ?? 'not made'}.`);
      const step = run.steps.find((s) => s.id === stepId);
      return ok(`${what}${step && step.state === 'done' ? ' The step is done; the run moves on.' : ''}`);
    };
    return {
      runs: null,
      planned: null,
      plannedError: null,
      runViews: {},
      scriptCheck: null,
      runError: null,
      runErrorAt: null,
      runNotice: null,
      runBusy: false,
      async loadRuns() {
        const [runs, planned] = await Promise.all([bridge.ceremonies.runs({}), bridge.ceremonies.planned({})]);
        const list = runs.ok ? runs.value : [];
        set({ planned: planned.ok ? planned.value : [] });
        const open = await Promise.all(
          list.filter((r) => r.state === 'in-progress').map((r) => bridge.ceremonies.run({ runId: r.id })),
        );
        const views = { ...get().runViews };
        for (const view of open) if (view.ok) views[view.value.id] = view.value;
        set({ runs: list, runViews: views });
      },
      async loadRun(runId) {
        const view = await bridge.ceremonies.run({ runId });
        if (view.ok) keep(view.value);
        else set({ runError: view.error, runErrorAt: null });
      },
      async checkScript(fileName, text) {
        set({ scriptCheck: null });
        const report = await act(
          'check',
          () => bridge.ceremonies.lint({ script: text }),
          () => null,
        );
        if (report) set({ scriptCheck: { fileName, text, report } });
      },
      async planScript() {
        const checked = get().scriptCheck;
        if (!checked) return;
        await act(
          'check',
          () => bridge.ceremonies.plan({ script: checked.text }),
          (p) => ok(`“${p.title}” is kept as planned: Ceremonies lists it until its run starts, from this same file.`),
        );
        await get().loadRuns();
      },
      async withdrawPlan(sha256) {
        set({ plannedError: null });
        const left = await bridge.ceremonies.withdrawPlan({ sha256 });
        if (left.ok) set({ planned: left.value });
        else set({ plannedError: left.error });
      },
      async checkPlanned(plan) {
        await get().checkScript(`${plan.title} (planned)`, plan.script);
      },
      async recheckScript() {
        const checked = get().scriptCheck;
        if (!checked) return;
        const report = await bridge.ceremonies.lint({ script: checked.text });
        // Another file chosen meanwhile is the one on the page now.
        if (get().scriptCheck !== checked) return;
        set(
          report.ok
            ? { scriptCheck: { ...checked, report: report.value } }
            : { scriptCheck: null, runError: report.error, runErrorAt: 'check' },
        );
      },
      async startRun(administrator) {
        const text = get().scriptCheck?.text;
        if (!text) return null;
        const run = await act(
          'start',
          () => bridge.ceremonies.start({ script: text, administrator }),
          (r) => ok(`The ceremony “${r.title}” has started. Step 1 of ${r.steps.length} is next.`),
        );
        if (!run) return null;
        // The script checked is now the run's: checking another starts from an empty page. A rehearsal's stays, to be
        // checked again by the real installation once the rehearsal ends.
        if (!run.rehearsal) set({ scriptCheck: null });
        keep(run);
        await get().loadRuns();
        return run.id;
      },
      async performStep(request) {
        const run = await act(
          'perform',
          () => bridge.ceremonies.perform(request),
          (r) => {
            const step = r.steps.find((s) => s.id === request.stepId);
            if (step?.state === 'proposed')
              return ok(
                `Proposed. Each approver compares the fingerprint ${step.shortFingerprint ?? ''} aloud with the printed script.`,
              );
            return stepDone(r, request.stepId, 'Done. The witnesses confirm it next.');
          },
        );
        // Refused after part of it was recorded (its report could not be made): the run as it now stands.
        if (!run) await get().loadRun(request.runId);
        await get().loadQuorum();
        return run !== null;
      },
      async approveStep(runId, proposalId, fingerprint, approver) {
        const proposal = await act(
          'approve',
          () => bridge.proposals.approve({ proposalId, fingerprint, approver }),
          approvalNotice,
        );
        await Promise.all([get().loadRun(runId), get().loadQuorum()]);
        return proposal !== null;
      },
      async witnessStep(runId, stepId, witness) {
        const run = await act(
          'witness',
          () => bridge.ceremonies.witness({ runId, stepId, witness }),
          (r) => stepDone(r, stepId, 'Confirmed.'),
        );
        // The last sign-off is recorded even when the report then cannot be made: the run as it now stands.
        if (!run) await get().loadRun(runId);
        return run !== null;
      },
      async finishRun(runId) {
        const run = await act(
          'finish',
          () => bridge.ceremonies.finish({ runId }),
          (r) => ok(`The ceremony is complete. Its signed report is ${r.reportId ?? 'not made'}.`),
        );
        if (run) keep(run);
        await get().loadRuns();
        return run !== null;
      },
      async abortRun(runId, by, reason) {
        const run = await act(
          'abort',
          () => bridge.ceremonies.abort({ runId, by, reason }),
          (r) => ok(`The ceremony “${r.title}” is aborted. Nothing more can be done in this run.`),
        );
        if (run) keep(run);
        await get().loadRuns();
        return run !== null;
      },
    };
  };

const ok = (text: string) => ({ text, tone: 'ok' as const });

function approvalNotice(p: ProposalView): CeremonyRunsSlice['runNotice'] {
  if (p.outcome?.status === 'failed')
    return {
      text: `The quorum was met, but the operation did not complete. ${describeFailure(p.outcome)}`,
      tone: 'failed',
    };
  if (p.state === 'executed')
    return ok('Approved. The quorum was met and the operation ran once; the witnesses confirm it next.');
  return ok(`Approved: ${p.approvals.filter((a) => a.held).length} of ${p.threshold} approvals are held.`);
}
