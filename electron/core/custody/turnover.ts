import { RedealParams } from '../../../shared/actions';
import type { CeremonyOperation } from '../quorum/quorum-service';
import type { CustodyService } from './custody-service';

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
