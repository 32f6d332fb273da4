import { z } from 'zod';
import type { CeremonyOperation } from '../quorum/quorum-service';
import type { CustodyService } from './custody-service';

const Id16 = z.string().regex(/^[0-9a-f]{16}$/);

/** Who holds the token after a turnover, and how many of them it takes. */
export const RedealParams = z
  .strictObject({ threshold: z.number().int().min(2).max(16), holders: z.array(Id16).min(2).max(16) })
  .refine((p) => new Set(p.holders).size === p.holders.length, { message: 'Each custodian can hold only one share.', path: ['holders'] })
  .refine((p) => p.threshold <= p.holders.length, { message: 'The threshold cannot exceed the number of holders.', path: ['threshold'] });

/**
 * Custodian turnover (add, remove, replace, change t) as a quorum action: the current holders
 * rebuild the SO PIN, every new holder confirms with both factors, and the token is re-dealt.
 */
export function turnover(custody: CustodyService): CeremonyOperation {
  return {
    pins: ['so'],
    newHolders: (params) => RedealParams.parse(params).holders,
    run: async ({ pins, holderKeys, params, custodyId }) => {
      const { threshold, holders } = RedealParams.parse(params);
      // Deal in the order the proposal names the holders, so the record reads as approved.
      const keys = holders.map((id) => holderKeys.find((k) => k.custodianId === id)!);
      const record = await custody.redeal(custodyId, pins.so!, keys, threshold);
      return { result: { custodyId: record.id, replaces: custodyId, threshold: record.threshold, holders } };
    },
  };
}
