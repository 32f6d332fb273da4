import { z } from 'zod';
import { ErrorCode } from './errors';

/** Who did it. "operator" is the person at this console before custodian sign-in exists. */
export const AuditActor = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('system'), id: z.literal('system') }),
  z.strictObject({ type: z.literal('operator'), id: z.string().min(1).max(64) }),
  z.strictObject({
    type: z.literal('custodian'),
    id: z.string().min(1).max(64),
    role: z.enum(['custodian', 'security-officer', 'auditor']),
  }),
]);
export type AuditActor = z.infer<typeof AuditActor>;

export const AuditObject = z.strictObject({ type: z.string().min(1).max(32), id: z.string().min(1).max(200) });
export type AuditObject = z.infer<typeof AuditObject>;

export const AuditResult = z.discriminatedUnion('status', [
  z.strictObject({ status: z.literal('ok') }),
  z.strictObject({ status: z.literal('refused'), code: ErrorCode }),
  z.strictObject({ status: z.literal('failed'), code: ErrorCode }),
]);
export type AuditResult = z.infer<typeof AuditResult>;

/**
 * One audit entry. Its RFC 8785 canonical JSON is what is hashed into the Merkle tree and
 * signed. `params` is the SHA-256 of the canonical parameters, never the parameters themselves.
 */
export const AuditEntry = z.strictObject({
  v: z.literal(1),
  seq: z.number().int().nonnegative(),
  time: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
  actor: AuditActor,
  action: z.string().regex(/^[a-z][a-z-]*(\.[a-z][a-z-]*)+$/),
  object: AuditObject.nullable(),
  params: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .nullable(),
  result: AuditResult,
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export const AuditProblemKind = z.enum([
  'edited',
  'deleted',
  'inserted',
  'reordered',
  'truncated',
  'bad-signature',
  'unknown-key',
  'forged-checkpoint',
  'inconsistent-checkpoint',
  /** The log no longer extends the checkpoint kept in the audit token (or its copy): AUDIT_ROLLBACK. */
  'rolled-back',
  /** The audit token holds another key than the one on record, or none. */
  'key-mismatch',
  'malformed',
  'tree-corrupt',
  'bad-proof',
  'no-checkpoint',
]);
export type AuditProblemKind = z.infer<typeof AuditProblemKind>;

export const AuditProblem = z.object({
  kind: AuditProblemKind,
  /** The entry (leaf index) where it shows, when it is about one entry. */
  seq: z.number().int().nullable(),
  message: z.string(),
});
export type AuditProblem = z.infer<typeof AuditProblem>;

export const KeySource = z.enum(['pinned', 'token', 'record', 'bundle']);
export type KeySource = z.infer<typeof KeySource>;

export const AuditVerdict = z.object({
  ok: z.boolean(),
  /** The audit key everything was checked against, as a signed-note verifier key. */
  trustedKey: z.string(),
  /**
   * Where that key came from: given by the verifier (pinned), proven by the audit token (token),
   * the first one on record in the database (record), or the bundle's own (bundle).
   */
  keySource: KeySource,
  /** True when the key or a checkpoint came from outside what is being verified. */
  anchored: z.boolean(),
  entries: z.number().int(),
  checkpoints: z.number().int(),
  treeSize: z.number().int(),
  root: z.string(),
  /** The first problem, in log order: what an auditor looks at first. */
  first: AuditProblem.nullable(),
  problems: z.array(AuditProblem),
});
export type AuditVerdict = z.infer<typeof AuditVerdict>;

export const AuditStatus = z.discriminatedUnion('state', [
  z.object({
    state: z.literal('ready'),
    origin: z.string(),
    keyId: z.string(),
    token: z.object({ serial: z.string(), label: z.string() }),
    size: z.number().int(),
  }),
  z.object({ state: z.literal('unavailable'), code: ErrorCode, message: z.string(), remedy: z.array(z.string()) }),
]);
export type AuditStatus = z.infer<typeof AuditStatus>;

export const CheckpointInfo = z.object({
  treeSize: z.number().int(),
  reason: z.string(),
  createdAt: z.string(),
  /** The signed note, exactly as an auditor would keep or print it. */
  note: z.string(),
});
export type CheckpointInfo = z.infer<typeof CheckpointInfo>;

/** Entries that only read (lists, views, searches): hidden with one switch, so that changes stand out. */
export const READ_ACTIONS = [
  'token.list',
  'token.mechanisms',
  'custodian.list',
  'custody.list',
  'proposal.list',
  'key.list',
  'backup.list',
  'report.list',
  'compliance.view',
  'compliance.controls',
  'compliance.practice-statement',
  'audit.status',
  'audit.search',
  'audit.read',
] as const;

export const AuditFilter = z.strictObject({
  actor: z.string().max(64).optional(),
  action: z.string().max(64).optional(),
  object: z.string().max(200).optional(),
  result: z.enum(['ok', 'refused', 'failed']).optional(),
  /** RFC 3339 UTC bounds on the entry time, inclusive. */
  from: z.string().datetime({ precision: 3 }).optional(),
  to: z.string().datetime({ precision: 3 }).optional(),
  /** Leaves out READ_ACTIONS. */
  hideReads: z.boolean().optional(),
});
export type AuditFilter = z.infer<typeof AuditFilter>;

export const AuditPageRequest = z.strictObject({
  filter: AuditFilter,
  offset: z.number().int().nonnegative(),
  limit: z.number().int().min(1).max(500),
});

export const AuditRow = z.object({
  seq: z.number().int(),
  time: z.string(),
  actor: z.string(),
  action: z.string(),
  object: z.string(),
  result: z.string(),
  code: z.string(),
});
export type AuditRow = z.infer<typeof AuditRow>;

export const AuditPage = z.object({ total: z.number().int(), offset: z.number().int(), rows: z.array(AuditRow) });
export type AuditPage = z.infer<typeof AuditPage>;

export const AuditEntryDetail = z.object({
  seq: z.number().int(),
  entry: AuditEntry,
  /** The exact bytes that were hashed and signed. */
  canonical: z.string(),
  keyId: z.string(),
  signatureValid: z.boolean(),
  inclusion: z.object({
    treeSize: z.number().int(),
    root: z.string(),
    proof: z.array(z.string()),
    verified: z.boolean(),
    /** The signed checkpoint the proof is against, when one covers the entry. */
    checkpoint: z.string().nullable(),
  }),
});
export type AuditEntryDetail = z.infer<typeof AuditEntryDetail>;

export const VerifyProgress = z.object({ checked: z.number().int(), total: z.number().int() });

/**
 * Verifying against what was kept elsewhere, given as text (the CLI reads the files named on its command line):
 * checkpoint notes an auditor holds, and the audit key they trust.
 */
export const VerifyRequest = z.strictObject({
  trustedCheckpoints: z.array(z.string().min(1).max(16_384)).max(256).optional(),
  /** A signed-note verifier key, or the audit key's Ed25519 public key PEM (named by this log's origin). */
  key: z.string().min(1).max(4096).optional(),
});
export type VerifyRequest = z.infer<typeof VerifyRequest>;

/** Where an export goes is chosen in main (the CLI: --out), never named by the renderer. */
export const AuditExportRequest = z.strictObject({
  format: z.enum(['bundle', 'csv', 'cef']),
  trail: z.enum(['all', 'key-management']),
});
export const AuditExport = z.object({ path: z.string(), entries: z.number().int(), checkpoint: CheckpointInfo });
export type AuditExport = z.infer<typeof AuditExport>;

export const TreeRepair = z.object({ size: z.number().int(), rewritten: z.number().int(), root: z.string() });

export const AuditPublicKey = z.object({ pem: z.string(), verifierKey: z.string() });

export const InclusionRequest = z.strictObject({
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  size: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
});
export const InclusionProof = z.object({
  seq: z.number().int(),
  treeSize: z.number().int(),
  root: z.string(),
  entry: z.string(),
  proof: z.array(z.string()),
});
export const ConsistencyRequest = z.strictObject({
  from: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  to: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
});
export const ConsistencyProof = z.object({
  from: z.number().int(),
  to: z.number().int(),
  fromRoot: z.string(),
  toRoot: z.string(),
  proof: z.array(z.string()),
});

/** Keep the latest checkpoint in a second file too (a path chosen in main: the CLI's --file), or stop. */
export const AnchorCopyRequest = z.strictObject({ keep: z.boolean() });
export const AnchorCopy = z.object({ path: z.string().nullable() });
