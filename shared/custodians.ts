import { z } from 'zod';

export const Role = z.enum(['custodian', 'security-officer', 'auditor']);
export type Role = z.infer<typeof Role>;

/** Passphrases travel renderer → main only, and are never echoed, logged or stored. */
const Passphrase = z.string().min(1).max(1024);
const TotpCode = z.string().regex(/^\d{6}$/, 'a 6-digit code');
const CustodianId = z.string().regex(/^[0-9a-f]{16}$/);

export const CustodianSummary = z.object({
  id: z.string(),
  name: z.string(),
  roles: z.array(Role),
  enrolledAt: z.string(),
  locked: z.boolean(),
  failures: z.number().int(),
  throttledUntil: z.string().nullable(),
  /** When the person was retired (left): their factors approve nothing from then on. Null while they serve. */
  retiredAt: z.string().nullable(),
});
export type CustodianSummary = z.infer<typeof CustodianSummary>;

export const FactorCheck = z.strictObject({ custodianId: CustodianId, passphrase: Passphrase, code: TotpCode });

export const EnrolmentRequest = z.strictObject({
  name: z
    .string()
    .trim()
    .min(2)
    .max(64)
    .regex(/^[\p{L}\p{N} .'-]+$/u, "letters, digits, spaces, . ' -"),
  roles: z.array(Role).min(1).max(3),
  passphrase: Passphrase,
  /**
   * The security officers approving the enrolment, both factors each: one, or two for a new
   * security officer once two exist. None only for the installation's first officer (setup).
   */
  officers: z.array(FactorCheck).max(2).optional(),
});

/** Shown once, at enrolment: the only time a TOTP secret leaves the main process. */
export const EnrolmentChallenge = z.object({
  enrolmentId: z.string(),
  name: z.string(),
  secret: z.string(),
  uri: z.string(),
  qrSvg: z.string(),
  expiresAt: z.string(),
});
export type EnrolmentChallenge = z.infer<typeof EnrolmentChallenge>;

export const EnrolmentConfirmation = z.strictObject({ enrolmentId: z.string().max(64), code: TotpCode });
/**
 * Retiring a person: the approving security officers' two factors each (one for a custodian or auditor, two for a
 * security officer; with one other officer, that officer's and the leaving officer's own).
 */
export const Retirement = z.strictObject({
  custodianId: CustodianId,
  officers: z.array(FactorCheck).min(1).max(2),
});
export const Unlock = z.strictObject({
  custodianId: CustodianId,
  officerId: CustodianId,
  passphrase: Passphrase,
  code: TotpCode,
});
