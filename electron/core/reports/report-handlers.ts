import { join } from 'node:path';
import type { ComplianceService } from '../compliance/compliance-service';
import type { Handlers } from '../ipc/router';
import type { AuditPlans } from '../ipc/request-record';
import type { ReportService } from './report-service';

type ReportChannel = 'reports.list' | 'reports.create' | 'reports.witness';

export const reportPlan: AuditPlans<ReportChannel> = {
  'reports.list': { action: 'report.list', self: false, params: false },
  'reports.create': { action: 'report.create', self: true, params: true },
  'reports.witness': { action: 'ceremony.witness', self: true, params: true },
};

export function reportHandlers({
  reports,
  compliance,
  dataDir,
}: {
  reports: ReportService;
  compliance: Pick<ComplianceService, 'snapshot'>;
  dataDir: string;
}): Pick<Handlers, ReportChannel> {
  return {
    'reports.list': () => reports.list(),
    'reports.create': async (request) => {
      const summary = reports.create(
        'compliance' in request ? { compliance: compliance.snapshot(request.compliance.asOf) } : request,
      );
      const dir = join(dataDir, 'reports', summary.id);
      await reports.exportTo(summary.id, dir);
      return { ...summary, dir };
    },
    'reports.witness': ({ ceremonyId, name, role }) => reports.witness(ceremonyId, name, role),
  };
}
