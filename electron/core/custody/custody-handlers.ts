import type { CustodianService } from '../custodians/custodian-service';
import type { Handlers } from '../ipc/router';
import { FACTOR_FAILURES, type AuditPlans } from '../ipc/request-record';
import type { TokenService } from '../tokens/token-service';
import type { CustodyService } from './custody-service';

type CustodyChannel = 'custody.list' | 'custody.take' | 'custody.settle';

export const custodyPlan: AuditPlans<CustodyChannel> = {
  'custody.list': { action: 'custody.list', self: false, params: false },
  'custody.take': {
    action: 'custody.take',
    self: true,
    params: false,
    selfFailures: [...FACTOR_FAILURES, 'TOKEN_IN_CUSTODY'],
  },
  'custody.settle': {
    action: 'custody.settle',
    self: true,
    params: false,
    selfFailures: [...FACTOR_FAILURES, 'CUSTODY_HALF_CHANGED'],
  },
};

export function custodyHandlers({
  custody,
  custodians,
  tokens,
}: {
  custody: CustodyService;
  custodians: CustodianService;
  tokens: TokenService;
}): Pick<Handlers, CustodyChannel> {
  /** Each custody with its holders by name, as a person reads it. */
  const custodyViews = () => {
    const names = new Map(custodians.list().map((c) => [c.id, c.name]));
    return custody.list().map(({ holderIds, ...record }) => ({
      ...record,
      holders: holderIds.map((id) => ({ id, name: names.get(id) ?? id })).sort((a, b) => a.name.localeCompare(b.name)),
    }));
  };
  return {
    'custody.list': () => custodyViews(),
    'custody.take': async (request) => {
      const record = await custody.take({
        token: request.token,
        threshold: request.threshold,
        holders: request.holders,
        ...(request.currentSoPin ? { currentSoPin: request.currentSoPin } : {}),
        ...(request.label ? { label: request.label } : {}),
        ...(request.pinAlphabet ? { pinAlphabet: request.pinAlphabet } : {}),
      });
      tokens.refresh();
      return custodyViews().find((c) => c.id === record.id)!;
    },
    'custody.settle': async ({ custodyId, holders }) => {
      const { outcome } = await custody.settle(custodyId, holders);
      return { outcome, custody: custodyViews().find((c) => c.id === custodyId)! };
    },
  };
}
