import { randomBytes } from 'node:crypto';
import type pkcs11js from 'pkcs11js';
import { combine } from 'shamir-secret-sharing';
import type { AuditActor } from '../../../shared/audit';
import type { ErrorCode } from '../../../shared/errors';
import type { AuditService } from '../audit/audit-service';
import { canonicalJson, sha256Hex } from '../canonical-json';
import { retiredError, type CustodianService } from '../custodians/custodian-service';
import type { CustodyService, PinKind, UnsealKey } from '../custody/custody-service';
import { CustosError, isCustosError } from '../errors';
import { requireCapabilities, type Need } from '../hsm/capabilities';
import { isTokenRefusal, tokenError, tokenFailureDetail } from '../hsm/pkcs11-errors';
import type { TokenModule } from '../hsm/token-module';
import type { Store } from '../store/database';
import type { TokenRef } from '../../../shared/tokens';
import type { CustodianSummary } from '../../../shared/custodians';
import { FailedOutcome, outcomeSchema, type ProposalOf, type ProposalView } from '../../../shared/quorum';
import { ActionName } from '../../../shared/actions';
import { HeldSecrets } from '../held-secrets/held-secrets';
import { z, type ZodType } from 'zod';
import { refuseTampered } from '../store/signed-state';
import { signedEntries } from '../audit/signed-entries';
import { sql } from '../store/sql';
import { checkedReason, decisionOf, recordDecision, type DecidedState } from './proposal-decision';
import { closureOf, runParams, unclosedProposalIds } from './proposal-closure';
import { refuseAlteredProposal } from './proposal-integrity';

/**
 * What a quorum may do once the token is open: registered per action name, run exactly once.
 * It returns what may be shown and recorded, and optionally the inventory change to commit in
 * the same transaction as the execution's audit entry.
 */
export type QuorumOperation = (context: {
  session: Buffer;
  lib: pkcs11js.PKCS11;
  params: unknown;
  proposalId: string;
  /** The proposal's token, which the session is open on: key operations check the key lives there. */
  token: TokenRef;
  /** Who proposed and who approved it, as the fingerprinted body and the signed log say (a destruction's proof). */
  decidedBy: DecidedBy;
}) => { result: unknown; commit?: () => void } | unknown;

export interface DecidedBy {
  proposedBy: string;
  approvedBy: string[];
}

const decidedBy = (p: ProposalView): DecidedBy => ({
  proposedBy: p.requestedBy,
  approvedBy: p.approvals.map((a) => a.custodianId),
});

/**
 * Refuses, when proposed, an action that could not run against the current state: a key in
 * another token than the custody's, a key in the wrong state, a waiting period not yet over.
 * The operation checks the same again when it runs.
 */
export type ProposalCheck = (params: unknown, custody: { id: string; token: TokenRef }) => void;

/**
 * A quorum action that opens the token itself because one user login is not enough: it needs the
 * SO PIN (turnover; a backup's trusted KEK), new holders' passphrase keys (who confirm by
 * approving), or material entered at the ceremony (backup shares on restore).
 */
export interface CeremonyOperation {
  /** The PINs the approvals must rebuild; each approval unseals the holder's share of each. */
  pins: readonly PinKind[];
  newHolders?(params: unknown): string[];
  /** Refuses, when proposed, what cannot run against the current state (beyond the parameter schema). */
  check?(params: unknown, custodyId: string): void;
  /** What it still waits for besides approvals, in words; empty when ready. */
  waitingFor?(proposalId: string, params: unknown): string[];
  run(context: {
    pins: Partial<Record<PinKind, Buffer>>;
    holderKeys: UnsealKey[];
    params: unknown;
    custodyId: string;
    proposalId: string;
    token: TokenRef;
  }): Promise<{ result: unknown; commit?: () => void }>;
  /** Overwrites what the operation holds for the proposal when it closes without running. */
  forget?(proposalId: string): void;
}

/**
 * Thrown by an operation whose token work failed half-way and could not be undone (the token went away while it was
 * taking back what it had made): what the token holds is unknown, as after a crash, so the journal stays open and the
 * proposal is settled by its reconciler at the next quorum login on that token, not closed as an ordinary failure.
 */
export class LeftUnsettled extends CustosError {
  constructor(message: string, remedy: string[], cause: unknown) {
    super('OPERATION_INTERRUPTED', message, remedy, { cause });
  }
}

/**
 * Thrown by an operation that failed after the token had carried out part of it for good (a destruction that destroyed
 * some of a key's objects): the proposal closes as failed, and `commit` records what the token did, in the same
 * transaction as the failed outcome's signed entry, so the inventory never reads as if nothing happened.
 */
export class PartlyCarriedOut extends CustosError {
  constructor(
    code: ErrorCode,
    message: string,
    remedy: string[],
    readonly commit: () => void,
    cause: unknown,
  ) {
    super(code, message, remedy, { cause });
  }
}

/**
 * After a crash between journaling an operation and recording its outcome: looks for what the
 * operation would have left in the token, found by its CKA_ID. At start there is no login, so only
 * public objects show; private ones are re-examined at the next quorum login on that token
 * (loggedIn). Returns the outcome to record, null when nothing is there, or NEEDS_LOGIN. A thrown
 * CustosError is recorded as the failed outcome.
 */
export type QuorumReconciler = (context: {
  session: Buffer;
  lib: pkcs11js.PKCS11;
  params: unknown;
  proposalId: string;
  token: TokenRef;
  loggedIn: boolean;
  decidedBy: DecidedBy;
}) => { result: unknown; commit?: () => void } | null | typeof NEEDS_LOGIN;

/** What a reconciler answers when only a logged-in session can show what the operation left. */
export const NEEDS_LOGIN = 'needs-login' as const;

/** Inside the core a result is what the operation returned; it is checked against the catalogue when read back. */
type Outcome = { status: 'ok'; result: unknown } | FailedOutcome;

/**
 * What is recorded of a failed operation: its code, the custodian's sentence and, when a token
 * refused it, the CKR_ name, the step and the mechanism or attribute. Never a secret: messages are
 * written to be shown, and the detail holds names only.
 */
function failure(error: unknown): FailedOutcome {
  const known = error instanceof CustosError ? error : isTokenRefusal(error) ? tokenError(error) : null;
  if (!known) {
    const message = 'Custos hit an unexpected problem while carrying out the operation.';
    return { status: 'failed', code: 'INTERNAL', message };
  }
  const detail = tokenFailureDetail(known);
  const remedy = known.remedy.length > 0 ? { remedy: [...known.remedy] } : {};
  return { status: 'failed', code: known.code, message: known.message, ...(detail ? { detail } : {}), ...remedy };
}

/**
 * The token did its part (or failed at it) and the outcome could not be saved: a full disk, the audit token pulled out
 * as it signed. The cause's own sentence ("nothing was written", "repeat the last step") is true of the database only,
 * so it is not passed on: the token has changed, and the journal, still open, settles the proposal from what the token
 * holds.
 */
function unrecorded(action: string, outcome: Outcome, error: unknown): CustosError {
  const cause = isCustosError(error) ? error.code : 'an unexpected problem';
  const what =
    outcome.status === 'ok'
      ? `${action} was carried out in the token, but Custos could not record it (${cause})`
      : `${action} failed in the token (${outcome.code}), and Custos could not record that either (${cause})`;
  return new CustosError(
    'OPERATION_UNRECORDED',
    `${what}. The token may have changed; the database has not. The proposal stays open until Custos settles it ` +
      'from what the token holds.',
    [
      'Do not propose it again. Fix the cause first: free space on the disk that holds the data directory, or put the ' +
        'audit token back.',
      'Then restart Custos: the proposal is settled at the start, or at the next quorum login on that token.',
    ],
    { cause: error },
  );
}

const INTERRUPTED: FailedOutcome = {
  status: 'failed',
  code: 'OPERATION_INTERRUPTED',
  message:
    'Custos stopped (a crash or power loss) while carrying this out and could not see in the token ' +
    'that it completed, so nothing was registered.',
};

const UNSETTLED_WAIT =
  'The token failed while this was carried out, and what Custos had already made in it could not be taken back: ' +
  'the token may still hold part of it, unregistered and unused. At the next quorum login on that token (any ' +
  'approved operation there) Custos removes it, records that, and closes this proposal as failed.';

const INTERRUPTED_WAIT =
  'what it left in the token is re-examined at the next quorum login on that token (any approved operation there)';

function isOutcome(value: unknown): value is { result: unknown; commit?: () => void } {
  return typeof value === 'object' && value !== null && 'result' in value;
}

type Examined = ReturnType<QuorumReconciler> | (FailedOutcome & { commit?: () => void });

/** Runs a reconciler; a refusal it throws becomes the failed outcome to record. */
function examine(
  reconciler: QuorumReconciler,
  c: { session: Buffer; lib: pkcs11js.PKCS11; proposal: ProposalView; loggedIn: boolean },
): Examined {
  const { proposal } = c;
  try {
    return reconciler({
      session: c.session,
      lib: c.lib,
      params: proposal.params,
      proposalId: proposal.id,
      token: proposal.token,
      loggedIn: c.loggedIn,
      decidedBy: decidedBy(proposal),
    });
  } catch (error) {
    return error instanceof PartlyCarriedOut ? { ...failure(error), commit: error.commit } : failure(error);
  }
}

/** The outcome of a settled interruption: what the token showed, a refusal, or nothing there. */
function reconciled(found: Exclude<Examined, typeof NEEDS_LOGIN>): Outcome {
  if (found === null) return INTERRUPTED;
  if (!('status' in found)) return { status: 'ok', result: found.result };
  const { commit: _, ...outcome } = found;
  return outcome;
}

/** What a stored proposal binds (its fingerprinted body), per action as the catalogue types it. */
type ProposalBody = { [A in ActionName]: Pick<ProposalOf<A>, 'action' | 'params' | 'token'> }[ActionName] & {
  expiresAt?: string;
  requestedBy?: string;
  /** An ad-hoc proposal's custody record (a script's is bound by its signed proposal.create entry instead). */
  custody?: string;
};

/**
 * Per-action policies on top of the cryptographic floor (t share holders): extra approvals by
 * security officers, who need not hold a share. Shown as such wherever a proposal is shown.
 */
export const ACTION_POLICIES: Record<string, { securityOfficers: number }> = {
  'key.destroy': { securityOfficers: 1 },
};

/** A proposal's lifetime and how long an approval's unsealed share is held (also stated in the practice statement). */
export const DEFAULT_PROPOSAL_MINUTES = 60;
export const DEFAULT_HOLD_MINUTES = 15;

/**
 * What a ceremony script binds into a proposal its run makes: the script's SHA-256, the step, and the
 * expiry the script fixes (its window's close).
 */
export interface ScriptBinding {
  script: string;
  step: string;
  expiresAt: string;
  /** The fingerprint the printed script carries: a proposal that would differ is never made. */
  fingerprint?: string;
}

/**
 * The fingerprinted body of a proposal a script run makes. Unlike an ad-hoc proposal's it holds nothing
 * drawn when proposed (no random id, no custody record id, an expiry the script fixes), so
 * `custos ceremony lint` computes its fingerprint before the ceremony and the printed script carries it.
 */
export function scriptProposalBody(p: {
  action: string;
  params: unknown;
  token: TokenRef;
  requestedBy: string;
  binding: ScriptBinding;
}): string {
  return canonicalJson({
    v: 2,
    action: p.action,
    params: p.params ?? null,
    token: { serial: p.token.serial, label: p.token.label },
    requestedBy: p.requestedBy,
    expiresAt: p.binding.expiresAt,
    ceremony: { script: p.binding.script, step: p.binding.step },
  });
}

export function shortFingerprint(fingerprint: string): string {
  return fingerprint.slice(0, 16).match(/.{4}/g)!.join('-');
}

/**
 * Proposals and approvals: the quorum as a cryptographic fact. An approval (passphrase + TOTP)
 * unseals that custodian's share of the user PIN and holds it in memory for a limited time;
 * with t shares the core rebuilds the PIN, logs in, runs exactly the approved operation, logs
 * out and overwrites PIN and shares. Approvals bind to the proposal's SHA-256 fingerprint.
 */
export class QuorumService {
  /** Unsealed shares of each PIN, by proposal and approver. */
  private readonly held: Record<PinKind, HeldSecrets>;
  /** New holders' passphrase keys for a pending change of custodians. */
  private readonly heldKeys: HeldSecrets;
  /**
   * Security officers whose two factors approved a proposal in this process: only these count as
   * the officer a policy asks for, never a row in the approvals table (a database writer adds those).
   */
  private readonly officerApprovals: HeldSecrets;
  private readonly clock: () => Date;

  constructor(
    private readonly options: {
      store: Store;
      audit: AuditService;
      custodians: CustodianService;
      custody: CustodyService;
      module: () => TokenModule;
      operations: Record<string, QuorumOperation>;
      ceremonies?: Record<string, CeremonyOperation>;
      reconcilers?: Record<string, QuorumReconciler>;
      /** Parameter schemas by action, checked when proposed so approvers never approve a proposal that cannot run. */
      params?: Record<string, ZodType>;
      /** Checks by action against the current state, when proposed (the operation re-checks when it runs). */
      checks?: Record<string, ProposalCheck>;
      /** What each action needs from the token, checked against the token when proposed (hsm/capabilities.ts). */
      needs?: Record<string, (params: unknown, custody: { id: string; token: TokenRef }) => Need[]>;
      holdMinutes?: number;
      /**
       * For a proposal a ceremony script's run made: the custodian ids its step names to approve (ceremony/); null
       * for any other proposal. Nobody else's approval counts for a scripted step.
       */
      scriptApprovers?: (proposalId: string) => string[] | null;
      clock?: () => Date;
    },
  ) {
    this.clock = options.clock ?? (() => new Date());
    this.held = { user: new HeldSecrets(this.clock), so: new HeldSecrets(this.clock) };
    this.heldKeys = new HeldSecrets(this.clock);
    this.officerApprovals = new HeldSecrets(this.clock);
  }

  /**
   * What refuses a proposal before it exists: an unknown action, a custody not in effect, parameters that do not parse,
   * a retired person named to hold a share or card, a key or token that cannot do it. The proposals channel asks this
   * before the proposer's factors are checked, so nobody spends a passphrase try on a proposal that would be refused;
   * the refusals RECORDED_AT_PROPOSAL lists are recorded here, whoever called. propose() asks it again.
   */
  vet(request: { custodyId: string; action: string; params: unknown; requestedBy: string }): {
    custody: ReturnType<CustodyService['record']>;
    params: unknown;
  } {
    if (!(request.action in this.options.operations) && !(request.action in (this.options.ceremonies ?? {}))) {
      throw new CustosError('ACTION_UNKNOWN', `Custos has no quorum action “${request.action}”.`);
    }
    const custody = this.options.custody.record(request.custodyId);
    if (custody.state !== 'active') throw new CustosError('CUSTODY_NOT_FOUND', 'That token is not in active custody.');
    const schema = this.options.params?.[request.action];
    const checked = schema ? schema.safeParse(request.params) : null;
    if (checked && !checked.success) {
      const problems = checked.error.issues.map((issue) => `${issue.path.join('.') || 'parameters'}: ${issue.message}`);
      throw new CustosError(
        'PROPOSAL_INVALID',
        `This ${request.action} proposal cannot be carried out as written, so it was not proposed.`,
        problems,
      );
    }
    const params = checked ? checked.data : request.params;
    try {
      for (const id of this.options.ceremonies?.[request.action]?.newHolders?.(params) ?? []) {
        const holder = this.options.custodians.get(id);
        if (holder.retiredAt !== null) throw retiredError(holder.name, holder.retiredAt);
        if (!holder.roles.includes('custodian'))
          throw new CustosError(
            'PROPOSAL_INVALID',
            `${holder.name} is not enrolled as a custodian, so cannot hold a share.`,
          );
      }
      this.options.ceremonies?.[request.action]?.check?.(params, custody.id);
      this.options.checks?.[request.action]?.(params, { id: custody.id, token: custody.token });
      // What the token cannot do is refused now: no approval is ever spent on it.
      const needs = this.options.needs?.[request.action]?.(params, { id: custody.id, token: custody.token }) ?? [];
      requireCapabilities(this.options.module(), custody.token, request.action, needs);
    } catch (error) {
      // Reaching for another token's keys, asking a token for what it lacks, new protection from a key past its usage
      // period, naming a retired person to hold a share or card, or a certificate profile refused is recorded here,
      // whoever called.
      if (error instanceof CustosError && RECORDED_AT_PROPOSAL.includes(error.code)) {
        this.options.audit.record({
          actor: this.actor(request.requestedBy),
          action: 'proposal.create',
          object: { type: 'custody', id: custody.id },
          params: { action: request.action },
          result: { status: 'refused', code: error.code },
        });
      }
      throw error;
    }
    return { custody, params };
  }

  propose(request: {
    custodyId: string;
    action: string;
    params: unknown;
    requestedBy: string;
    minutes?: number;
    /** Made by a ceremony script's run: bound to the script and its step (scriptProposalBody). */
    script?: ScriptBinding;
  }): ProposalView {
    const { custody, params } = this.vet(request);
    const requester = this.mayAct(request.requestedBy, 'propose');
    const id = randomBytes(8).toString('hex');
    const now = this.clock();
    const expiresAt =
      request.script?.expiresAt ??
      new Date(now.getTime() + (request.minutes ?? DEFAULT_PROPOSAL_MINUTES) * 60_000).toISOString();
    if (request.script && Date.parse(expiresAt) <= now.getTime())
      throw new CustosError('PROPOSAL_EXPIRED', 'The ceremony’s window has closed, so nothing more is proposed in it.');
    const body = request.script
      ? scriptProposalBody({
          action: request.action,
          params,
          token: custody.token,
          requestedBy: requester.id,
          binding: request.script,
        })
      : canonicalJson({
          v: 1,
          id,
          action: request.action,
          params: params ?? null,
          token: custody.token,
          custody: custody.id,
          requestedBy: requester.id,
          expiresAt,
        });
    const fingerprint = sha256Hex(body);
    if (request.script?.fingerprint !== undefined && request.script.fingerprint !== fingerprint)
      throw new CustosError('INTERNAL', 'The proposal would differ from the one the ceremony script describes.');
    this.options.audit.record(
      {
        actor: this.actor(requester.id),
        action: 'proposal.create',
        object: { type: 'proposal', id },
        // A script's body names no custody record: the entry binds it (proposal-integrity.ts).
        params: request.script ? { fingerprint, custody: custody.id } : { fingerprint },
      },
      () =>
        this.options.store.execute(sql`
          INSERT INTO proposals (id, custody_id, body, fingerprint, requested_by, created_at, expires_at, state)
          VALUES (${id}, ${custody.id}, ${body}, ${fingerprint}, ${requester.id}, ${now.toISOString()}, ${expiresAt}, ${'open'})`),
    );
    return this.view(id);
  }

  /**
   * What would refuse this proposal now, in words, without proposing or recording anything: its parameters and the
   * checks against the current state (ceremony lint asks before a script is printed). Empty when it would pass.
   */
  precheck(custodyId: string, action: string, params: unknown): string[] {
    try {
      const custody = this.options.custody.record(custodyId);
      const schema = this.options.params?.[action];
      const checked = schema ? schema.safeParse(params) : null;
      if (checked && !checked.success)
        return checked.error.issues.map((issue) => `${issue.path.join('.') || 'parameters'}: ${issue.message}`);
      const parsed = checked ? checked.data : params;
      this.options.ceremonies?.[action]?.check?.(parsed, custody.id);
      this.options.checks?.[action]?.(parsed, { id: custody.id, token: custody.token });
      return [];
    } catch (error) {
      if (error instanceof CustosError) return [`${error.message} (${error.code})`];
      throw error;
    }
  }

  async approve(request: {
    proposalId: string;
    custodianId: string;
    passphrase: string;
    code: string;
    fingerprint: string;
  }): Promise<ProposalView> {
    const proposal = this.openProposal(request.proposalId);
    const object = { type: 'proposal', id: proposal.id };
    const refuse = (code: CustosError['code'], message: string, remedy: string[] = []): never => {
      this.options.audit.record({
        actor: this.actor(request.custodianId),
        action: 'proposal.approve',
        object,
        result: { status: 'refused', code },
      });
      throw new CustosError(code, message, remedy);
    };
    const named = this.options.scriptApprovers?.(proposal.id) ?? null;
    if (named !== null && !named.includes(request.custodianId))
      refuse('CEREMONY_STEP_REFUSED', 'The ceremony script does not name you to approve this step.', [
        'Only the approvers the printed script names for this step approve it.',
      ]);
    const given = request.fingerprint.toLowerCase().replace(/[^0-9a-f]/g, '');
    if (given.length < 16 || !proposal.fingerprint.startsWith(given)) {
      refuse(
        'FINGERPRINT_MISMATCH',
        'The fingerprint you confirmed is not this proposal’s: something in it differs from what you were told.',
        ['Compare the fingerprint aloud again. Do not approve until it matches exactly.'],
      );
    }
    try {
      this.mayAct(request.custodianId, 'approve');
    } catch (error) {
      if (error instanceof CustosError && error.code === 'NOT_AUTHORIZED') refuse(error.code, error.message);
      throw error;
    }
    const ceremony = this.options.ceremonies?.[proposal.action];
    const newHolder = ceremony?.newHolders?.(proposal.params).includes(request.custodianId) ?? false;
    // A requester who will hold a share in a turnover confirms that with both factors; it is not an approval.
    const selfConfirm = request.custodianId === proposal.requestedBy;
    if (selfConfirm && !newHolder)
      refuse('SELF_APPROVAL', 'Nobody can approve their own proposal.', ['Another custodian must approve it.']);
    const approver = this.options.custodians.get(request.custodianId);
    const pins = ceremony?.pins ?? (['user'] as const);
    const holdsShare =
      !selfConfirm &&
      this.options.store.get(
        sql`SELECT 1 AS yes FROM custody_shares WHERE custody_id = ${proposal.custodyId} AND custodian_id = ${request.custodianId} AND pin = ${pins[0]!}`,
      ) !== undefined;
    // A share that expired or died with a restart may be given again; a live approval counts once.
    const earlier = proposal.approvals.find((a) => a.custodianId === request.custodianId);
    const confirmedNow = this.heldKeys.live(proposal.id).some(([id]) => id === request.custodianId);
    const officerNow = this.officerApprovals.live(proposal.id).some(([id]) => id === request.custodianId);
    const officerOnly = !holdsShare && !newHolder && approver.roles.includes('security-officer');
    const renewable = (holdsShare && !earlier?.held) || (newHolder && !confirmedNow) || (officerOnly && !officerNow);
    if (earlier && !renewable)
      refuse('ALREADY_APPROVED', 'You have already approved this proposal; one person counts once.');
    if (
      !holdsShare &&
      !newHolder &&
      !(proposal.securityOfficersRequired > 0 && approver.roles.includes('security-officer'))
    ) {
      refuse(
        'NOT_AUTHORIZED',
        `${approver.name} holds no share of this token’s PIN${proposal.securityOfficersRequired > 0 ? ' and is not a security officer' : ''}.`,
      );
    }
    const key = await this.options.custodians.verifyFactors(
      request.custodianId,
      request.passphrase,
      request.code,
      `approve ${proposal.id}`,
    );
    const shares: [PinKind, Buffer][] = [];
    let newHolderKey: Uint8Array | null = null;
    try {
      // Other requests ran while scrypt did: the proposal may have run, closed or expired meanwhile.
      this.openProposal(proposal.id);
      if (holdsShare)
        for (const pin of pins)
          shares.push([
            pin,
            this.options.custody.unsealShare(proposal.custodyId, request.custodianId, pin, key, approver.name),
          ]);
      if (newHolder) newHolderKey = Uint8Array.from(key);
    } catch (error) {
      shares.forEach(([, share]) => share.fill(0));
      throw error;
    } finally {
      key.fill(0);
    }
    const now = this.clock();
    try {
      if (selfConfirm) {
        this.options.audit.record({
          actor: this.actor(request.custodianId),
          action: 'proposal.confirm-holder',
          object,
          params: { fingerprint: proposal.fingerprint },
        });
      } else {
        this.options.audit.record(
          {
            actor: this.actor(request.custodianId),
            action: 'proposal.approve',
            object,
            params: { fingerprint: proposal.fingerprint, ...(earlier ? { renewed: true } : {}) },
          },
          () =>
            this.options.store.execute(sql`
            INSERT INTO approvals (proposal_id, custodian_id, approved_at) VALUES (${proposal.id}, ${request.custodianId}, ${now.toISOString()})
            ON CONFLICT (proposal_id, custodian_id) DO UPDATE SET approved_at = excluded.approved_at`),
        );
      }
    } catch (error) {
      // An approval that could not be recorded holds nothing.
      shares.forEach(([, share]) => share.fill(0));
      newHolderKey?.fill(0);
      throw error;
    }
    // Held for the hold time, and never past the proposal's own expiry: nothing could use it after that.
    const expiresAt = new Date(
      Math.min(
        now.getTime() + (this.options.holdMinutes ?? DEFAULT_HOLD_MINUTES) * 60_000,
        Date.parse(proposal.expiresAt),
      ),
    );
    for (const [pin, share] of shares) {
      this.held[pin].hold(proposal.id, request.custodianId, Uint8Array.from(share), expiresAt);
      share.fill(0);
    }
    if (newHolderKey) this.heldKeys.hold(proposal.id, request.custodianId, newHolderKey, expiresAt);
    if (!selfConfirm && approver.roles.includes('security-officer'))
      this.officerApprovals.hold(proposal.id, request.custodianId, Uint8Array.of(1), expiresAt);
    return this.proceed(proposal.id);
  }

  /** Runs the proposal once everything it needs is held; otherwise shows what it waits for. */
  async proceed(proposalId: string): Promise<ProposalView> {
    // An expired proposal is closed here too, so nothing entered late can make it run.
    const proposal = this.openProposal(proposalId);
    const pins = this.options.ceremonies?.[proposal.action]?.pins ?? ['user'];
    const ready =
      proposal.state === 'open' &&
      pins.every((pin) => this.held[pin].live(proposal.id).length >= proposal.threshold) &&
      proposal.securityOfficersApproved >= proposal.securityOfficersRequired &&
      proposal.holdersToConfirm.length === 0 &&
      proposal.waitingFor.length === 0;
    if (ready) await this.execute(proposal);
    return this.view(proposalId);
  }

  /** An approver closes the proposal for everyone and says why (PROPOSAL_INVALID without a reason). */
  reject(proposalId: string, custodianId: string, reason: string): ProposalView {
    this.mayAct(custodianId, 'reject');
    return this.decide(proposalId, custodianId, 'rejected', checkedReason(reason, 'rejected'));
  }

  /** The proposer withdraws the proposal, saying why if they wish. */
  cancel(proposalId: string, custodianId: string, reason?: string): ProposalView {
    const proposal = this.view(proposalId);
    if (proposal.requestedBy !== custodianId)
      throw new CustosError(
        'NOT_AUTHORIZED',
        'Only the custodian who proposed it can cancel a proposal; others can reject it.',
      );
    return this.decide(proposalId, custodianId, 'cancelled', checkedReason(reason, 'cancelled'));
  }

  /**
   * Closes an open proposal of a ceremony run its administrator (or a security officer) aborted, with the abort's
   * reason; the run checked their authority and factors. Recorded as a cancellation by them.
   */
  cancelForAbortedRun(proposalId: string, custodianId: string, reason: string): ProposalView {
    return this.decide(proposalId, custodianId, 'cancelled', checkedReason(reason.slice(0, 500), 'cancelled'));
  }

  view(id: string): ProposalView {
    const row = this.options.store.get<{
      id: string;
      custody_id: string;
      body: string;
      fingerprint: string;
      requested_by: string;
      expires_at: string;
      state: ProposalView['state'];
      outcome: string | null;
    }>(sql`SELECT * FROM proposals WHERE id = ${id}`);
    if (!row) throw new CustosError('PROPOSAL_NOT_FOUND', 'There is no such proposal.');
    const body = JSON.parse(row.body) as ProposalBody;
    // Who proposed it, and on which custody, as the fingerprinted body says: the columns beside it are not signed,
    // and a proposer moved to another name could approve their own proposal.
    const custodyId = body.custody ?? row.custody_id;
    const requestedBy = body.requestedBy ?? row.requested_by;
    // The state and outcome the signed log proves, not the columns a database writer could change.
    const closure = closureOf(this.options.store, this.options.audit, { ...row, action: body.action });
    const state = closure.state;
    const live = new Set([...this.held.user.live(id), ...this.held.so.live(id)].map(([custodianId]) => custodianId));
    const confirmed = new Set(this.heldKeys.live(id).map(([custodianId]) => custodianId));
    const ceremony = this.options.ceremonies?.[body.action];
    const approvals = this.signedApprovals(id, row.fingerprint).map((a) => ({ ...a, held: live.has(a.custodianId) }));
    // The body was checked against the action's parameter schema when proposed and is bound by the fingerprint; the
    // outcome is checked against the action's result schema as it is read. TypeScript cannot see that the action,
    // parameters and outcome read from one row belong together, hence the one assertion.
    return {
      id: row.id,
      action: body.action,
      params: body.params,
      token: body.token,
      custodyId,
      requestedBy,
      fingerprint: row.fingerprint,
      shortFingerprint: shortFingerprint(row.fingerprint),
      // From the fingerprinted body (checked against the signed entry before an approval), not the column a
      // database writer could move: a proposal never outlives what its approvers approved.
      expiresAt: body.expiresAt ?? row.expires_at,
      state,
      approvals,
      threshold: this.options.custody.record(custodyId).threshold,
      securityOfficersRequired: ACTION_POLICIES[body.action]?.securityOfficers ?? 0,
      securityOfficersApproved: this.officersCounted(
        approvals,
        this.options.custody.record(custodyId).threshold,
        state === 'open' ? new Set(this.officerApprovals.live(id).map(([custodianId]) => custodianId)) : null,
      ),
      holdersToConfirm:
        state === 'open' && ceremony?.newHolders
          ? ceremony.newHolders(body.params).filter((h) => !confirmed.has(h))
          : [],
      waitingFor: state === 'open' ? this.waitingFor(id, body.params, ceremony) : [],
      interrupted: state === 'open' && this.cutOff(id),
      outcome:
        closure.outcome === 'altered'
          ? ALTERED_OUTCOME
          : row.outcome === null
            ? null
            : storedOutcome(row.outcome, body.action),
      decision: decisionOf(this.options.store, this.options.audit, id),
    } as ProposalView;
  }

  /**
   * The proposal for a signed report: refused (PROPOSAL_TAMPERED, recorded) when its stored body (what was proposed
   * and approved), state or outcome is not what the audit log recorded, so Custos never signs a report that says a
   * proposal was or did what it was not or did not.
   */
  provenView(id: string): ProposalView {
    refuseAlteredProposal(this.options.store, this.options.audit, id);
    const view = this.view(id);
    if (view.outcome === ALTERED_OUTCOME)
      refuseTampered(
        this.options.audit,
        'PROPOSAL_TAMPERED',
        { type: 'proposal', id },
        `Proposal ${id}'s outcome`,
        'forged',
      );
    return view;
  }

  /** What an open proposal still waits for: an interrupted run's re-examination, or what its ceremony needs. */
  private waitingFor(id: string, params: unknown, ceremony: CeremonyOperation | undefined): string[] {
    if (this.cutOff(id))
      return [
        this.recorded(id, 'proposal.execute.unsettled')
          ? UNSETTLED_WAIT
          : `Custos was interrupted while carrying this out: ${INTERRUPTED_WAIT}`,
      ];
    return ceremony?.waitingFor ? ceremony.waitingFor(id, params) : [];
  }

  /** Whether the log holds an entry of this action on the proposal. */
  private recorded(id: string, action: string): boolean {
    return signedEntries(this.options.store, this.options.audit, { action, object: `proposal:${id}` }).length > 0;
  }

  /** Its execution was journaled and never finished, and its re-examination was deferred to the next login. */
  private cutOff(id: string): boolean {
    const journaled = this.options.store.get<{ finished_at: string | null }>(
      sql`SELECT finished_at FROM executions WHERE proposal_id = ${id}`,
    );
    const awaiting = this.options.store.get(
      sql`SELECT 1 AS yes FROM audit_entries WHERE object = ${`proposal:${id}`} AND action = 'proposal.reconcile.deferred'`,
    );
    return journaled !== undefined && journaled.finished_at === null && awaiting !== undefined;
  }

  /**
   * One person counts once: either as a share holder or as the officer. Officers without a live
   * share count as officers; an officer whose share is live counts as the officer only if the
   * other live shares still reach t without theirs.
   */
  private officersCounted(
    approvals: ProposalView['approvals'],
    threshold: number,
    provenNow: Set<string> | null,
  ): number {
    const isOfficer = (id: string) => this.options.custodians.get(id).roles.includes('security-officer');
    const holders = approvals.filter((a) => a.held).length;
    // While open, only officers whose factors this process checked (a live share, or a live officer
    // approval) count; once closed, the record of who approved is shown as it stands.
    const officers = approvals.filter(
      (a) => isOfficer(a.custodianId) && (provenNow === null || a.held || provenNow.has(a.custodianId)),
    );
    const officersOnly = officers.filter((a) => !a.held).length;
    return officersOnly + Math.min(officers.length - officersOnly, Math.max(0, holders - threshold));
  }

  /** Every open proposal (none left out: the app and the CLI approve from this list), then the latest closed ones. */
  list(closed = 50): ProposalView[] {
    this.expireDue();
    return this.options.store
      .all<{ id: string }>(
        sql`SELECT id FROM proposals WHERE state = 'open'
              OR id IN (SELECT id FROM proposals WHERE state != 'open' ORDER BY created_at DESC LIMIT ${closed})
            ORDER BY state = 'open' DESC, created_at DESC`,
      )
      .map(({ id }) => this.view(id));
  }

  /** Every open proposal, however many: what a decision ("is this person in any open proposal?") must read. */
  open(): ProposalView[] {
    this.expireDue();
    return unclosedProposalIds(this.options.store)
      .map((id) => this.view(id))
      .filter((p) => p.state === 'open');
  }

  /** A proposal past its expiry is closed when read, as when it is touched: nobody sees it as open. */
  private expireDue(): void {
    const now = this.clock().toISOString();
    for (const { id } of this.options.store.all<{ id: string }>(
      sql`SELECT id FROM proposals WHERE state = 'open' AND expires_at <= ${now} AND id NOT IN (SELECT proposal_id FROM executions)`,
    )) {
      this.closeIfOpen(id, 'expired', 'proposal.expire');
    }
  }

  /** Drops every held share: on quit, and when the process dies the memory goes with it. */
  forgetAll(): void {
    for (const held of [this.held.user, this.held.so, this.heldKeys, this.officerApprovals]) held.clear();
  }

  /**
   * Settles operations a crash interrupted: journaled before the token was touched, never
   * finished. What the token shows is registered or removed; nothing there fails the proposal as
   * interrupted. What only a login can show (private objects) waits, recorded once, for the next
   * quorum login on that token. A token that cannot be reached now leaves the journal for the next start.
   */
  reconcile(): {
    proposalId: string;
    action: string;
    status: Outcome['status'] | 'awaiting-login';
    outcome: Outcome | null;
  }[] {
    const settled = [];
    for (const proposal of this.interrupted()) {
      const reconciler = this.options.reconcilers?.[proposal.action];
      // Read-write but without a login: public objects can be found and removed, nothing private touched.
      const found = reconciler
        ? this.options
            .module()
            .withSession(proposal.token, { write: true }, (session, lib) =>
              examine(reconciler, { session, lib, proposal, loggedIn: false }),
            )
        : null;
      if (found === NEEDS_LOGIN) {
        this.deferred(proposal);
        settled.push({
          proposalId: proposal.id,
          action: proposal.action,
          status: 'awaiting-login' as const,
          outcome: null,
        });
        continue;
      }
      const outcome = this.settle(proposal, found);
      settled.push({ proposalId: proposal.id, action: proposal.action, status: outcome.status, outcome });
    }
    if (settled.some((s) => s.status !== 'awaiting-login'))
      this.options.audit.checkpoint('interrupted operations reconciled');
    return settled;
  }

  /**
   * At a quorum login on a token: operations a crash interrupted there, which only a login can
   * re-examine (a secret key, a private half, a destruction), are settled before the approved
   * operation runs. A token that refuses the login leaves them waiting.
   */
  private reexamine(token: TokenRef, pin: Buffer, except: string): void {
    const waiting = this.interrupted().filter(
      (p) =>
        p.id !== except &&
        p.token.serial === token.serial &&
        p.token.label === token.label &&
        this.options.reconcilers?.[p.action],
    );
    if (waiting.length === 0) return;
    try {
      this.options
        .module()
        .withSession(token, { write: true, login: { user: 'user', pin: pin.toString('latin1') } }, (session, lib) => {
          for (const proposal of waiting) {
            const found = examine(this.options.reconcilers![proposal.action]!, {
              session,
              lib,
              proposal,
              loggedIn: true,
            });
            this.settle(proposal, found === NEEDS_LOGIN ? null : found);
          }
        });
    } catch (error) {
      // The approved operation opens the token next and reports the same refusal; the journal stays for later.
      if (!isCustosError(error) && !isTokenRefusal(error)) throw error;
      return;
    }
    this.options.audit.checkpoint('interrupted operations re-examined');
  }

  /** Records what a reconciler found (and commits its inventory change) as the proposal's outcome. */
  private settle(proposal: ProposalView, found: Exclude<Examined, typeof NEEDS_LOGIN>): Outcome {
    const outcome = reconciled(found);
    this.finish(proposal, outcome, found?.commit, 'proposal.reconcile');
    return outcome;
  }

  /**
   * Proposals whose execution was journaled and never finished, oldest first. One the log already closed (its journal
   * marked unfinished again in the database) is not settled a second time: that would sign a later closing entry,
   * which then decides the state shown.
   */
  private interrupted(): ProposalView[] {
    return this.options.store
      .all<{ proposal_id: string }>(
        sql`SELECT proposal_id FROM executions WHERE finished_at IS NULL ORDER BY started_at`,
      )
      .filter(({ proposal_id: id }) => this.journaled(id))
      .map(({ proposal_id: id }) => this.view(id))
      .filter((proposal) => proposal.state === 'open');
  }

  /**
   * Whether the signed log journaled this proposal's execution (its `proposal.execute.begin` entry, written only after
   * its approvals) and its body is the one proposed: a journal row a database writer added — for a proposal nobody
   * approved, or nobody made — is never carried out at a start or a login. It is recorded as tampered instead.
   */
  private journaled(id: string): boolean {
    const { store, audit } = this.options;
    const begun = signedEntries(store, audit, { action: 'proposal.execute.begin', object: `proposal:${id}` });
    try {
      if (begun.length === 0)
        refuseTampered(
          audit,
          'PROPOSAL_TAMPERED',
          { type: 'proposal', id },
          `The execution journal of proposal ${id}`,
          'forged',
        );
      refuseAlteredProposal(store, audit, id);
      return true;
    } catch (error) {
      if (isCustosError(error) && error.code === 'PROPOSAL_TAMPERED') return false;
      throw error;
    }
  }

  /**
   * Who approved a proposal and when, as the signed `proposal.approve` entries of its fingerprint record them: the
   * approvals table beside them is not signed, and a row added or deleted there would count, or drop, an approver (and
   * name them in a destruction's proof and in reports); a time edited there would be shown to the next approver.
   */
  private signedApprovals(id: string, fingerprint: string): { custodianId: string; approvedAt: string }[] {
    const { store, audit } = this.options;
    const approved = [
      sha256Hex(canonicalJson({ fingerprint })),
      sha256Hex(canonicalJson({ fingerprint, renewed: true })),
    ];
    const latest = new Map<string, string>();
    for (const signed of signedEntries(store, audit, { action: 'proposal.approve', object: `proposal:${id}` })) {
      if (!approved.includes(signed.params ?? '')) continue;
      latest.delete(signed.actor.id);
      latest.set(signed.actor.id, signed.time);
    }
    return [...latest].map(([custodianId, approvedAt]) => ({ custodianId, approvedAt }));
  }

  /** Recorded the first time a start finds that only a login can settle this proposal. */
  private deferred(proposal: ProposalView): void {
    const object = `proposal:${proposal.id}`;
    if (
      this.options.store.get(
        sql`SELECT 1 AS yes FROM audit_entries WHERE object = ${object} AND action = 'proposal.reconcile.deferred'`,
      )
    )
      return;
    this.options.audit.record({
      actor: { type: 'system', id: 'system' },
      action: 'proposal.reconcile.deferred',
      object: { type: 'proposal', id: proposal.id },
      params: { action: proposal.action, fingerprint: proposal.fingerprint },
    });
  }

  private async execute(proposal: ProposalView): Promise<void> {
    // Journaled before anything awaits or touches the token: a crash from here on is found at start.
    this.options.audit.record(
      {
        actor: { type: 'system', id: 'system' },
        action: 'proposal.execute.begin',
        object: { type: 'proposal', id: proposal.id },
        params: { action: proposal.action, fingerprint: proposal.fingerprint },
      },
      () =>
        this.options.store.execute(
          sql`INSERT INTO executions (proposal_id, started_at) VALUES (${proposal.id}, ${this.clock().toISOString()})`,
        ),
    );
    const ceremony = this.options.ceremonies?.[proposal.action];
    const pins: Partial<Record<PinKind, Buffer>> = {};
    let outcome: Outcome;
    let commit: (() => void) | undefined;
    let unsettled = false;
    try {
      for (const pin of ceremony?.pins ?? ['user']) pins[pin] = await this.rebuild(pin, proposal.id);
      if (pins.user) this.reexamine(proposal.token, pins.user, proposal.id);
      if (ceremony) {
        const holderKeys = this.heldKeys
          .live(proposal.id)
          .map(([custodianId, key]) => ({ custodianId, key: Buffer.from(key) }));
        try {
          const returned = await ceremony.run({
            pins,
            holderKeys,
            params: proposal.params,
            custodyId: proposal.custodyId,
            proposalId: proposal.id,
            token: proposal.token,
          });
          commit = returned.commit;
          outcome = { status: 'ok', result: returned.result ?? null };
        } finally {
          holderKeys.forEach((k) => k.key.fill(0));
        }
      } else {
        const operation = this.options.operations[proposal.action]!;
        const pinText = pins.user!.toString('latin1');
        const returned = this.options
          .module()
          .withSession(proposal.token, { write: true, login: { user: 'user', pin: pinText } }, (session, lib) =>
            operation({
              session,
              lib,
              params: proposal.params,
              proposalId: proposal.id,
              token: proposal.token,
              decidedBy: decidedBy(proposal),
            }),
          );
        commit = isOutcome(returned) ? returned.commit : undefined;
        outcome = { status: 'ok', result: (isOutcome(returned) ? returned.result : returned) ?? null };
      }
    } catch (error) {
      unsettled = error instanceof LeftUnsettled && this.options.reconcilers?.[proposal.action] !== undefined;
      outcome = failure(error);
      commit = error instanceof PartlyCarriedOut ? error.commit : undefined;
    } finally {
      Object.values(pins).forEach((pin) => pin.fill(0));
      this.drop(proposal.id);
    }
    if (unsettled) {
      // Left journaled, as a crash leaves it: its reconciler settles it at the next quorum login on that token.
      this.options.audit.record({
        actor: { type: 'system', id: 'system' },
        action: 'proposal.execute.unsettled',
        object: { type: 'proposal', id: proposal.id },
        params: {
          action: proposal.action,
          fingerprint: proposal.fingerprint,
          code: outcome.status === 'failed' ? outcome.code : null,
        },
      });
      this.deferred(proposal);
      this.options.audit.checkpoint(`${proposal.action} ${proposal.id} left to be settled`);
      return;
    }
    try {
      this.finish(proposal, outcome, commit, 'proposal.execute');
    } catch (error) {
      throw unrecorded(proposal.action, outcome, error);
    }
    // Proposals still open against a custody that was just replaced can no longer be carried out.
    if (ceremony?.newHolders && outcome.status === 'ok') {
      const open = sql`SELECT id FROM proposals WHERE custody_id = ${proposal.custodyId} AND state = 'open' AND id NOT IN (SELECT proposal_id FROM executions)`;
      for (const { id } of this.options.store.all<{ id: string }>(open))
        this.closeIfOpen(id, 'cancelled', 'proposal.void');
    }
    // Every ceremony ends on a checkpoint (anchored in the audit token): its tail cannot be cut off.
    this.options.audit.checkpoint(`${proposal.action} ${proposal.id}`);
  }

  /** The outcome, the inventory change and the end of the journal entry: one transaction, one audit entry. */
  private finish(proposal: ProposalView, outcome: Outcome, commit: (() => void) | undefined, action: string): void {
    const at = this.clock().toISOString();
    // Stored exactly as hashed into the entry's parameters (proposal-closure.ts checks one against the other).
    const stored = JSON.stringify(outcome);
    this.options.audit.record(
      {
        actor: { type: 'system', id: 'system' },
        action,
        object: { type: 'proposal', id: proposal.id },
        // The result keeps its code only (a signed format); the token's detail and the stored outcome's hash go into
        // the parameters, whose hash the entry signs, so the stored outcome can be checked against the entry.
        params: runParams(
          proposal.action,
          proposal.fingerprint,
          stored,
          outcome.status === 'failed' ? outcome.detail : undefined,
        ),
        result: outcome.status === 'ok' ? { status: 'ok' } : { status: 'failed', code: outcome.code },
      },
      () => {
        commit?.();
        this.options.store.execute(
          sql`UPDATE proposals SET state = ${outcome.status === 'ok' ? 'executed' : 'failed'}, closed_at = ${at}, outcome = ${stored} WHERE id = ${proposal.id} AND state = 'open'`,
        );
        this.options.store.execute(sql`UPDATE executions SET finished_at = ${at} WHERE proposal_id = ${proposal.id}`);
      },
    );
  }

  private openProposal(id: string): ProposalView {
    refuseAlteredProposal(this.options.store, this.options.audit, id);
    const proposal = this.view(id);
    // Journaled first: an interrupted run is settled by reconciliation, never closed as expired.
    if (proposal.state === 'open') this.refuseJournaled(id);
    if (proposal.state === 'open' && new Date(proposal.expiresAt) <= this.clock()) {
      this.close(id, 'expired', 'proposal.expire');
      throw new CustosError('PROPOSAL_EXPIRED', 'This proposal has expired; approvals given for it are void.', [
        'Propose it again.',
      ]);
    }
    if (proposal.state !== 'open') throw new CustosError('PROPOSAL_CLOSED', `This proposal is ${proposal.state}.`);
    if (this.options.custody.record(proposal.custodyId).state !== 'active') {
      this.close(id, 'cancelled', 'proposal.void');
      throw new CustosError(
        'PROPOSAL_CLOSED',
        'The token’s custodians changed since this was proposed, so it can no longer be approved.',
        ['Propose it again.'],
      );
    }
    return proposal;
  }

  /** One PIN from the held shares; the caller overwrites it. */
  private async rebuild(pin: PinKind, proposalId: string): Promise<Buffer> {
    const secret = await combine(this.held[pin].live(proposalId).map(([, share]) => share));
    const bytes = Buffer.from(secret);
    secret.fill(0);
    return bytes;
  }

  /** A proposal whose run was journaled is being carried out, or waits to be reconciled: nobody closes it. */
  private refuseJournaled(id: string): void {
    if (this.options.store.get(sql`SELECT 1 AS yes FROM executions WHERE proposal_id = ${id}`)) {
      throw new CustosError(
        'PROPOSAL_CLOSED',
        `This proposal is being carried out, or was interrupted and waits to be reconciled: ${INTERRUPTED_WAIT}.`,
      );
    }
  }

  /** Closes a proposal nobody decided on: it expired, or its custody changed. */
  private close(id: string, state: 'cancelled' | 'expired', action: string): ProposalView {
    this.closable(id);
    this.options.audit.record(
      { actor: { type: 'system', id: 'system' }, action, object: { type: 'proposal', id } },
      () =>
        this.options.store.execute(
          sql`UPDATE proposals SET state = ${state}, closed_at = ${this.clock().toISOString()} WHERE id = ${id}`,
        ),
    );
    return this.view(id);
  }

  /**
   * Closes a proposal a query of the state column found open, when the log says so too: a row a database writer opened
   * again is left as the log closed it (and shown as tampered), not closed a second time or failing the caller.
   */
  private closeIfOpen(id: string, state: 'cancelled' | 'expired', action: string): void {
    if (this.view(id).state === 'open') this.close(id, state, action);
  }

  /** A person's rejection or cancellation: the reason goes into the entry's parameters and the signed row. */
  private decide(id: string, by: string, state: DecidedState, reason: string | null): ProposalView {
    const proposal = this.closable(id);
    const params = { fingerprint: proposal.fingerprint, ...(reason === null ? {} : { reason }) };
    const action = state === 'rejected' ? 'proposal.reject' : 'proposal.cancel';
    this.options.audit.record({ actor: this.actor(by), action, object: { type: 'proposal', id }, params }, () =>
      recordDecision(this.options.store, this.options.audit, { id, state, by, reason, at: this.clock().toISOString() }),
    );
    return this.view(id);
  }

  /** An open proposal whose run was not journaled, its held shares dropped: ready to close. */
  private closable(id: string): ProposalView {
    const proposal = this.view(id);
    if (proposal.state !== 'open')
      throw new CustosError('PROPOSAL_CLOSED', `This proposal is already ${proposal.state}.`);
    this.refuseJournaled(id);
    this.drop(id);
    return proposal;
  }

  private drop(proposalId: string): void {
    for (const held of [this.held.user, this.held.so, this.heldKeys, this.officerApprovals]) held.drop(proposalId);
    const action = this.options.store.get<{ body: string }>(sql`SELECT body FROM proposals WHERE id = ${proposalId}`);
    if (action) this.options.ceremonies?.[(JSON.parse(action.body) as { action: string }).action]?.forget?.(proposalId);
  }

  /** Auditors read: only custodians and security officers propose, approve or reject. */
  mayAct(custodianId: string, verb: 'propose' | 'approve' | 'reject'): CustodianSummary {
    const who = this.options.custodians.get(custodianId);
    if (!who.roles.some((role) => role === 'custodian' || role === 'security-officer')) {
      throw new CustosError(
        'NOT_AUTHORIZED',
        `${who.name} is an auditor: auditors read the record, they do not ${verb} quorum actions.`,
      );
    }
    return who;
  }

  private actor(custodianId: string): AuditActor {
    const custodian = this.options.custodians.get(custodianId);
    return {
      type: 'custodian',
      id: custodianId,
      role: custodian.roles.includes('security-officer') ? 'security-officer' : 'custodian',
    };
  }
}

/**
 * A stored outcome in a form Custos writes; anything else (a database writer's edit) is shown as
 * such for this proposal alone, so one bad row cannot blank the list of proposals.
 */
/** Operations the catalogue does not name exist only in tests of the quorum itself. */
/**
 * Refusals of a proposal that its own call records, whoever called; the router's request record leaves them (and
 * factor failures) to it, reading this same list, so none is recorded twice.
 */
export const RECORDED_AT_PROPOSAL: readonly ErrorCode[] = [
  'KEY_WRONG_TOKEN',
  'TOKEN_CAPABILITY_MISSING',
  'KEY_PERIOD_ENDED',
  'CUSTODIAN_RETIRED',
  'CERT_PROFILE_REFUSED',
];

const UNCATALOGUED_OUTCOME = z.discriminatedUnion('status', [
  z.object({ status: z.literal('ok'), result: z.unknown() }),
  FailedOutcome,
]);

/** Shown instead of a stored state or outcome that is not what the audit log recorded (proposal-closure.ts). */
const ALTERED_OUTCOME: FailedOutcome = Object.freeze({
  status: 'failed',
  code: 'PROPOSAL_TAMPERED',
  message:
    'What this proposal did was changed in the database outside Custos, so it is not shown; the audit log holds ' +
    'what happened.',
  remedy: [
    'Treat this as a security incident: someone wrote to the database file.',
    '“custos audit verify” and the audit log show how the proposal closed.',
  ],
}) as FailedOutcome;

function storedOutcome(text: string, action: string): Outcome | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const known = ActionName.safeParse(action);
  const checked = (known.success ? outcomeSchema(known.data) : UNCATALOGUED_OUTCOME).safeParse(parsed);
  if (checked.success) return checked.data;
  return {
    status: 'failed',
    code: 'STORE_CORRUPT',
    message: 'The stored outcome of this proposal is not one Custos writes: the database was changed outside Custos.',
  };
}
