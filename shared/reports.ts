import { z } from 'zod';
import { AsOfDay } from './compliance';
import { readable, UNREADABLE_MESSAGE } from './pki';

export const ReportSummary = z.object({
  id: z.string(),
  type: z.string(),
  ceremonyId: z.string().nullable(),
  createdAt: z.string(),
  sha256: z.string(),
});
export type ReportSummary = z.infer<typeof ReportSummary>;

const KeyId = z.string().regex(/^[0-9a-f]{32}$/);

/**
 * A report of a closed ceremony (its proposal), of the key inventory, of compliance, or about a compromised key: its
 * revocation notice (made when it was marked compromised; asked again only when that failed) or the impact of its
 * compromise.
 */
export const ReportRequest = z.union([
  z.strictObject({ proposalId: z.string().regex(/^[0-9a-f]{16}$/) }),
  z.strictObject({ custodyId: z.string().regex(/^[0-9a-f]{16}$/) }),
  z.strictObject({ inventory: z.literal(true) }),
  z.strictObject({ compliance: z.strictObject({ asOf: AsOfDay.optional() }) }),
  z.strictObject({ revocation: z.strictObject({ keyId: KeyId }) }),
  z.strictObject({ impact: z.strictObject({ keyId: KeyId }) }),
]);

/**
 * A witness's sign-off on a ceremony: who, in which capacity. Readable text only, as key labels: a control or
 * direction character printed escaped on the PDF but stayed raw in report.json and the signed entry.
 */
export const WitnessRequest = z.strictObject({
  ceremonyId: z.string().regex(/^[0-9a-f]{16}$/),
  name: z.string().trim().min(1).max(100).refine(readable, UNREADABLE_MESSAGE),
  role: z.string().trim().min(1).max(100).refine(readable, UNREADABLE_MESSAGE),
});

export const ControlStatus = z.object({
  control: z.string(),
  what: z.string(),
  evidence: z.array(z.string()),
  missing: z.array(z.string()),
});
export type ControlStatus = z.infer<typeof ControlStatus>;
