import type { Handlers } from '../ipc/router';
import { FACTOR_FAILURES, type AuditPlans } from '../ipc/request-record';
import type { CustodianService } from './custodian-service';

type CustodianChannel =
  | 'custodians.list'
  | 'custodians.enrolBegin'
  | 'custodians.enrolConfirm'
  | 'custodians.enrolCancel'
  | 'custodians.check'
  | 'custodians.unlock'
  | 'custodians.retire';

export const custodianPlan: AuditPlans<CustodianChannel> = {
  'custodians.list': { action: 'custodian.list', self: false, params: false },
  'custodians.enrolBegin': {
    action: 'custodian.enrol.begin',
    self: false,
    params: false,
    selfFailures: FACTOR_FAILURES,
  },
  'custodians.enrolConfirm': { action: 'custodian.enrol', self: true, params: false },
  'custodians.enrolCancel': { action: 'custodian.enrol.cancel', self: false, params: false },
  'custodians.check': { action: 'custodian.factor.verify', self: true, params: false, selfFailures: FACTOR_FAILURES },
  'custodians.unlock': { action: 'custodian.unlock', self: true, params: false, selfFailures: FACTOR_FAILURES },
  // The service records its own refusals (who, which approvers, why) as signed custodian.retire entries.
  'custodians.retire': {
    action: 'custodian.retire',
    self: true,
    params: false,
    selfFailures: [...FACTOR_FAILURES, 'NOT_AUTHORIZED', 'CUSTODIAN_STILL_HOLDS', 'CUSTODIAN_LAST_OFFICER'],
  },
};

export function custodianHandlers({ custodians }: { custodians: CustodianService }): Pick<Handlers, CustodianChannel> {
  return {
    'custodians.list': () => custodians.list(),
    'custodians.enrolBegin': (request) => custodians.beginEnrolment(request),
    'custodians.enrolConfirm': ({ enrolmentId, code }) => custodians.confirmEnrolment(enrolmentId, code),
    'custodians.enrolCancel': ({ enrolmentId }) => {
      custodians.cancelEnrolment(enrolmentId);
      return { cancelled: true as const };
    },
    'custodians.check': async ({ custodianId, passphrase, code }) => {
      (await custodians.verifyFactors(custodianId, passphrase, code, 'self-check')).fill(0);
      return { ok: true as const };
    },
    'custodians.unlock': ({ custodianId, officerId, passphrase, code }) =>
      custodians.unlock(custodianId, officerId, passphrase, code),
    'custodians.retire': ({ custodianId, officers }) => custodians.retire(custodianId, officers),
  };
}
