import type { Handlers } from '../ipc/router';
import { FACTOR_FAILURES, type AuditPlans } from '../ipc/request-record';
import type { CeremonyRuns } from './ceremony-runs';

type CeremonyChannel =
  | 'ceremonies.lint'
  | 'ceremonies.runs'
  | 'ceremonies.run'
  | 'ceremonies.start'
  | 'ceremonies.perform'
  | 'ceremonies.witness'
  | 'ceremonies.abort'
  | 'ceremonies.setPolicy';

// The run records its own entry for every step; what it refuses before that is recorded here.
const RUN_FAILURES = [...FACTOR_FAILURES];

export const ceremonyPlan: AuditPlans<CeremonyChannel> = {
  'ceremonies.lint': { action: 'ceremony.lint', self: false, params: true },
  'ceremonies.runs': { action: 'ceremony.list', self: false, params: false },
  'ceremonies.run': { action: 'ceremony.read', self: false, params: true },
  'ceremonies.start': { action: 'ceremony.start', self: true, params: false, selfFailures: RUN_FAILURES },
  'ceremonies.perform': { action: 'ceremony.perform', self: true, params: false, selfFailures: RUN_FAILURES },
  'ceremonies.witness': { action: 'ceremony.witness', self: true, params: false, selfFailures: RUN_FAILURES },
  'ceremonies.abort': { action: 'ceremony.abort', self: true, params: false, selfFailures: RUN_FAILURES },
  'ceremonies.setPolicy': { action: 'ceremony.policy', self: true, params: false, selfFailures: RUN_FAILURES },
};

export function ceremonyHandlers({ runs }: { runs: CeremonyRuns }): Pick<Handlers, CeremonyChannel> {
  return {
    'ceremonies.lint': ({ script }) => runs.lint(script),
    'ceremonies.runs': () => runs.list(),
    'ceremonies.run': ({ runId }) => runs.view(runId),
    'ceremonies.start': ({ script, administrator }) => runs.start(script, administrator),
    'ceremonies.perform': (request) => runs.perform(request),
    'ceremonies.witness': ({ runId, stepId, witness }) => runs.witness(runId, stepId, witness),
    'ceremonies.abort': ({ runId, by, reason }) => runs.abort(runId, by, reason),
    'ceremonies.setPolicy': ({ requireRehearsal, officer }) => runs.setPolicy(requireRehearsal, officer),
  };
}
