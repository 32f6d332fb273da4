import { z } from 'zod';
import { ActionName } from './actions';
import { DecisionReason, FactorProof, ONE_LINE } from './quorum';
import { TokenLabel, TokenSerial } from './tokens';

/**
 * A ceremony script (issue #16): one reviewable YAML file that drives a whole ceremony — who takes
 * part in which role, and the ordered steps, each an action from the catalogue with its parameters,
 * a custody, a checkpoint, or a manual step a person performs and a witness confirms. It is linted,
 * printed with each quorum step's fingerprint, signed on paper, and run step by step; its SHA-256
 * is bound into every proposal the run makes.
 */
export const SCRIPT_FORMAT = 'custos-ceremony/1';

const PersonName = z.string().trim().min(1).max(100);
const Text = (max: number) => z.string().trim().min(1).max(max);
/** A step's id: how later steps refer to it (`@generate-root` is the key that step generated). */
export const StepId = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'lowercase letters, digits and dashes (at most 40)');
const Instant = z.iso.datetime({ offset: true });

const StepBase = {
  id: StepId,
  title: Text(120),
  /** Who performs the step: proposes the action, takes custody, signs the checkpoint, does the manual task. */
  by: PersonName,
  /** Who confirms the step with both factors before the run moves on (default: the script's witnesses). */
  witnesses: z.array(PersonName).max(8).optional(),
  /** What the step is for, in words, shown on the runner and printed with the script. */
  note: Text(1000).optional(),
};

/** A quorum action from the catalogue; its fingerprint is computed by `custos ceremony lint`. */
export const ActionStep = z.strictObject({
  ...StepBase,
  // Stand-in keys are the rehearsal's own doing (its scratch token), never a step of a script.
  action: ActionName.exclude(['rehearsal.stand-ins']),
  /**
   * The parameters as a proposer gives them (shared/actions.ts `proposed`); a custodian's name where the
   * catalogue wants a custodian id, `@step-id` where it wants the key an earlier step generated.
   */
  params: z.record(z.string(), z.unknown()).default({}),
  /** Who is expected to approve: at least the quorum the token's custody (and the action's policy) asks for. */
  approvers: z.array(PersonName).min(1).max(16),
});

/** Taking the script's token into custody: every holder gives both factors at the ceremony. */
export const CustodyStep = z.strictObject({
  ...StepBase,
  custody: z.strictObject({
    holders: z.array(PersonName).min(2).max(16),
    threshold: z.number().int().min(2).max(16),
  }),
});

/** The audit log's checkpoint, signed now and shown (and printed) so it leaves the machine. */
export const CheckpointStep = z.strictObject({ ...StepBase, checkpoint: z.literal(true) });

/** Something a person does by hand; `record` names a value typed in and kept (a bag serial). */
export const ManualStep = z.strictObject({
  ...StepBase,
  manual: Text(1000),
  record: Text(80).optional(),
});

export const ScriptStep = z.union([ActionStep, CustodyStep, CheckpointStep, ManualStep]);
export type ScriptStep = z.infer<typeof ScriptStep>;

export const CeremonyScript = z
  .strictObject({
    format: z.literal(SCRIPT_FORMAT),
    title: Text(120),
    purpose: Text(2000),
    location: Text(200),
    /**
     * When the ceremony may run. Its proposals expire when the window closes, which is what makes their
     * fingerprints known in advance.
     */
    window: z.strictObject({ opens: Instant, closes: Instant }),
    token: z.strictObject({ serial: TokenSerial.min(1), label: TokenLabel.min(1) }),
    roles: z.strictObject({
      administrator: PersonName,
      custodians: z.array(PersonName).min(2).max(16),
      securityOfficer: PersonName.optional(),
      witnesses: z.array(PersonName).max(8).default([]),
      auditor: PersonName.optional(),
    }),
    steps: z.array(ScriptStep).min(1).max(100),
  })
  .superRefine((script, ctx) => {
    const opens = Date.parse(script.window.opens);
    const closes = Date.parse(script.window.closes);
    if (!(closes > opens)) ctx.addIssue({ code: 'custom', path: ['window'], message: 'closes before it opens' });
    if (closes - opens > 7 * 24 * 3600_000)
      ctx.addIssue({ code: 'custom', path: ['window'], message: 'is longer than 7 days' });
    const seen = new Set<string>();
    script.steps.forEach((step, i) => {
      if (seen.has(step.id)) ctx.addIssue({ code: 'custom', path: ['steps', i, 'id'], message: 'is used twice' });
      seen.add(step.id);
    });
  });
export type CeremonyScript = z.infer<typeof CeremonyScript>;

export type StepKind = 'action' | 'custody' | 'checkpoint' | 'manual';
export function stepKind(step: ScriptStep): StepKind {
  if ('action' in step) return 'action';
  if ('custody' in step) return 'custody';
  if ('checkpoint' in step) return 'checkpoint';
  return 'manual';
}

/** One step as `custos ceremony lint` prints it: in words, and the fingerprint the approvers compare aloud. */
export const LintedStep = z.object({
  index: z.number().int(),
  id: z.string(),
  kind: z.enum(['action', 'custody', 'checkpoint', 'manual']),
  title: z.string(),
  by: z.string(),
  witnesses: z.array(z.string()),
  approvers: z.array(z.string()),
  /** The step in the catalogue's words. */
  words: z.array(z.string()),
  /** Full SHA-256 of the proposal this step will make; null where it cannot be known before the ceremony. */
  fingerprint: z.string().nullable(),
  shortFingerprint: z.string().nullable(),
  /** When the fingerprint cannot be known in advance: what is read aloud and written on the script instead. */
  readAloud: z.string().nullable(),
});
export type LintedStep = z.infer<typeof LintedStep>;

/** What a script says about the ceremony as a whole, printed above its steps. */
export const ScriptHeader = z.object({
  purpose: z.string(),
  location: z.string(),
  window: z.object({ opens: z.string(), closes: z.string() }),
  token: z.object({ serial: z.string(), label: z.string() }),
  roles: z.object({
    administrator: z.string(),
    custodians: z.array(z.string()),
    securityOfficer: z.string().nullable(),
    witnesses: z.array(z.string()),
    auditor: z.string().nullable(),
  }),
});
export type ScriptHeader = z.infer<typeof ScriptHeader>;

export const LintReport = z.object({
  ok: z.boolean(),
  sha256: z.string(),
  title: z.string().nullable(),
  /** Null when the script cannot be read at all. */
  header: ScriptHeader.nullable(),
  problems: z.array(z.string()),
  steps: z.array(LintedStep),
  /**
   * What the rehearsal policy asks of this exact script here, and when a rehearsal of it last passed; null in a
   * rehearsal's scratch installation, whose runs are the rehearsal.
   */
  rehearsal: z
    .object({
      required: z.boolean(),
      lastPassed: z.string().nullable(),
      /** Why this script cannot be rehearsed (steps a stand-in key cannot stand in for); empty when it can. */
      limits: z.array(z.string()),
    })
    .nullable(),
});
export type LintReport = z.infer<typeof LintReport>;

/** A script as given to the app or the CLI: its text, exactly as reviewed (it is hashed byte for byte). */
export const ScriptText = z.string().min(1).max(200_000);
export const LintRequest = z.strictObject({ script: ScriptText });
export const StartRequest = z.strictObject({ script: ScriptText, administrator: FactorProof });

const RunId = z.string().regex(/^[0-9a-f]{16}$/);
export const StepRequest = z.strictObject({
  runId: RunId,
  stepId: StepId,
  /** The person performing the step (for a custody: the first holder; the others in `holders`). */
  by: FactorProof,
  holders: z.array(FactorProof).max(16).optional(),
  /** A custody of an initialised token: its current SO PIN, replaced at once. */
  currentSoPin: z.string().min(4).max(255).optional(),
  /** A manual step's recorded value (what the witness read). */
  value: z.string().trim().min(1).max(200).regex(ONE_LINE, 'holds a control character').optional(),
});
export const WitnessStepRequest = z.strictObject({ runId: RunId, stepId: StepId, witness: FactorProof });
export const AbortRequest = z.strictObject({
  runId: RunId,
  by: FactorProof,
  /** Printed in the run's report: one line, nothing that reorders it. */
  reason: DecisionReason,
});

export const StepState = z.enum(['waiting', 'proposed', 'performed', 'failed', 'done']);
export type StepState = z.infer<typeof StepState>;

export const RunStepView = z.object({
  id: z.string(),
  index: z.number().int(),
  kind: z.enum(['action', 'custody', 'checkpoint', 'manual']),
  title: z.string(),
  /** What the step does, in words (the catalogue's sentence for a quorum step). */
  words: z.array(z.string()),
  state: StepState,
  by: z.string(),
  /** A quorum step's action (catalogue name); null for other kinds. */
  action: z.string().nullable(),
  approvers: z.array(z.string()),
  /** A custody step's holders, each giving both factors, and how many of them open the token. */
  custody: z.object({ holders: z.array(z.string()), threshold: z.number().int() }).nullable(),
  /** What a manual step records (a bag serial), typed in by its performer; null when it records nothing. */
  record: z.string().nullable(),
  witnesses: z.array(z.object({ name: z.string(), signedAt: z.string().nullable() })),
  /** The proposal this step made (the latest, when an earlier one was rejected or failed). */
  proposalId: z.string().nullable(),
  fingerprint: z.string().nullable(),
  shortFingerprint: z.string().nullable(),
  value: z.string().nullable(),
  /** A signed checkpoint (signed note text) the step produced. */
  checkpoint: z.string().nullable(),
  outcome: z.string().nullable(),
  performedAt: z.string().nullable(),
});
export type RunStepView = z.infer<typeof RunStepView>;

export const RunView = z.object({
  id: z.string(),
  title: z.string(),
  scriptSha256: z.string(),
  token: z.object({ serial: z.string(), label: z.string() }),
  /** Run on a scratch token in a rehearsal installation: nothing real was touched. */
  rehearsal: z.boolean(),
  state: z.enum(['in-progress', 'done', 'aborted']),
  startedAt: z.string(),
  startedBy: z.string(),
  finishedAt: z.string().nullable(),
  abortReason: z.string().nullable(),
  /** The step to act on now; null once the run is closed. */
  current: z.string().nullable(),
  steps: z.array(RunStepView),
  reportId: z.string().nullable(),
});
export type RunView = z.infer<typeof RunView>;

export const RunSummary = RunView.pick({
  id: true,
  title: true,
  scriptSha256: true,
  token: true,
  rehearsal: true,
  state: true,
  startedAt: true,
  finishedAt: true,
  current: true,
  reportId: true,
});
export type RunSummary = z.infer<typeof RunSummary>;

export const RehearsalPolicyRequest = z.strictObject({ requireRehearsal: z.boolean(), officer: FactorProof });
export const RehearsalPolicy = z.object({
  requireRehearsal: z.boolean(),
  setBy: z.string().nullable(),
  at: z.string().nullable(),
});
export type RehearsalPolicy = z.infer<typeof RehearsalPolicy>;

/**
 * A ceremony planned ahead: a script that linted clean, kept so the list shows what is coming (planned, in progress,
 * done). It leaves the planned list once a run of the same SHA-256 starts, or when it is withdrawn.
 */
export const PlannedCeremony = z.object({
  sha256: z.string(),
  title: z.string(),
  location: z.string(),
  window: z.object({ opens: z.string(), closes: z.string() }),
  plannedAt: z.string(),
  /** The script's exact text, to check and start it from the list. */
  script: z.string(),
});
export type PlannedCeremony = z.infer<typeof PlannedCeremony>;
export const WithdrawPlanRequest = z.strictObject({ sha256: z.string().regex(/^[0-9a-f]{64}$/) });
