import { randomBytes } from 'node:crypto';
import {
  stepKind,
  type RunStepView,
  type RunSummary,
  type LintReport,
  type RunView,
  type ScriptStep,
  type StepState,
} from '../../../shared/ceremony-script';
import type { FactorProof } from '../custodians/factor-proofs';
import { describeFailure } from '../../../shared/quorum';
import type { AuditActor } from '../../../shared/audit';
import type { TokenRef } from '../../../shared/tokens';
import type { AuditService } from '../audit/audit-service';
import { sha256Hex } from '../canonical-json';
import { appendEvent, readEvents } from './ceremony-events';
import type { CustodianService } from '../custodians/custodian-service';
import type { CustodyService } from '../custody/custody-service';
import { CustosError } from '../errors';
import type { KeyInventory } from '../keys/key-inventory';
import type { QuorumService } from '../quorum/quorum-service';
import type { proposalBinder } from '../quorum/proposal-handlers';
import type { Store } from '../store/database';
import { refuseTampered } from '../store/signed-state';
import { sql } from '../store/sql';
import { bindingOf, lintScript, prepareProposal, sameToken, stepWords, type LintSources } from './lint';
import { parseScript, stepWitnesses, type ParsedScript } from '../ceremony-script';
import { rehearsalLimits } from './rehearsal-limits';

/** What a run records, one event per signed audit entry (action `ceremony.<kind>`, object `ceremony-run:<id>`). */
type RunEvent =
  | {
      kind: 'start';
      script: string;
      title: string;
      token: { serial: string; label: string };
      by: string;
      /** Run on a scratch token in a rehearsal installation. */
      rehearsal?: true;
    }
  | { kind: 'custody'; step: string; custodyId: string }
  | { kind: 'propose'; step: string; proposalId: string; fingerprint: string }
  | { kind: 'manual'; step: string; value: string | null }
  | { kind: 'checkpoint'; step: string; size: number; note: string }
  | { kind: 'witness'; step: string; witness: string }
  | { kind: 'abort'; reason: string; by: string }
  | { kind: 'finish'; reportId: string | null };

export interface RunSources {
  store: Store;
  audit: AuditService;
  custodians: CustodianService;
  custody: CustodyService;
  quorum: QuorumService;
  keys: KeyInventory;
  bind: ReturnType<typeof proposalBinder>;
  proveFactors: (proof: FactorProof, purpose: string) => Promise<void>;
  /** The signed report of a finished run; null where reports cannot be made (the run still finishes). */
  report: (runId: string) => Promise<string | null>;
  clock: () => Date;
}

interface LoadedRun {
  id: string;
  parsed: ParsedScript;
  events: (RunEvent & { seq: number; at: string })[];
  rehearsal: boolean;
}

/** A rehearsal recorded in the real installation: which script, how it ended, who took part, its signed report. */
type RehearsalEvent = {
  kind: 'rehearsal';
  script: string;
  title: string;
  outcome: 'passed' | 'incomplete';
  people: string[];
  /** null: the rehearsal ended before its run started. */
  runId: string | null;
  reportSha256: string | null;
};
type PolicyEvent = { kind: 'policy'; requireRehearsal: boolean; by: string };
/** Written once when a scratch installation is made for a rehearsal: every run there is a rehearsal on this token. */
type ScratchEvent = { kind: 'scratch'; token: TokenRef };
const SCRATCH = { type: 'ceremony-scratch', id: 'this' };
/** Who was copied into a rehearsal, recorded before its process starts: only their counts come back from it. */
type CopiedInEvent = { kind: 'rehearsal-copied-in'; people: string[] };
/** A rehearsal's folder under `rehearsals/` (rehearsal.ts, rehearsalDir): the object its copied-in record is about. */
const REHEARSAL_FOLDER = /^\d{4}-\d{2}-\d{2}-[0-9a-f]{8}$/;
const rehearsalFolder = (name: string) => ({ type: 'ceremony-rehearsal', id: name });
const REHEARSALS = { type: 'ceremony-rehearsals', id: 'all' };
const POLICY = { type: 'ceremony-policy', id: 'rehearsal' };

/**
 * Runs a ceremony script one step at a time. Every transition is a signed audit entry and the run's state is read
 * back from those entries, so a run survives a restart (pause and resume) and a changed record is refused. Each
 * quorum step makes exactly the proposal its step describes, bound to the script's hash; a step may be done only
 * when the run is at it, by the person the script names, and the run moves on once its witnesses have confirmed it.
 */
export class CeremonyRuns {
  constructor(private readonly sources: RunSources) {}

  /** One field of every event of a kind, in the runs of a script (lint's view of what its runs already did). */
  private fromRunsOf(sha256: string, kind: RunEvent['kind'], path: string): string[] {
    return this.sources.store
      .all<{ value: string }>(
        sql`SELECT json_extract(e.body, ${path}) AS value FROM ceremony_events e
            JOIN ceremony_events s ON s.run_id = e.run_id AND s.kind = 'start'
            WHERE e.kind = ${kind} AND json_extract(s.body, '$.script') = ${sha256}`,
      )
      .map((r) => r.value);
  }

  /**
   * In a rehearsal's scratch installation, the scratch token stands in for the script's. Elsewhere the report says
   * what the rehearsal policy asks of this exact script, so the app can offer to rehearse it first.
   */
  lint(text: string): LintReport {
    const scratch = this.scratch();
    const report = lintScript(text, { ...this.lintSources(), ...(scratch ? { token: scratch.token } : {}) });
    if (scratch) return { ...report, rehearsal: null };
    const passed = this.rehearsals().filter((r) => r.script === report.sha256 && r.outcome === 'passed');
    return {
      ...report,
      rehearsal: {
        required: this.policy().requireRehearsal,
        lastPassed: passed.at(-1)?.at ?? null,
        limits: scriptLimits(text),
      },
    };
  }

  /**
   * Marks this installation as a rehearsal's scratch one, on its scratch token (signed: a database writer cannot
   * turn a real installation's runs into "rehearsals" on another token). Once only.
   */
  markScratch(token: TokenRef): void {
    if (this.scratch()) throw new CustosError('CEREMONY_STEP_REFUSED', 'This installation is already a rehearsal’s.');
    if (this.sources.custodians.list().length > 0 && this.list().length > 0)
      throw new CustosError('CEREMONY_STEP_REFUSED', 'Only a new, empty installation becomes a rehearsal’s.');
    appendEvent(this.sources.store, this.sources.audit, SCRATCH, this.actor(null), { kind: 'scratch', token });
  }

  /**
   * Records, before a rehearsal's process starts, who is copied into it (by id): what comes back from it, live or
   * from its database at a later start, counts for them alone. Signed, so a folder planted in the data directory
   * names nobody.
   */
  recordCopiedIn(folder: string, people: readonly string[]): void {
    if (!REHEARSAL_FOLDER.test(folder))
      throw new CustosError('INTERNAL', 'A rehearsal’s folder is named by its date and a random id.');
    appendEvent(this.sources.store, this.sources.audit, rehearsalFolder(folder), this.actor(null), {
      kind: 'rehearsal-copied-in',
      people: [...people],
    });
  }

  /** Who was copied into the rehearsal in this folder, as recorded here; nobody for a folder nothing recorded. */
  copiedIn(folder: string): string[] {
    if (!REHEARSAL_FOLDER.test(folder)) return [];
    const what = 'Who was copied into a rehearsal';
    return readEvents<CopiedInEvent>(this.sources.store, this.sources.audit, rehearsalFolder(folder), what).flatMap(
      (e) => e.people,
    );
  }

  /** The scratch token, where this installation is a rehearsal's; null in a real installation. */
  scratch(): { token: TokenRef } | null {
    const marked = readEvents<ScratchEvent>(this.sources.store, this.sources.audit, SCRATCH, 'The rehearsal mark')[0];
    return marked ? { token: marked.token } : null;
  }

  private lintSources(): LintSources {
    const { custodians, custody, keys, bind, clock } = this.sources;
    return {
      custodians: () => custodians.list(),
      custodies: () => custody.list(),
      keys: () => keys.list(),
      bind,
      clock,
      precheck: (custodyId, action, params) => this.sources.quorum.precheck(custodyId, action, params),
      proposedBy: (sha256) => this.fromRunsOf(sha256, 'propose', '$.step'),
      custodiesTakenBy: (sha256) => this.fromRunsOf(sha256, 'custody', '$.custodyId'),
    };
  }

  /**
   * Starts a run. In a rehearsal installation, `rehearsal` names its scratch token, which stands in for the
   * script's. Where the policy asks for it, a real run needs a passed rehearsal of the same script (same SHA-256).
   */
  async start(text: string, administrator: FactorProof): Promise<RunView> {
    const rehearsal = this.scratch();
    const report = this.lint(text);
    if (!report.ok)
      throw new CustosError(
        'CEREMONY_SCRIPT_INVALID',
        'This ceremony script cannot be run as written.',
        report.problems,
      );
    const parsed = parseScript(text) as ParsedScript;
    const { script } = parsed;
    this.insideWindow(parsed);
    this.requirePerson(administrator, script.roles.administrator, 'starts the ceremony');
    if (report.rehearsal?.required && report.rehearsal.lastPassed === null)
      throw new CustosError(
        'CEREMONY_STEP_REFUSED',
        'The policy asks for a passed rehearsal of this exact script before it is run for real, and there is none.',
        report.rehearsal.limits.length > 0
          ? [
              ...report.rehearsal.limits,
              'So this script cannot be rehearsed, and under the policy it cannot be run as a script: carry out its ' +
                'steps as single quorum actions, or a security officer turns the policy off (recorded).',
            ]
          : [
              'Rehearse it first, with the same file unchanged: “Rehearse this script” on Ceremonies → Check a script, or custos ceremony rehearse FILE.',
            ],
      );
    const token = rehearsal?.token ?? script.token;
    this.refuseRunInProgress(token);
    await this.sources.proveFactors(administrator, 'ceremony.start');
    // Again: another start on this token may have begun while the factors were checked.
    this.refuseRunInProgress(token);
    const id = randomBytes(8).toString('hex');
    this.sources.store.transaction(() => {
      this.sources.store.execute(
        sql`INSERT OR IGNORE INTO ceremony_scripts (sha256, text) VALUES (${parsed.sha256}, ${text})`,
      );
      this.append(id, administrator.custodianId, {
        kind: 'start',
        script: parsed.sha256,
        title: script.title,
        token,
        by: administrator.custodianId,
        ...(rehearsal ? { rehearsal: true as const } : {}),
      });
    });
    return this.view(id);
  }

  private refuseRunInProgress(token: TokenRef): void {
    const open = this.list().find((r) => r.state === 'in-progress' && sameToken(r.token, token));
    if (open)
      throw new CustosError(
        'CEREMONY_STEP_REFUSED',
        `The ceremony “${open.title}” is still in progress on this token.`,
        ['Finish or abort it first.'],
      );
  }

  /** Does the run's current step (custody, quorum proposal, checkpoint or manual task) as its performer. */
  async perform(request: {
    runId: string;
    stepId: string;
    by: FactorProof;
    holders?: FactorProof[];
    currentSoPin?: string;
    value?: string;
  }): Promise<RunView> {
    const run = this.load(request.runId);
    const { step, index } = this.stepToDo(run, request.stepId);
    this.insideWindow(run.parsed);
    this.requirePerson(request.by, step.by, 'performs this step');
    const actor = request.by.custodianId;
    if ('custody' in step) {
      const ids = step.custody.holders.map((n) => this.personId(n));
      const proofs = [request.by, ...(request.holders ?? [])].filter((p) => ids.includes(p.custodianId));
      const missing = step.custody.holders.filter((n, i) => !proofs.some((p) => p.custodianId === ids[i]));
      if (missing.length > 0)
        throw new CustosError(
          'CEREMONY_STEP_REFUSED',
          `Every holder gives both factors: ${missing.join(', ')} did not.`,
        );
      const unique = ids.map((cid) => proofs.find((p) => p.custodianId === cid)!);
      // A performer who holds no share here proves their own factors: custody.take checks only the holders'.
      if (!ids.includes(actor)) {
        await this.sources.proveFactors(request.by, 'ceremony.custody');
        this.stillToDo(run.id, step.id);
      }
      const record = await this.sources.custody.take({
        token: run.parsed.script.token,
        threshold: step.custody.threshold,
        holders: unique,
        ...(request.currentSoPin ? { currentSoPin: request.currentSoPin } : {}),
        // The holders' factors are checked inside: the run is read again after them, before the token is touched.
        stillWanted: () => this.stillToDo(run.id, step.id),
      });
      this.append(run.id, actor, { kind: 'custody', step: step.id, custodyId: record.id });
    } else if ('action' in step) {
      const custody = this.sources.custody
        .list()
        .find((c) => c.state === 'active' && sameToken(c.token, run.parsed.script.token));
      if (!custody) throw new CustosError('CUSTODY_NOT_FOUND', 'The script’s token is not in active custody.');
      const sources = { bind: this.sources.bind, custodies: () => this.sources.custody.list() };
      // The run draws from the token where a binding needs random bytes (a serial); lint could only say so.
      const prepared = prepareProposal(run.parsed, index, sources, (n) => this.personIdOrNull(n));
      if ('problems' in prepared)
        throw new CustosError('CEREMONY_SCRIPT_INVALID', 'This step cannot be proposed as written.', prepared.problems);
      const params =
        prepared.fingerprint === null
          ? (this.sources.bind(custody.id, step.action, this.resolvedParams(run, index)) as Record<string, unknown>)
          : prepared.params;
      this.sources.quorum.mayAct(actor, 'propose');
      await this.sources.proveFactors(request.by, 'propose');
      this.stillToDo(run.id, step.id);
      const proposal =
        this.unrecordedProposal(run, step.id) ??
        this.sources.quorum.propose({
          custodyId: custody.id,
          action: step.action,
          params,
          requestedBy: actor,
          script: {
            ...bindingOf(run.parsed, step),
            ...(prepared.fingerprint === null ? {} : { fingerprint: prepared.fingerprint }),
          },
        });
      this.append(run.id, actor, {
        kind: 'propose',
        step: step.id,
        proposalId: proposal.id,
        fingerprint: proposal.fingerprint,
      });
    } else if ('checkpoint' in step) {
      await this.sources.proveFactors(request.by, 'ceremony.checkpoint');
      this.stillToDo(run.id, step.id);
      const checkpoint = this.sources.audit.checkpoint(`ceremony ${run.id} step ${step.id}`);
      this.append(run.id, actor, {
        kind: 'checkpoint',
        step: step.id,
        size: checkpoint.treeSize,
        note: checkpoint.note,
      });
    } else {
      if (step.record && !request.value)
        throw new CustosError('CEREMONY_STEP_REFUSED', `This step records ${step.record}: type what was read.`);
      await this.sources.proveFactors(request.by, 'ceremony.manual');
      this.stillToDo(run.id, step.id);
      this.append(run.id, actor, { kind: 'manual', step: step.id, value: step.record ? request.value! : null });
    }
    return await this.afterChange(run.id);
  }

  /** A witness confirms, with both factors, a step that was performed. */
  async witness(runId: string, stepId: string, witness: FactorProof): Promise<RunView> {
    const step = this.toWitness(this.load(runId), stepId, witness.custodianId);
    await this.sources.proveFactors(witness, 'ceremony.witness');
    // Again: the same sign-off sent twice at once, or an abort, may have been recorded while the factors were checked.
    this.toWitness(this.load(runId), stepId, witness.custodianId);
    this.append(runId, witness.custodianId, { kind: 'witness', step: step.id, witness: witness.custodianId });
    return await this.afterChange(runId);
  }

  /** The step this person may sign off now: performed, naming them as a witness, not yet confirmed by them. */
  private toWitness(run: LoadedRun, stepId: string, custodianId: string): ScriptStep {
    const { step, state } = this.currentStep(run, stepId);
    if (state !== 'performed')
      throw new CustosError('CEREMONY_STEP_REFUSED', `The step “${step.title}” has not been performed yet.`);
    const names = stepWitnesses(run.parsed.script, step);
    const name = names.find((n) => this.personIdOrNull(n) === custodianId);
    if (!name) throw new CustosError('CEREMONY_STEP_REFUSED', `The script names ${names.join(', ')} to witness this.`);
    if (run.events.some((e) => e.kind === 'witness' && e.step === stepId && e.witness === custodianId))
      throw new CustosError('CEREMONY_STEP_REFUSED', `${name} has already confirmed this step.`);
    return step;
  }

  /** Stops a run for good, with the reason; the administrator or a security officer, with both factors. */
  async abort(runId: string, by: FactorProof, reason: string): Promise<RunView> {
    const run = this.load(runId);
    if (this.state(run) !== 'in-progress') throw new CustosError('CEREMONY_STEP_REFUSED', 'This ceremony is closed.');
    const person = this.sources.custodians.get(by.custodianId);
    const administrator = this.personIdOrNull(run.parsed.script.roles.administrator) === by.custodianId;
    if (!administrator && !person.roles.includes('security-officer'))
      throw new CustosError(
        'CEREMONY_STEP_REFUSED',
        'Only the ceremony administrator or a security officer aborts it.',
      );
    await this.sources.proveFactors(by, 'ceremony.abort');
    // Checked again: another request may have closed the run while the factors were checked.
    if (this.state(this.load(runId)) !== 'in-progress')
      throw new CustosError('CEREMONY_STEP_REFUSED', 'This ceremony is closed.');
    this.append(run.id, by.custodianId, { kind: 'abort', reason, by: by.custodianId });
    // Nothing the aborted run proposed can still be approved and carried out.
    for (const step of run.parsed.script.steps) {
      const proposal = this.stepView(run, step, run.parsed.script.steps.indexOf(step)).proposalId;
      if (proposal && this.sources.quorum.view(proposal).state === 'open')
        this.sources.quorum.cancelForAbortedRun(proposal, by.custodianId, `The ceremony was aborted: ${reason}`);
    }
    return this.view(run.id);
  }

  /**
   * For a proposal a script's run made (its body names the script's hash and the step): the custodian ids the step
   * names to approve, and for a change of holders the new holders, who confirm by approving. Null otherwise.
   */
  approversOf(proposalId: string): string[] | null {
    const row = this.sources.store.get<{ body: string }>(sql`SELECT body FROM proposals WHERE id = ${proposalId}`);
    const body = row ? (JSON.parse(row.body) as { v?: number; ceremony?: { script: string; step: string } }) : null;
    if (body?.v !== 2 || !body.ceremony) return null;
    const text = this.sources.store.get<{ text: string }>(
      sql`SELECT text FROM ceremony_scripts WHERE sha256 = ${body.ceremony.script}`,
    )?.text;
    const parsed = text !== undefined && sha256Hex(text) === body.ceremony.script ? parseScript(text) : null;
    const step =
      parsed && !('problems' in parsed) ? parsed.script.steps.find((s) => s.id === body.ceremony!.step) : null;
    // A script proposal whose script is gone or changed is approved by nobody.
    if (!step || !('approvers' in step)) return [];
    const ids = step.approvers.map((n) => this.personIdOrNull(n)).filter((id): id is string => id !== null);
    const newHolders =
      step.action === 'custody.redeal' ? ((body as { params?: { holders?: string[] } }).params?.holders ?? []) : [];
    return [...ids, ...newHolders];
  }

  /** Whether this run is a rehearsal (on a scratch token, in a rehearsal installation). */
  isRehearsal(runId: string): boolean {
    return this.load(runId).rehearsal;
  }

  /** Records, in the real installation, a rehearsal that ran in a scratch one. */
  recordRehearsal(rehearsal: Omit<RehearsalEvent, 'kind'>): void {
    appendEvent(this.sources.store, this.sources.audit, REHEARSALS, this.actor(null), {
      kind: 'rehearsal',
      ...rehearsal,
    });
  }

  rehearsals(): (RehearsalEvent & { at: string })[] {
    return readEvents<RehearsalEvent>(this.sources.store, this.sources.audit, REHEARSALS, 'The record of rehearsals');
  }

  /** The rehearsal policy: off until a security officer sets it. */
  policy(): { requireRehearsal: boolean; setBy: string | null; at: string | null } {
    const latest = readEvents<PolicyEvent>(this.sources.store, this.sources.audit, POLICY, 'The rehearsal policy').at(
      -1,
    );
    return latest
      ? { requireRehearsal: latest.requireRehearsal, setBy: this.nameOf(latest.by), at: latest.at }
      : { requireRehearsal: false, setBy: null, at: null };
  }

  /** A security officer, with both factors, requires (or no longer requires) a passed rehearsal before a real run. */
  async setPolicy(requireRehearsal: boolean, officer: FactorProof): Promise<ReturnType<CeremonyRuns['policy']>> {
    if (!this.sources.custodians.get(officer.custodianId).roles.includes('security-officer'))
      throw new CustosError('NOT_AUTHORIZED', 'Only a security officer sets the rehearsal policy.');
    await this.sources.proveFactors(officer, 'ceremony.policy');
    appendEvent(this.sources.store, this.sources.audit, POLICY, this.actor(officer.custodianId), {
      kind: 'policy',
      requireRehearsal,
      by: officer.custodianId,
    });
    return this.policy();
  }

  list(): RunSummary[] {
    const ids = this.sources.store.all<{ run_id: string }>(
      sql`SELECT run_id FROM ceremony_events WHERE kind = 'start' ORDER BY seq DESC`,
    );
    return ids.map(({ run_id }) => {
      const { steps: _steps, startedBy: _by, abortReason: _reason, ...summary } = this.view(run_id);
      return summary;
    });
  }

  view(runId: string): RunView {
    const run = this.load(runId);
    const start = run.events[0] as Extract<RunEvent, { kind: 'start' }> & { at: string };
    const steps = run.parsed.script.steps.map((step, index) => this.stepView(run, step, index));
    const abort = run.events.find((e) => e.kind === 'abort');
    const finish = run.events.find((e) => e.kind === 'finish');
    const state = this.state(run);
    return {
      id: run.id,
      title: run.parsed.script.title,
      scriptSha256: run.parsed.sha256,
      token: run.parsed.script.token,
      rehearsal: run.rehearsal,
      state,
      startedAt: start.at,
      startedBy: this.nameOf(start.by),
      finishedAt: (finish ?? abort)?.at ?? null,
      abortReason: abort?.kind === 'abort' ? abort.reason : null,
      current: state === 'in-progress' ? (steps.find((s) => s.state !== 'done')?.id ?? null) : null,
      steps,
      reportId: finish?.kind === 'finish' ? finish.reportId : null,
    };
  }

  /** The script's exact text, as reviewed (checked against the hash its run recorded). */
  scriptOf(runId: string): { text: string; sha256: string } {
    const run = this.load(runId);
    return { text: this.scriptText(run.parsed.sha256, run.id), sha256: run.parsed.sha256 };
  }

  /** The run's events, each with the seq of the signed entry whose params hash it (as a report carries them). */
  eventRecords(runId: string): { seq: number; event: Record<string, unknown> }[] {
    return this.load(runId).events.map(({ seq, at: _at, ...event }) => ({ seq, event }));
  }

  /** The signed audit entries of the run itself, by seq. */
  eventSeqs(runId: string): number[] {
    return this.load(runId).events.map((e) => e.seq);
  }

  /**
   * A run whose every step is done finishes as its last step is confirmed: its report is signed, then the finish is
   * recorded. When that could not happen (the report refused, a full disk, Custos stopped in between), the run waits
   * with every step done, and this finishes it. Nothing else: a run with steps to do, or already closed, is refused.
   */
  async finish(runId: string): Promise<RunView> {
    const view = this.view(runId);
    if (view.state !== 'in-progress')
      throw new CustosError('CEREMONY_STEP_REFUSED', `This run is ${view.state}; nothing more is done in it.`);
    if (view.current !== null)
      throw new CustosError('CEREMONY_STEP_REFUSED', 'This run still has steps to do; it finishes after the last one.');
    return this.afterChange(runId);
  }

  private async afterChange(runId: string): Promise<RunView> {
    const view = this.view(runId);
    if (view.state === 'in-progress' && view.steps.every((s) => s.state === 'done')) {
      const reportId = await this.sources.report(runId);
      // Finished meanwhile by a request sent at the same time (the report is the same one): recorded once.
      if (this.state(this.load(runId)) !== 'in-progress') return this.view(runId);
      this.append(runId, null, { kind: 'finish', reportId });
      this.sources.audit.checkpoint(`ceremony ${runId} finished`);
      return this.view(runId);
    }
    return view;
  }

  private stepView(run: LoadedRun, step: ScriptStep, index: number): RunStepView {
    const mine = run.events.filter((e) => 'step' in e && e.step === step.id);
    const witnesses = stepWitnesses(run.parsed.script, step).map((name) => {
      const id = this.personIdOrNull(name);
      const signed = mine.find((e) => e.kind === 'witness' && e.witness === id);
      return { name, signedAt: signed?.at ?? null };
    });
    const proposed = [...mine].reverse().find((e) => e.kind === 'propose');
    const proposal = proposed?.kind === 'propose' ? this.sources.quorum.view(proposed.proposalId) : null;
    const performedEvent = mine.find((e) => e.kind === 'custody' || e.kind === 'manual' || e.kind === 'checkpoint');
    let state: StepState = 'waiting';
    let outcome: string | null = null;
    let performedAt = performedEvent?.at ?? null;
    if (performedEvent) state = 'performed';
    if (proposal) {
      if (proposal.state === 'executed') {
        this.refuseUnrecordedExecution(run, proposal.id);
        state = 'performed';
        performedAt = proposal.approvals.at(-1)?.approvedAt ?? proposed!.at;
        outcome = 'Carried out.';
      } else if (proposal.state === 'open') state = 'proposed';
      else {
        state = 'failed';
        outcome =
          proposal.outcome?.status === 'failed'
            ? describeFailure(proposal.outcome)
            : `The proposal was ${proposal.state}.`;
      }
    }
    if (state === 'performed' && witnesses.every((w) => w.signedAt !== null)) state = 'done';
    return {
      id: step.id,
      index,
      kind: stepKind(step),
      title: step.title,
      words: stepWords(run.parsed, index, this.lintSources()),
      state,
      by: step.by,
      action: 'action' in step ? step.action : null,
      approvers: 'approvers' in step ? step.approvers : [],
      custody: 'custody' in step ? { holders: step.custody.holders, threshold: step.custody.threshold } : null,
      record: 'manual' in step ? (step.record ?? null) : null,
      witnesses,
      proposalId: proposal?.id ?? null,
      fingerprint: proposal?.fingerprint ?? null,
      shortFingerprint: proposal?.shortFingerprint ?? null,
      value: performedEvent?.kind === 'manual' ? performedEvent.value : null,
      checkpoint: performedEvent?.kind === 'checkpoint' ? performedEvent.note : null,
      outcome,
      performedAt,
    };
  }

  /**
   * A proposal's state is a column nothing signs: a step reads as carried out only when the log holds the signed
   * entry of its proposal's successful execution (or of the reconciliation that found it done after a crash).
   */
  private refuseUnrecordedExecution(run: LoadedRun, proposalId: string): void {
    const entries = this.sources.store.all<{ entry: string; signature: Buffer }>(
      sql`SELECT entry, signature FROM audit_entries WHERE object = ${`proposal:${proposalId}`}
          AND action IN ('proposal.execute', 'proposal.reconcile') AND result = 'ok'`,
    );
    if (!entries.some((e) => this.sources.audit.verifyDocument(Buffer.from(e.entry, 'utf8'), e.signature)))
      refuseTampered(
        this.sources.audit,
        'CEREMONY_TAMPERED',
        { type: 'ceremony-run', id: run.id },
        `Proposal ${proposalId} of ceremony run ${run.id}`,
        'forged',
      );
  }

  private state(run: LoadedRun): RunView['state'] {
    if (run.events.some((e) => e.kind === 'abort')) return 'aborted';
    if (run.events.some((e) => e.kind === 'finish')) return 'done';
    return 'in-progress';
  }

  /** The run's current step, when it waits to be done (or done again, after its proposal failed). */
  private stepToDo(run: LoadedRun, stepId: string) {
    const current = this.currentStep(run, stepId);
    if (current.state !== 'waiting' && current.state !== 'failed') {
      const title = current.step.title;
      throw new CustosError('CEREMONY_STEP_REFUSED', `The step “${title}” is already under way or done.`);
    }
    return current;
  }

  /**
   * Checked again once the performer's factors are: other requests run while scrypt does, and one of them may have
   * aborted the run or done this very step (a second proposal for it would be a second thing to approve).
   */
  private stillToDo(runId: string, stepId: string): void {
    this.stepToDo(this.load(runId), stepId);
  }

  private currentStep(run: LoadedRun, stepId: string) {
    if (this.state(run) !== 'in-progress') throw new CustosError('CEREMONY_STEP_REFUSED', 'This ceremony is closed.');
    const index = run.parsed.script.steps.findIndex((s) => s.id === stepId);
    if (index < 0) throw new CustosError('CEREMONY_NOT_FOUND', `The script has no step “${stepId}”.`);
    const step = run.parsed.script.steps[index]!;
    const view = this.stepView(run, step, index);
    const firstOpen = run.parsed.script.steps.findIndex((s, i) => this.stepView(run, s, i).state !== 'done');
    if (firstOpen !== index) {
      const at = run.parsed.script.steps[firstOpen];
      throw new CustosError(
        'CEREMONY_STEP_REFUSED',
        `The ceremony is at step ${firstOpen + 1} (“${at?.title ?? ''}”), not at “${step.title}”.`,
      );
    }
    return { step, index, state: view.state };
  }

  /**
   * An open proposal this step made whose run event was never written (Custos stopped between the two): adopted
   * rather than proposed twice. Its body names the script's hash and the step; it was made after the run started.
   */
  private unrecordedProposal(run: LoadedRun, stepId: string) {
    const recorded = new Set(run.events.flatMap((e) => (e.kind === 'propose' ? [e.proposalId] : [])));
    const candidates = this.sources.store.all<{ id: string }>(
      sql`SELECT id FROM proposals WHERE state = 'open' AND created_at >= ${run.events[0]!.at}
          AND json_extract(body, '$.ceremony.script') = ${run.parsed.sha256}
          AND json_extract(body, '$.ceremony.step') = ${stepId} ORDER BY created_at`,
    );
    const orphan = candidates.find((c) => !recorded.has(c.id));
    return orphan ? this.sources.quorum.view(orphan.id) : null;
  }

  private resolvedParams(run: LoadedRun, index: number): Record<string, unknown> {
    const sources = { bind: (_c: string, _a: string, p: Record<string, unknown>) => p, custodies: () => [] };
    const prepared = prepareProposal(run.parsed, index, sources, (n) => this.personIdOrNull(n));
    if ('problems' in prepared) throw new CustosError('CEREMONY_SCRIPT_INVALID', prepared.problems.join('; '));
    return prepared.params;
  }

  private insideWindow(parsed: ParsedScript): void {
    const now = this.sources.clock().getTime();
    const { opens, closes } = parsed.script.window;
    if (now < Date.parse(opens) || now >= Date.parse(closes))
      throw new CustosError(
        'CEREMONY_OUTSIDE_WINDOW',
        `This ceremony may run from ${opens} until ${closes}; it is now ${new Date(now).toISOString()}.`,
        ['Run it inside its window, or date the script again and have it reviewed and linted again.'],
      );
  }

  private requirePerson(proof: FactorProof, name: string, what: string): void {
    if (this.personIdOrNull(name) !== proof.custodianId)
      throw new CustosError('CEREMONY_STEP_REFUSED', `The script names ${name}, who ${what}.`);
  }

  private personIdOrNull(name: string): string | null {
    return this.sources.custodians.list().find((c) => c.name === name)?.id ?? null;
  }

  private personId(name: string): string {
    const id = this.personIdOrNull(name);
    if (id === null) throw new CustosError('CUSTODIAN_NOT_FOUND', `“${name}” is not enrolled.`);
    return id;
  }

  private nameOf(id: string): string {
    try {
      return this.sources.custodians.get(id).name;
    } catch {
      return id;
    }
  }

  private actor(custodianId: string | null): AuditActor {
    if (custodianId === null) return { type: 'system', id: 'system' };
    const person = this.sources.custodians.get(custodianId);
    const role = person.roles.includes('security-officer') ? 'security-officer' : (person.roles[0] ?? 'custodian');
    return { type: 'custodian', id: custodianId, role };
  }

  private append(runId: string, by: string | null, event: RunEvent): void {
    appendEvent(this.sources.store, this.sources.audit, { type: 'ceremony-run', id: runId }, this.actor(by), event);
  }

  /**
   * The run's events, each checked against the signed audit entry at its seq: same object, params hash and a good
   * signature, and no entry of the run without its event. The script must hash to what the start recorded.
   */
  private load(runId: string): LoadedRun {
    const object = { type: 'ceremony-run', id: runId };
    const events = readEvents<RunEvent>(this.sources.store, this.sources.audit, object, `Ceremony run ${runId}`);
    if (events.length === 0) throw new CustosError('CEREMONY_NOT_FOUND', 'There is no ceremony run with that id.');
    const start = events[0]!;
    const tampered = () =>
      refuseTampered(this.sources.audit, 'CEREMONY_TAMPERED', object, `Ceremony run ${runId}`, 'forged');
    if (start.kind !== 'start') tampered();
    const { script: sha256, token, rehearsal } = start as Extract<RunEvent, { kind: 'start' }>;
    const parsed = parseScript(this.scriptText(sha256, runId));
    if ('problems' in parsed) return tampered();
    // A rehearsal runs the script on its scratch token: everything the run does addresses that one.
    if (rehearsal) parsed.script = { ...parsed.script, token };
    return { id: runId, parsed, events, rehearsal: rehearsal === true };
  }

  private scriptText(sha256: string, runId: string): string {
    const row = this.sources.store.get<{ text: string }>(
      sql`SELECT text FROM ceremony_scripts WHERE sha256 = ${sha256}`,
    );
    if (!row || sha256Hex(row.text) !== sha256)
      refuseTampered(
        this.sources.audit,
        'CEREMONY_TAMPERED',
        { type: 'ceremony-run', id: runId },
        `The script of ceremony run ${runId}`,
        'forged',
      );
    return row.text;
  }
}

/** Why a script cannot be rehearsed; none for a script that does not parse (lint says why). */
function scriptLimits(text: string): string[] {
  const parsed = parseScript(text);
  return 'problems' in parsed ? [] : rehearsalLimits(parsed.script.steps);
}
