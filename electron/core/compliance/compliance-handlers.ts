import type { FactorProofs } from '../custodians/factor-proofs';
import type { Handlers } from '../ipc/router';
import { FACTOR_FAILURES, type AuditPlans } from '../ipc/request-record';
import type { ComplianceService } from './compliance-service';

type ComplianceChannel =
  | 'compliance.view'
  | 'compliance.controls'
  | 'compliance.practiceStatement'
  | 'compliance.recordValidation'
  | 'compliance.policyReviewed';

export const compliancePlan: AuditPlans<ComplianceChannel> = {
  'compliance.view': { action: 'compliance.view', self: false, params: true },
  'compliance.controls': { action: 'compliance.controls', self: false, params: false },
  'compliance.practiceStatement': { action: 'compliance.practice-statement', self: false, params: false },
  'compliance.recordValidation': {
    action: 'compliance.validation.record',
    self: true,
    params: false,
    selfFailures: FACTOR_FAILURES,
  },
  'compliance.policyReviewed': {
    action: 'compliance.policy-review',
    self: true,
    params: false,
    selfFailures: FACTOR_FAILURES,
  },
};

export function complianceHandlers({
  compliance,
  proveOfficer,
}: {
  compliance: ComplianceService;
  proveOfficer: FactorProofs['proveOfficer'];
}): Pick<Handlers, ComplianceChannel> {
  return {
    'compliance.view': ({ asOf }) => compliance.view(asOf),
    'compliance.controls': () => compliance.controls(),
    'compliance.practiceStatement': () => ({ markdown: compliance.practiceStatement() }),
    'compliance.recordValidation': async ({ officer, ...record }) => {
      compliance.refuseSoftwareModule(record.modulePath);
      return compliance.recordValidation(record, await proveOfficer(officer, 'record a module validation'));
    },
    'compliance.policyReviewed': async ({ officer }) =>
      compliance.recordPolicyReview(await proveOfficer(officer, 'record the policy review')),
  };
}
