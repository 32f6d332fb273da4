import type { ReportSummary } from '../../../shared/reports';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson, sha256Hex } from '../canonical-json';
import { CustosError, fileError } from '../errors';
import { writeFileAtomic } from '../secret-vault';
import { refuseTampered } from '../store/signed-state';
import { sql } from '../store/sql';
import {
  complianceReport,
  custodyReport,
  inventoryReport,
  proposalReport,
  signReport,
  type CeremonyReport,
} from './ceremony-report';
import { renderReportPdf } from './report-pdf';
import { parseReportFile, pdfBinding } from './report-verify';
import { witnessParams } from './witness-record';
import { compromiseImpact, revocationNotice, type CompromiseSources } from './revocation';

/**
 * Makes, keeps and exports signed reports: report.json, report.sig, audit-key.pem, report.pdf, and
 * report-pdf.json with report-pdf.sig, which bind that PDF to that report.
 */
export class ReportService {
  constructor(private readonly sources: CompromiseSources) {}

  /**
   * A report for a closed ceremony (by proposal id), of the key inventory or compliance, or about a compromised key:
   * its revocation notice, or the impact of its compromise.
   */
  create(
    subject:
      | { proposalId: string }
      | { custodyId: string }
      | { inventory: true }
      | { compliance: NonNullable<CeremonyReport['compliance']> }
      | { revocation: { keyId: string } }
      | { impact: { keyId: string } },
  ): ReportSummary {
    return this.keep(this.assemble(subject));
  }

  /** Signs, stores and records a report assembled here or by another folder (a ceremony script's run). */
  keep(report: CeremonyReport): ReportSummary {
    const { json, signature, sha256 } = signReport(this.sources.audit, report);
    const ceremonyId = (report.ceremony?.id as string | undefined) ?? null;
    const store = () =>
      this.sources.store.execute(sql`
        INSERT INTO reports (id, type, ceremony_id, created_at, sha256, json, signature)
        VALUES (${report.reportId}, ${report.type}, ${ceremonyId}, ${report.generatedAt}, ${sha256}, ${json.toString('utf8')}, ${signature})`);
    const object = { type: 'report', id: report.reportId };
    this.sources.store.transaction(() => {
      this.sources.audit.record({ actor: SYSTEM, action: 'report.sign', object, params: { sha256 } }, store);
      // The key's own entry says a notice exists: the analyzer reads it, and the key's history shows it.
      if (report.revocation) {
        const key = { type: 'key', id: report.revocation.key.id };
        const params = { reportId: report.reportId, sha256 };
        this.sources.audit.record({ actor: SYSTEM, action: 'key.revocation-notice', object: key, params });
      }
    });
    // The report's creation ends on an anchored checkpoint like every ceremony.
    this.sources.audit.checkpoint(`report ${report.reportId} signed`);
    return { id: report.reportId, type: report.type, ceremonyId, createdAt: report.generatedAt, sha256 };
  }

  private assemble(subject: Parameters<ReportService['create']>[0]): CeremonyReport {
    if ('proposalId' in subject) return proposalReport(this.sources, subject.proposalId);
    if ('custodyId' in subject) return custodyReport(this.sources, subject.custodyId);
    if ('compliance' in subject) return complianceReport(this.sources, subject.compliance);
    if ('revocation' in subject) return revocationNotice(this.sources, subject.revocation.keyId);
    if ('impact' in subject) return compromiseImpact(this.sources, subject.impact.keyId);
    return inventoryReport(this.sources);
  }

  /** A witness's sign-off on a ceremony (proposal or custody), recorded and carried into its reports. */
  witness(ceremonyId: string, name: string, role: string): { ceremonyId: string; name: string; role: string } {
    const known = this.sources.store.get(
      sql`SELECT 1 AS yes FROM proposals WHERE id = ${ceremonyId} UNION SELECT 1 FROM custody WHERE id = ${ceremonyId}`,
    );
    if (!known) throw new CustosError('PROPOSAL_NOT_FOUND', 'There is no ceremony with that id.');
    const at = this.sources.clock().toISOString();
    this.sources.audit.record(
      {
        actor: { type: 'system', id: 'system' },
        action: 'ceremony.witness',
        object: { type: 'ceremony', id: ceremonyId },
        params: witnessParams({ name, role, at }),
      },
      () =>
        this.sources.store.execute(
          sql`INSERT INTO witnesses (ceremony_id, name, role, signed_at) VALUES (${ceremonyId}, ${name}, ${role}, ${at})`,
        ),
    );
    return { ceremonyId, name, role };
  }

  list(): ReportSummary[] {
    return this.sources.store
      .all<{ id: string; type: string; ceremony_id: string | null; created_at: string; sha256: string }>(
        sql`SELECT id, type, ceremony_id, created_at, sha256 FROM reports ORDER BY created_at DESC`,
      )
      .map((r) => ({ id: r.id, type: r.type, ceremonyId: r.ceremony_id, createdAt: r.created_at, sha256: r.sha256 }));
  }

  /**
   * A kept report, only as the audit key signed it: its bytes verify under its signature, name this report and hash
   * to the stored SHA-256. One a database writer changed is refused (AUDIT_VERIFY_FAILED, recorded), so nothing
   * prints or binds a PDF to it.
   */
  stored(id: string): { report: CeremonyReport; json: Buffer; signature: Buffer; sha256: string } {
    const row = this.sources.store.get<{ json: string; signature: Buffer; sha256: string }>(
      sql`SELECT json, signature, sha256 FROM reports WHERE id = ${id}`,
    );
    if (!row) throw new CustosError('REPORT_NOT_FOUND', 'There is no such report.');
    const json = Buffer.from(row.json, 'utf8');
    const parsed = parseReportFile(json);
    const authentic =
      this.sources.audit.verifyDocument(json, row.signature) &&
      'report' in parsed &&
      parsed.report.reportId === id &&
      sha256Hex(json) === row.sha256;
    if (!authentic)
      refuseTampered(
        this.sources.audit,
        'AUDIT_VERIFY_FAILED',
        { type: 'report', id },
        `Stored report ${id}`,
        'forged',
      );
    return { report: JSON.parse(row.json) as CeremonyReport, json, signature: row.signature, sha256: row.sha256 };
  }

  /** Writes the four files into dir (created if needed) and records the export. */
  async exportTo(id: string, dir: string, overwrite = false): Promise<{ dir: string; files: string[] }> {
    if (!overwrite) refuseExistingReport(dir);
    const { report, json, signature, sha256 } = this.stored(id);
    const pem = this.sources.audit.publicKeyPem();
    const pdf = await renderReportPdf(report, sha256);
    // The PDF is rendered from the signed report, so its hash is signed afterwards, in a companion.
    const binding = Buffer.from(canonicalJson(pdfBinding(report.reportId, sha256, pdf)), 'utf8');
    const files: Record<(typeof REPORT_FILES)[number], Buffer> = {
      'report.json': json,
      'report.sig': signature,
      'audit-key.pem': Buffer.from(pem),
      'report.pdf': pdf,
      'report-pdf.json': binding,
      'report-pdf.sig': this.sources.audit.signDocument(binding),
    };
    try {
      mkdirSync(dir, { recursive: true });
      for (const [name, bytes] of Object.entries(files)) writeFileAtomic(join(dir, name), bytes, 0o644);
    } catch (error) {
      // A folder that cannot be made or written (a full disk, a file in its place): said as such, not INTERNAL.
      throw fileError(error) ?? error;
    }
    const pdfSha256 = createHash('sha256').update(pdf).digest('hex');
    const object = { type: 'report', id };
    this.sources.audit.record({ actor: SYSTEM, action: 'report.export', object, params: { sha256, pdfSha256 } });
    this.sources.audit.checkpoint(`report ${id} exported`);
    return { dir, files: Object.keys(files) };
  }
}

const SYSTEM = { type: 'system', id: 'system' } as const;
const REPORT_FILES = [
  'report.json',
  'report.sig',
  'audit-key.pem',
  'report.pdf',
  'report-pdf.json',
  'report-pdf.sig',
] as const;

/**
 * A folder that already holds a report is not overwritten unless asked: a signed report someone
 * already printed or handed on would silently change under them.
 */
export function refuseExistingReport(dir: string): void {
  const there = REPORT_FILES.filter((name) => existsSync(join(dir, name)));
  if (there.length === 0) return;
  throw new CustosError(
    'FILE_EXISTS',
    `${dir} already holds a report (${there.join(', ')}); nothing was written or signed.`,
    ['Choose another folder, or pass --force to replace that report.'],
  );
}
