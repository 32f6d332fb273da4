import { z } from 'zod';
import { CertificateProfile, readable, UNREADABLE_MESSAGE } from './pki';
import { ACTION_NAMES, ACTIONS, ActionName, type ActionParams, type ActionResult } from './actions';
import { ErrorCode, TokenFailureDetail } from './errors';
import { TokenLabel, TokenRef, TokenSerial } from './tokens';

const Passphrase = z.string().min(1).max(1024);
const TotpCode = z.string().regex(/^\d{6}$/, 'a 6-digit code');
const Id16 = z.string().regex(/^[0-9a-f]{16}$/);

/** A custodian proving both factors for one step of a ceremony. */
export const FactorProof = z.strictObject({ custodianId: Id16, passphrase: Passphrase, code: TotpCode });

/** The characters a token takes in a PIN, where it takes fewer than letters and digits (PKCS#11 cannot say). */
export const PinAlphabet = z.enum(['alphanumeric', 'hex', 'digits']);
export type PinAlphabet = z.infer<typeof PinAlphabet>;

export const CustodyView = z.object({
  id: z.string(),
  token: z.object({ serial: z.string(), label: z.string() }),
  threshold: z.number().int(),
  holders: z.array(z.object({ id: z.string(), name: z.string() })),
  state: z.enum(['pending', 'active', 'superseded']),
  /**
   * Strength of the PINs Custos drew for the token, in bits; under 64 is shown as a warning. Null before it was
   * recorded.
   */
  pinBits: z.number().int().nullable(),
  pinAlphabet: PinAlphabet.nullable(),
});
export type CustodyView = z.infer<typeof CustodyView>;

export const CustodyRequest = z.strictObject({
  /** serial and label of the token; both empty for the blank token of the selected module. */
  token: z.strictObject({ serial: TokenSerial, label: TokenLabel }),
  threshold: z.number().int().min(2).max(16),
  holders: z.array(FactorProof).min(2).max(16),
  /**
   * The token's current SO PIN, entered once and replaced at once: for a token already initialised,
   * and for a blank token that wants its factory SO PIN to be initialised (blankInitNeedsSoPin).
   */
  currentSoPin: z.string().min(4).max(255).optional(),
  /** Label for a blank token. */
  label: TokenLabel.trim().min(1).optional(),
  pinAlphabet: PinAlphabet.optional(),
});

/** Settling a custody a crash left pending: t of its holders, both factors each. */
export const SettleRequest = z.strictObject({ custodyId: Id16, holders: z.array(FactorProof).min(2).max(16) });

export const QuorumAction = ActionName;
export type QuorumAction = ActionName;

/**
 * Why an approved operation did not complete: its stable code, the sentence a custodian reads, and
 * for a token's refusal where it happened (CKR_ name, step, mechanism or attribute). Outcomes
 * recorded before the sentence and the detail were kept have the code only.
 */
export const FailedOutcome = z.object({
  status: z.literal('failed'),
  code: ErrorCode,
  message: z.string().optional(),
  detail: TokenFailureDetail.optional(),
  /** What to do about it, as the error said when the operation failed. */
  remedy: z.array(z.string()).optional(),
});
export type FailedOutcome = z.infer<typeof FailedOutcome>;

/** What an executed (or failed) proposal recorded; null while it is open or when it closed without running. */
const outcomeOf = <R extends z.ZodType>(result: R) =>
  z.discriminatedUnion('status', [z.object({ status: z.literal('ok'), result }), FailedOutcome]).nullable();
/** The outcome schema of one action: a stored outcome is checked against it when read. */
export const outcomeSchema = (action: ActionName) => outcomeOf(ACTIONS[action].result);
export type ProposalOutcome<A extends ActionName = ActionName> =
  { status: 'ok'; result: ActionResult<A> } | FailedOutcome | null;

/**
 * A failed outcome in words, the same in the app and the CLI: “Failed: The token does not support
 * this algorithm or mode (CKR_MECHANISM_INVALID at C_SignInit, mechanism CKM_SHA256_RSA_PKCS).”
 */
export function describeFailure(outcome: FailedOutcome): string {
  const sentence = (outcome.message ?? `The operation failed (${outcome.code}).`).replace(/\.$/, '');
  const d = outcome.detail ?? {};
  const where = [
    d.ckr && d.step ? `${d.ckr} at ${d.step}` : (d.ckr ?? (d.step ? `at ${d.step}` : undefined)),
    d.mechanism && `mechanism ${d.mechanism}`,
    d.attribute && `attribute ${d.attribute}`,
  ].filter(Boolean);
  return `Failed: ${sentence}${where.length > 0 ? ` (${where.join(', ')})` : ''}.`;
}

/**
 * Who rejected or cancelled a proposal and why, as the audit key signed it; null for any other
 * state. A decision from before reasons were kept has a null reason. One a database writer changed
 * is shown as tampered, never as the stored text.
 */
export const ProposalDecisionView = z
  .discriminatedUnion('status', [
    z.object({ status: z.literal('recorded'), by: z.string(), reason: z.string().nullable(), at: z.string() }),
    z.object({ status: z.literal('tampered'), message: z.string() }),
  ])
  .nullable();
export type ProposalDecisionView = z.infer<typeof ProposalDecisionView>;

const ProposalBase = z.object({
  id: z.string(),
  token: z.object({ serial: z.string(), label: z.string() }),
  custodyId: z.string(),
  requestedBy: z.string(),
  fingerprint: z.string(),
  shortFingerprint: z.string(),
  expiresAt: z.string(),
  state: z.enum(['open', 'executed', 'rejected', 'cancelled', 'expired', 'failed']),
  approvals: z.array(z.object({ custodianId: z.string(), approvedAt: z.string(), held: z.boolean() })),
  threshold: z.number().int(),
  securityOfficersRequired: z.number().int(),
  securityOfficersApproved: z.number().int(),
  /** For a change of custodians: new holders who have not yet confirmed with both factors. */
  holdersToConfirm: z.array(z.string()),
  /** What else the operation waits for (backup shares to enter…), in words. */
  waitingFor: z.array(z.string()),
  /**
   * Custos stopped while carrying it out: it waits for the re-examination at the next quorum login on its token (in
   * waitingFor's words), and no approval or card of its own moves it on.
   */
  interrupted: z.boolean(),
  decision: ProposalDecisionView,
});

/** A proposal of one action: its parameters and outcome typed by the catalogue (shared/actions.ts). */
export type ProposalOf<A extends ActionName> = z.infer<typeof ProposalBase> & {
  action: A;
  params: ActionParams<A>;
  outcome: ProposalOutcome<A>;
};
export type ProposalView = { [A in ActionName]: ProposalOf<A> }[ActionName];

/**
 * Whether every approval a proposal needs is held: share holders, security officers and new holders. An open
 * proposal for which this is true waits for something no approval gives (a restore's cards): nobody else approves.
 */
export function approvalsComplete(
  proposal: Pick<
    ProposalView,
    'approvals' | 'threshold' | 'securityOfficersRequired' | 'securityOfficersApproved' | 'holdersToConfirm'
  >,
): boolean {
  return (
    proposal.approvals.filter((a) => a.held).length >= proposal.threshold &&
    proposal.securityOfficersApproved >= proposal.securityOfficersRequired &&
    proposal.holdersToConfirm.length === 0
  );
}

const viewOf = (action: ActionName) =>
  ProposalBase.extend({ action: z.literal(action), params: ACTIONS[action].params, outcome: outcomeSchema(action) });
const [firstView, ...otherViews] = ACTION_NAMES.map(viewOf);
export const ProposalView = z.discriminatedUnion('action', [
  firstView!,
  ...otherViews,
]) as unknown as z.ZodType<ProposalView>;

export const ProposalRequest = z.strictObject({
  custodyId: Id16,
  action: QuorumAction,
  params: z
    .record(
      z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,31}$/, 'a parameter name'),
      z.union([
        z.string().max(200),
        // A certificate request as PEM or base64 DER: long, but only in those alphabets.
        z
          .string()
          .max(24_000)
          .regex(/^[A-Za-z0-9+/=\s-]+$/),
        z.number(),
        z.boolean(),
        z.array(z.string().regex(/^[0-9a-f]{16}([0-9a-f]{16})?$/)).max(32),
        // Certificates to revoke, as SERIAL:reason.
        z.array(z.string().regex(/^[0-9a-f]{2,40}:[A-Za-z]{1,24}$/)).max(256),
        CertificateProfile,
      ]),
    )
    .refine((params) => Object.keys(params).length <= 16, 'at most 16 parameters')
    .default({}),
  requester: FactorProof,
});

export const ApprovalRequest = z.strictObject({
  proposalId: Id16,
  /** The fingerprint the approver compared aloud: the 16-digit short form or the full hash. */
  fingerprint: z.string().min(16).max(80),
  approver: FactorProof,
});

/** One printed line: no control characters, line or paragraph separators, or bidi overrides that reorder it. */
export const ONE_LINE = /^[^\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]*$/u;

/**
 * Why a proposal was rejected (or cancelled), kept in the signed record and shown to everyone: one
 * line of 1–500 characters once trimmed, with no control characters (line breaks, tabs, bidi overrides).
 */
export const DecisionReason = z
  .string()
  .trim()
  .min(1, 'is empty')
  .max(500, 'is longer than 500 characters')
  .regex(ONE_LINE, 'holds a control character (a line break, a tab)');

/** What is wrong with a typed reason, in words, or null when it will be accepted. */
export function reasonProblem(text: string): string | null {
  const checked = DecisionReason.safeParse(text);
  return checked.success ? null : `The reason ${checked.error.issues[0]?.message ?? 'is not accepted'}.`;
}

/** An approver closes a proposal with both factors and says why. */
export const ProposalRejection = z.strictObject({ proposalId: Id16, by: FactorProof, reason: DecisionReason });

/** The proposer withdraws a proposal with both factors; the reason is optional. */
export const ProposalCancellation = z.strictObject({
  proposalId: Id16,
  by: FactorProof,
  reason: DecisionReason.optional(),
});

/** Why a key is marked compromised, in the officer's words: recorded on the key and in its revocation notice. */
export const CompromiseReason = z.string().trim().min(1).max(500).refine(readable, UNREADABLE_MESSAGE);

export const EmergencyRequest = z
  .strictObject({
    keyId: z.string().regex(/^[0-9a-f]{32}$/),
    /** The token the officer works at (the selected one): an officer acts on that token's keys only. */
    token: TokenRef.strict(),
    transition: z.enum(['suspend', 'compromise']),
    /** Required to mark a key compromised (SP 800-57 §5.3.4); not recorded for a suspension. */
    reason: CompromiseReason.optional(),
    officer: FactorProof,
  })
  .refine((r) => r.transition !== 'compromise' || r.reason !== undefined, {
    message: 'Say why the key is compromised (1 to 500 characters).',
    path: ['reason'],
  });
