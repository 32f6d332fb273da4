import { RedealParams } from '../../../shared/actions';
import { CustosError } from '../errors';
import type { CeremonyOperation, QuorumReconciler } from '../quorum/quorum-service';
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

/**
 * A turnover a crash cut off: its new custody was journaled (pending) before the token's PINs changed, so the token may
 * now take the new PINs, one of them, or neither. Closed as failed in those words, naming the custody to settle; the
 * generic "nothing was registered" would hide that the custody shown in force may no longer open the token.
 */
export function reconcileTurnover(custody: CustodyService): QuorumReconciler {
  return ({ token }) => {
    const pending = custody
      .list()
      .find((c) => c.state === 'pending' && c.token.serial === token.serial && c.token.label === token.label);
    if (!pending) return null;
    throw new CustosError(
      'OPERATION_INTERRUPTED',
      `Custos stopped while it dealt the token's new PINs. The new custody ${pending.id} is pending: the token may ` +
        'now take its PINs, one of them, or neither, so the custody shown in force may no longer open it.',
      [
        `Settle the pending custody: ${pending.threshold} of its holders give their factors (the Ceremonies screen, ` +
          'under “Waiting for someone”, or custos custody settle); it says which PINs the token took.',
      ],
    );
  };
}
