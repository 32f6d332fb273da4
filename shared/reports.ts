import { z } from 'zod';
import { AsOfDay } from './compliance';

export const ReportSummary = z.object({
  id: z.string(),
  type: z.string(),
  ceremonyId: z.string().nullable(),
  createdAt: z.string(),
  sha256: z.string(),
});
export type ReportSummary = z.infer<typeof ReportSummary>;

/** A report of a closed ceremony (its proposal), or of the key inventory. */
export const ReportRequest = z.union([
  z.strictObject({ proposalId: z.string().regex(/^[0-9a-f]{16}$/) }),
  z.strictObject({ custodyId: z.string().regex(/^[0-9a-f]{16}$/) }),
  z.strictObject({ inventory: z.literal(true) }),
  z.strictObject({ compliance: z.strictObject({ asOf: AsOfDay.optional() }) }),
]);

/** A witness's sign-off on a ceremony: who, in which capacity. */
export const WitnessRequest = z.strictObject({
  ceremonyId: z.string().regex(/^[0-9a-f]{16}$/),
  name: z.string().trim().min(1).max(100),
  role: z.string().trim().min(1).max(100),
});

export const ControlStatus = z.object({
  control: z.string(),
  what: z.string(),
  evidence: z.array(z.string()),
  missing: z.array(z.string()),
});
export type ControlStatus = z.infer<typeof ControlStatus>;
