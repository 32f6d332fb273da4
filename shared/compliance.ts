import { z } from 'zod';
import { FactorProof } from './quorum';
import { ModulePath } from './tokens';

export const Severity = z.enum(['critical', 'high', 'medium', 'low', 'info']);
export type Severity = z.infer<typeof Severity>;

/** One shortcoming the policy analyzer found, with what shows it and what fixes it. */
export const Finding = z.object({
  /** Stable rule id, e.g. QUORUM_T_EQUALS_N; one finding per rule and subject. */
  rule: z.string(),
  subject: z.string(),
  severity: Severity,
  title: z.string(),
  evidence: z.array(z.string()),
  fix: z.string(),
  /** Controls this bears on: "NIST SP 800-53 SC-12", "PCI DSS 4.0 3.7.4"… */
  controls: z.array(z.string()),
});
export type Finding = z.infer<typeof Finding>;

export const ComplianceView = z.object({
  asOf: z.string(),
  findings: z.array(Finding),
  keysByState: z.record(z.string(), z.number().int()),
  expiries: z.array(z.object({ id: z.string(), label: z.string(), expiresAt: z.string(), state: z.string() })),
  modules: z.array(z.object({ path: z.string(), description: z.string(), validation: z.string() })),
});
export type ComplianceView = z.infer<typeof ComplianceView>;

/** A day on the calendar (YYYY-MM-DD): 2026-02-30 is refused, not read as 2 March. */
export const AsOfDay = z.iso.date();
export const ComplianceRequest = z.strictObject({ asOf: AsOfDay.optional() });
export const ValidationRecord = z.strictObject({
  modulePath: ModulePath,
  standard: z.enum(['FIPS 140-3', 'FIPS 140-2']),
  certificate: z.string().trim().min(1).max(32),
  level: z.number().int().min(1).max(4),
});
export type ValidationRecord = z.infer<typeof ValidationRecord>;

/** The practice statement draft written as practice-statement.md and practice-statement.pdf, each with its SHA-256. */
export const PracticeStatementFiles = z.object({
  dir: z.string(),
  files: z.array(z.object({ name: z.string(), sha256: z.string() })),
});
export type PracticeStatementFiles = z.infer<typeof PracticeStatementFiles>;

/** Compliance evidence is recorded by a security officer proving both factors. */
export const ValidationRequest = ValidationRecord.extend({ officer: FactorProof });
export const PolicyReviewRequest = z.strictObject({ officer: FactorProof });
