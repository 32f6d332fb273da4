import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SYSTEM, type AuditService } from '../../core/audit/audit-service';
import { canonicalJson } from '../../core/canonical-json';
import { openAudit } from '../../core/testing/audit-fixture';

/**
 * What the holder of the audit key can do without rewriting anything: sign a wholly new report (a new id, its own
 * report.create and report.sign appended) about an old ceremony, with its participants edited.
 */
export function forgeNewReport(
  report: string,
  keyHolder: string,
  edit: (r: Record<string, unknown>) => Record<string, unknown>,
) {
  const original = JSON.parse(readFileSync(join(report, 'report.json'), 'utf8')) as Record<string, unknown>;
  const reportId = randomBytes(8).toString('hex');
  const binding = JSON.parse(readFileSync(join(report, 'report-pdf.json'), 'utf8')) as { report: object };
  const owner = openAudit(keyHolder);
  try {
    const object = { type: 'report', id: reportId };
    // A report without a ceremony (the inventory, a revocation notice, an impact report) names none.
    const ceremony = (original.ceremony as { id: string } | null)?.id ?? null;
    owner.audit.record({ actor: SYSTEM, action: 'report.create', object, params: { type: original.type, ceremony } });
    // As Custos makes one: a checkpoint signed after its report.create entry, every carried entry proven against it.
    const { note, treeSize } = owner.audit.checkpoint(`report ${reportId}`);
    const log = owner.audit.log();
    const edited = edit({ ...original, reportId });
    const audit = edited.audit as { entries: { seq: number; proof: string[] }[] };
    const entries = audit.entries.map((e) => ({
      ...e,
      proof: log.inclusionProof(e.seq, treeSize).map((h) => h.toString('base64')),
    }));
    const root = log.root(treeSize).toString('base64');
    const forged = { ...edited, audit: { ...audit, checkpoint: note, treeSize, root, entries } };
    const json = Buffer.from(canonicalJson(forged));
    const sha256 = createHash('sha256').update(json).digest('hex');
    const rebound = Buffer.from(canonicalJson({ ...binding, reportId, report: { ...binding.report, sha256 } }));
    owner.audit.record({ actor: SYSTEM, action: 'report.sign', object, params: { sha256 } });
    owner.audit.checkpoint(`report ${reportId} signed`);
    writeSigned(report, owner.audit, json, rebound);
  } finally {
    owner.close();
  }
}

/**
 * What the owner of an installation's audit key (its PIN file) can do to a report folder: edit report.json, and sign
 * it and its PDF binding again.
 */
export function resign(
  report: string,
  keyHolder: string,
  edit: (r: Record<string, unknown>) => Record<string, unknown>,
) {
  const json = Buffer.from(canonicalJson(edit(JSON.parse(readFileSync(join(report, 'report.json'), 'utf8')))));
  const binding = JSON.parse(readFileSync(join(report, 'report-pdf.json'), 'utf8')) as { report: object };
  const sha256 = createHash('sha256').update(json).digest('hex');
  const rebound = Buffer.from(canonicalJson({ ...binding, report: { ...binding.report, sha256 } }));
  const owner = openAudit(keyHolder);
  try {
    writeSigned(report, owner.audit, json, rebound);
  } finally {
    owner.close();
  }
}

/** report.json and its PDF binding, each beside the signature the key holder's audit key makes over it. */
function writeSigned(report: string, audit: Pick<AuditService, 'signDocument'>, json: Buffer, rebound: Buffer) {
  writeFileSync(join(report, 'report.json'), json);
  writeFileSync(join(report, 'report.sig'), audit.signDocument(json));
  writeFileSync(join(report, 'report-pdf.json'), rebound);
  writeFileSync(join(report, 'report-pdf.sig'), audit.signDocument(rebound));
}
