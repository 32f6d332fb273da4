import type { Handlers } from '../ipc/router';
import { FACTOR_FAILURES, type AuditPlans } from '../ipc/request-record';
import { CustosError } from '../errors';
import type { CeremonyRuns } from './ceremony-runs';
import type { PlannedCeremonies } from './planned';
import type { RehearsalHost } from './rehearsal-host';

type CeremonyChannel =
  | 'ceremonies.lint'
  | 'ceremonies.runs'
  | 'ceremonies.run'
  | 'ceremonies.start'
  | 'ceremonies.perform'
  | 'ceremonies.witness'
  | 'ceremonies.finish'
  | 'ceremonies.abort'
  | 'ceremonies.setPolicy'
  | 'ceremonies.plan'
  | 'ceremonies.planned'
  | 'ceremonies.withdrawPlan';

// The run records its own entry for every step; what it refuses before that is recorded here.
const RUN_FAILURES = [...FACTOR_FAILURES];

export const ceremonyPlan: AuditPlans<CeremonyChannel> = {
  'ceremonies.lint': { action: 'ceremony.lint', self: false, params: true },
  'ceremonies.runs': { action: 'ceremony.list', self: false, params: false },
  'ceremonies.run': { action: 'ceremony.read', self: false, params: true },
  'ceremonies.start': { action: 'ceremony.start', self: true, params: false, selfFailures: RUN_FAILURES },
  'ceremonies.perform': { action: 'ceremony.perform', self: true, params: false, selfFailures: RUN_FAILURES },
  'ceremonies.witness': { action: 'ceremony.witness', self: true, params: false, selfFailures: RUN_FAILURES },
  // The run records its finish itself; a refusal (a report that cannot be made) is recorded here.
  'ceremonies.finish': { action: 'ceremony.finish', self: false, params: true },
  'ceremonies.abort': { action: 'ceremony.abort', self: true, params: false, selfFailures: RUN_FAILURES },
  'ceremonies.setPolicy': { action: 'ceremony.policy', self: true, params: false, selfFailures: RUN_FAILURES },
  'ceremonies.plan': { action: 'ceremony.plan', self: true, params: true },
  'ceremonies.planned': { action: 'ceremony.planned', self: false, params: false },
  'ceremonies.withdrawPlan': { action: 'ceremony.withdraw', self: true, params: true },
};

export function ceremonyHandlers({
  runs,
  plans,
}: {
  runs: CeremonyRuns;
  plans: PlannedCeremonies;
}): Pick<Handlers, CeremonyChannel> {
  return {
    'ceremonies.lint': ({ script }) => runs.lint(script),
    'ceremonies.runs': () => runs.list(),
    'ceremonies.run': ({ runId }) => runs.view(runId),
    'ceremonies.start': ({ script, administrator }) => runs.start(script, administrator),
    'ceremonies.perform': (request) => runs.perform(request),
    'ceremonies.witness': ({ runId, stepId, witness }) => runs.witness(runId, stepId, witness),
    'ceremonies.finish': ({ runId }) => runs.finish(runId),
    'ceremonies.abort': ({ runId, by, reason }) => runs.abort(runId, by, reason),
    'ceremonies.setPolicy': ({ requireRehearsal, officer }) => runs.setPolicy(requireRehearsal, officer),
    'ceremonies.plan': ({ script }) => plans.plan(script),
    'ceremonies.planned': () => plans.list(),
    'ceremonies.withdrawPlan': ({ sha256 }) => plans.withdraw(sha256),
  };
}

type RehearsalChannel =
  'rehearsals.status' | 'rehearsals.start' | 'rehearsals.takeCustody' | 'rehearsals.proposeStandIns' | 'rehearsals.end';

export const rehearsalPlan: AuditPlans<RehearsalChannel> = {
  'rehearsals.status': { action: 'ceremony.rehearsal.status', self: false, params: false },
  // The script is hashed into the entry; its title and hash are recorded again with the outcome.
  'rehearsals.start': { action: 'ceremony.rehearsal.start', self: false, params: true },
  'rehearsals.takeCustody': { action: 'ceremony.rehearsal.custody', self: false, params: false },
  'rehearsals.proposeStandIns': { action: 'ceremony.rehearsal.stand-ins', self: false, params: false },
  // The outcome is recorded by the rehearsal's end (ceremony.rehearsal).
  'rehearsals.end': { action: 'ceremony.rehearsal.end', self: true, params: false },
};

/** Without a way to start a rehearsal process (the CLI has `custos ceremony rehearse` instead), none is ever active. */
export function rehearsalHandlers(host: RehearsalHost | null): Pick<Handlers, RehearsalChannel> {
  const required = () => {
    if (!host)
      throw new CustosError('REHEARSAL_NOT_ACTIVE', 'Rehearsals cannot be opened from here.', [
        'Run custos ceremony rehearse FILE instead.',
      ]);
    return host;
  };
  return {
    'rehearsals.status': () => host?.status() ?? { active: null, last: null },
    'rehearsals.start': ({ script }) => required().start(script),
    'rehearsals.takeCustody': ({ holders }) => required().takeCustody(holders),
    'rehearsals.proposeStandIns': ({ proposer }) => required().proposeStandIns(proposer),
    'rehearsals.end': () => required().end(),
  };
}
