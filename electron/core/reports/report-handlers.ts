import { join } from 'node:path';
import type { ComplianceService } from '../compliance/compliance-service';
import type { Handlers } from '../ipc/router';
import type { AuditPlans } from '../ipc/request-record';
import { refuseExistingReport, type ReportService } from './report-service';
import type { ReportSummary } from '../../../shared/reports';
import type { ChooseDestination, Destination } from '../destinations';

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
  chooseDestination,
}: {
  reports: ReportService;
  compliance: Pick<ComplianceService, 'snapshot'>;
  dataDir: string;
  /** The folder the console named (the CLI: --out, replaced only with --force); else the data directory. */
  chooseDestination: ChooseDestination | undefined;
}): Pick<Handlers, ReportChannel> {
  return {
    'reports.list': () => reports.list(),
    'reports.create': (request) =>
      publishReport(
        reports,
        'compliance' in request ? { compliance: compliance.snapshot(request.compliance.asOf) } : request,
        dataDir,
        chooseDestination?.('report-folder') ?? null,
      ),
    'reports.witness': ({ ceremonyId, name, role }) => reports.witness(ceremonyId, name, role),
  };
}

/**
 * Signs a report and writes its files into the folder chosen at the console, else under the data directory's
 * reports. A chosen folder already holding a report is refused before the report is made, so a refusal leaves no
 * signed report behind.
 */
export async function publishReport(
  reports: ReportService,
  subject: Parameters<ReportService['create']>[0],
  dataDir: string,
  chosen: Destination | null,
): Promise<ReportSummary & { dir: string }> {
  if (chosen && !chosen.replace) refuseExistingReport(chosen.path);
  const summary = reports.create(subject);
  const dir = chosen?.path ?? join(dataDir, 'reports', summary.id);
  const written = await reports.exportTo(summary.id, dir, chosen?.replace ?? false);
  return { ...summary, dir: written.dir };
}
