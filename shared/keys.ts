import { z } from 'zod';
import { TokenRef } from './tokens';

export const Algorithm = z.enum(['AES-256', 'RSA-3072', 'RSA-4096', 'EC-P256', 'EC-P384', 'Ed25519']);
export type Algorithm = z.infer<typeof Algorithm>;

const ALGORITHM_NAMES: Record<Algorithm, string> = {
  'AES-256': 'AES-256',
  'RSA-3072': 'RSA 3072',
  'RSA-4096': 'RSA 4096',
  'EC-P256': 'EC P-256',
  'EC-P384': 'EC P-384',
  Ed25519: 'Ed25519',
};

/** An algorithm as people write it (“EC P-256”); an unknown one as recorded. */
export function algorithmName(algorithm: string): string {
  return ALGORITHM_NAMES[algorithm as Algorithm] ?? algorithm;
}

export const KeyUsage = z.enum(['sign', 'encrypt', 'wrap']);
export type KeyUsage = z.infer<typeof KeyUsage>;

/** NIST SP 800-57 Part 1 §7 key states. */
export const KeyState = z.enum(['pre-activation', 'active', 'suspended', 'deactivated', 'compromised', 'destroyed']);
export type KeyState = z.infer<typeof KeyState>;

export const PolicyVerdict = z.object({
  status: z.enum(['acceptable', 'deprecated', 'disallowed']),
  /** Each coming change with its date and source, in plain words. */
  notes: z.array(z.string()),
});
export type PolicyVerdict = z.infer<typeof PolicyVerdict>;

/** A destruction cut short: what the token destroyed, what remains, and the proposal that ran it. */
export const PartialDestruction = z.object({
  proposalId: z.string(),
  at: z.string(),
  destroyed: z.array(z.string()),
  remaining: z.array(z.string()),
});
export type PartialDestruction = z.infer<typeof PartialDestruction>;

export const KeyRecord = z.object({
  id: z.string(),
  label: z.string(),
  algorithm: z.string(),
  usage: z.string(),
  backupable: z.boolean(),
  state: KeyState,
  token: z.object({ serial: z.string(), label: z.string() }),
  createdAt: z.string(),
  expiresAt: z.string(),
  /** SHA-256 of the public key; null for a secret key, which has none. */
  fingerprint: z.string().nullable(),
  /** The AES check value where the token could compute one (a key that may encrypt); null otherwise. */
  kcv: z.string().nullable(),
  policy: PolicyVerdict,
  /** When a scheduled destruction's waiting period ends; null when none is waiting. */
  destructionNotBefore: z.string().nullable(),
  /** True once that waiting period is over by the core's clock (never the renderer's): key.destroy may be proposed. */
  destructionDue: z.boolean(),
  /** Why the security officer marked it compromised; null for a key not marked so (or restored from elsewhere). */
  compromiseReason: z.string().nullable(),
  /** The id of the family's first key (its own id until it is rotated); versions count from 1. */
  family: z.string(),
  version: z.number().int().min(1),
  /** The key this one replaced, and the key that replaced it; null when none. */
  previous: z.string().nullable(),
  rotatedTo: z.string().nullable(),
  /**
   * When the key should be rotated: the end of its cryptoperiod, or earlier when the algorithm
   * policy disallows its algorithm first. Null once it no longer applies protection (deactivated,
   * compromised, destroyed).
   */
  rotateBy: z.string().nullable(),
  /**
   * Whether, by the core's clock, expiresAt has passed: the end of the key's originator-usage period (SP 800-57 §5.3).
   * Past it the key applies no new protection (no signature, no certificate); it still verifies, decrypts, unwraps,
   * signs revocation lists for what it issued, and may be rotated, deactivated, backed up or destroyed.
   */
  usagePeriodEnded: z.boolean(),
  /**
   * How a rotated key is kept to processing only: 'token' (the token refuses it sign, encrypt and
   * wrap) or 'custos' (the token would not change the key, so only Custos refuses); null if not rotated.
   */
  postOperational: z.enum(['token', 'custos']).nullable(),
  /**
   * What a destruction that failed half-way (the token pulled out, an error) left: the key's objects it destroyed and
   * those still in the token, by kind ("private key", "public key"). Such a key is never used again and its
   * destruction cannot be cancelled; a new destruction finishes it. Null when no destruction was cut short.
   */
  partlyDestroyed: PartialDestruction.nullable(),
});
export type KeyRecord = z.infer<typeof KeyRecord>;

/** A security officer's emergency change, and for a compromise the signed revocation notice it produced. */
export const EmergencyResult = KeyRecord.extend({
  revocationNotice: z.object({ id: z.string(), dir: z.string(), sha256: z.string() }).nullable(),
  /**
   * For a compromise: the CRL proposals made at once for the key's certificates that a CA here issued
   * (one per CA, revoking with keyCompromise), or why one could not be made. Absent otherwise.
   */
  revocationProposals: z
    .array(z.object({ issuerKeyId: z.string(), proposalId: z.string().nullable(), problem: z.string().nullable() }))
    .optional(),
});
export type EmergencyResult = z.infer<typeof EmergencyResult>;

export const PublicKeyExport = z.strictObject({
  keyId: z.string().regex(/^[0-9a-f]{32}$/),
  format: z.enum(['pem', 'jwk']),
  /** When named, the token the key is expected in: the export is refused if the key lives elsewhere. */
  token: TokenRef.strict().optional(),
});

/**
 * How people tell a key apart, the same in the app, the CLI and reports: its AES check value, its
 * public key's SHA-256 fingerprint, or, where the token could compute neither, plainly none.
 */
export function keyIdentity(key: { kcv: string | null; fingerprint: string | null }, full = false): string {
  if (key.kcv) return `KCV ${key.kcv}`;
  if (key.fingerprint) return `SHA-256 ${full ? key.fingerprint : `${key.fingerprint.slice(0, 16)}…`}`;
  return 'none (no check value: this key may not encrypt)';
}
