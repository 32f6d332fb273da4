import { z } from 'zod';
import type { AuditActor } from '../../../shared/audit';
import type { ErrorCode } from '../../../shared/errors';
import type { ChannelName } from '../../../shared/ipc-schema';
import { TokenRef } from '../../../shared/tokens';
import { tokenObject } from '../audit/audit-log';
import type { AuditService } from '../audit/audit-service';
import type { DispatchReport } from './router';

/**
 * How each request is recorded. Channels that change state record their own entry inside the
 * change's transaction ("self"); reads are recorded after they answer. Every refusal and
 * failure is recorded too. `params` says whether the input may be hashed into the entry: never
 * for a channel that carries a secret.
 */
export interface AuditPlan {
  action: string;
  /** The handler records its own entry on success. */
  self: boolean;
  /** The input may be hashed into the entry (never when it carries a passphrase). */
  params: boolean;
  /** Failures the handler records itself ('all': every failure once the handler ran, e.g. an export's). */
  selfFailures?: readonly ErrorCode[] | 'all';
}

/** The audit-plan rows for a domain's channels: one per channel, no more. */
export type AuditPlans<C extends ChannelName> = Record<C, AuditPlan>;

export const FACTOR_FAILURES: readonly ErrorCode[] = [
  'PASSPHRASE_INCORRECT',
  'TOTP_INCORRECT',
  'TOTP_REPLAYED',
  'FACTORS_THROTTLED',
  'CUSTODIAN_LOCKED',
  'CUSTODIAN_RETIRED',
];

export const SHARE_FAILURES: readonly ErrorCode[] = [
  'SHARE_TYPO',
  'SHARE_FOREIGN',
  'SHARE_MISMATCH',
  'SHARE_DUPLICATE',
];

/** Records each request the router answered, as its channel's plan says; the router's observer. */
export function recordRequest(
  auditPlan: AuditPlans<ChannelName>,
  audit: AuditService,
  actor: AuditActor,
): (report: DispatchReport) => Promise<void> {
  return async (report) => {
    const plan = report.channel ? auditPlan[report.channel] : null;
    if (plan?.self && report.outcome === 'ok') return;
    if (report.handled && plan?.selfFailures === 'all') return;
    if (report.outcome === 'failed' && report.code && plan?.selfFailures?.includes(report.code)) return;
    // The input may be anything the renderer sent (null, 5 MB): read it only through its schema.
    const input: unknown = report.input;
    if (report.channel === 'audit.page' && report.outcome === 'ok' && (input as { offset?: unknown }).offset !== 0)
      return;
    const seq = AuditSeq.safeParse(input);
    const object =
      report.channel === null
        ? { type: 'channel', id: report.requested || '(none)' }
        : report.channel === 'tokens.select' || report.channel === 'tokens.mechanisms'
          ? tokenObjectOf(input)
          : report.channel === 'audit.entry' && seq.success
            ? { type: 'audit-entry', id: String(seq.data.seq) }
            : report.outcome === 'refused'
              ? null
              : namedObjectOf(input);
    await audit.tryRecord({
      actor,
      action: plan?.action ?? 'ipc.request',
      object,
      ...(plan?.params && report.outcome !== 'refused' ? { params: report.input } : {}),
      result: report.outcome === 'ok' ? { status: 'ok' } : { status: report.outcome, code: report.code ?? 'INTERNAL' },
    });
  };
}

/** The token a request named, when it is a well-formed reference; an oversized one is not recorded. */
function tokenObjectOf(input: unknown) {
  const ref = TokenRef.safeParse(input);
  return ref.success ? tokenObject(ref.data) : null;
}
/**
 * The key or backup set a request names (a public-key export, an emergency, a backup file export, a card), when
 * well-formed: its answer or refusal then sits in that object's history, which a compromise impact report reads.
 */
function namedObjectOf(input: unknown) {
  const named = NamedObject.safeParse(input);
  if (!named.success) return null;
  return 'keyId' in named.data ? { type: 'key', id: named.data.keyId } : { type: 'backup', id: named.data.setId };
}
const Hex32 = z.string().regex(/^[0-9a-f]{32}$/);
const NamedObject = z.union([z.object({ keyId: Hex32 }), z.object({ setId: Hex32 })]);
const AuditSeq = z.object({ seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER) });
