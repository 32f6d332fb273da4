import { join } from 'node:path';
import type { AuditActor } from '../../../shared/audit';
import type { FactorProofs } from '../custodians/factor-proofs';
import type { ChooseDestination } from '../destinations';
import type { Handlers } from '../ipc/router';
import { FACTOR_FAILURES, type AuditPlans } from '../ipc/request-record';
import type { ComplianceService } from './compliance-service';

type ComplianceChannel =
  | 'compliance.view'
  | 'compliance.controls'
  | 'compliance.practiceStatement'
  | 'compliance.writePracticeStatement'
  | 'compliance.recordValidation'
  | 'compliance.policyReviewed';

export const compliancePlan: AuditPlans<ComplianceChannel> = {
  'compliance.view': { action: 'compliance.view', self: false, params: true },
  'compliance.controls': { action: 'compliance.controls', self: false, params: false },
  'compliance.practiceStatement': { action: 'compliance.practice-statement', self: false, params: false },
  // The entry names the folder and both files' SHA-256; a refusal (a folder already holding one) is recorded too.
  'compliance.writePracticeStatement': { action: 'compliance.practice-statement.write', self: true, params: false },
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
  actor,
  dataDir,
  clock,
  chooseDestination,
}: {
  compliance: ComplianceService;
  proveOfficer: FactorProofs['proveOfficer'];
  actor: AuditActor;
  dataDir: string;
  clock: () => Date;
  /** The folder the console named (the CLI: --out, replaced only with --force); else a new one in the data dir. */
  chooseDestination: ChooseDestination | undefined;
}): Pick<Handlers, ComplianceChannel> {
  return {
    'compliance.view': ({ asOf }) => compliance.view(asOf),
    'compliance.controls': () => compliance.controls(),
    'compliance.practiceStatement': () => ({ markdown: compliance.practiceStatement() }),
    'compliance.writePracticeStatement': () => {
      const chosen = chooseDestination?.('practice-statement') ?? null;
      const stamp = clock().toISOString().replace(/[:.]/g, '-');
      const dir = chosen?.path ?? join(dataDir, 'practice-statements', stamp);
      return compliance.writePracticeStatement(dir, chosen?.replace ?? false, actor);
    },
    'compliance.recordValidation': async ({ officer, ...record }) => {
      compliance.refuseSoftwareModule(record.modulePath);
      return compliance.recordValidation(record, await proveOfficer(officer, 'record a module validation'));
    },
    'compliance.policyReviewed': async ({ officer }) =>
      compliance.recordPolicyReview(await proveOfficer(officer, 'record the policy review')),
  };
}
