import { createHash, verify } from 'node:crypto';
import type { ErrorCode } from '../../../shared/errors';
import { canonicalJson, sha256Hex } from '../canonical-json';
import { ed25519PublicKeyObject, parseCheckpoint, parseNote, verifyNote, type NoteKey } from '../audit/checkpoint';
import { leafHash, verifyConsistency, verifyInclusion } from '../audit/merkle';
import { REPORT_KIND, type CeremonyReport } from './ceremony-report';
import { recordsWitness, type WitnessEntry } from './witness-record';

export interface ReportVerdict {
  ok: boolean;
  reportId: string | null;
  type: string | null;
  entries: number;
  /** Each check that was made, in order, with its outcome. */
  checks: ReportCheck[];
}

/** One check; a failure with a code of its own says more than AUDIT_VERIFY_FAILED (a missing or changed PDF). */
export interface ReportCheck {
  check: string;
  ok: boolean;
  detail?: string;
  code?: ErrorCode;
  /** Not made (nothing to compare with): shown as such, and no failure. */
  skipped?: boolean;
}

/** The log a report's checkpoint is compared with: the live log, or one rebuilt from a later bundle. */
export interface LaterLog {
  size: number;
  root(size: number): Buffer;
  consistencyProof(first: number, second: number): Buffer[];
  source: string;
}

/**
 * Checks a report with nothing but its bytes, its signature and a trusted key: the signature over
 * the exact bytes, the checkpoint's signed note, every entry's signature and inclusion proof, and
 * — when a later log is given — that the checkpoint is consistent with it (no history rewritten).
 */
export function verifyReport(json: Buffer, signature: Buffer, key: NoteKey, later?: LaterLog): ReportVerdict {
  const checks: ReportVerdict['checks'] = [];
  const check = (name: string, ok: boolean, detail?: string) => {
    checks.push({ check: name, ok, ...(detail ? { detail } : {}) });
    return ok;
  };
  const publicKey = ed25519PublicKeyObject(key.publicKey);
  check(
    'report signature (Ed25519 over the exact bytes)',
    signature.length === 64 && verify(null, json, publicKey, signature),
  );
  let report: CeremonyReport;
  try {
    report = JSON.parse(json.toString('utf8')) as CeremonyReport;
    if (report.kind !== REPORT_KIND) throw new Error(`kind is ${String(report.kind)}`);
  } catch (error) {
    check('report format', false, (error as Error).message);
    return { ok: false, reportId: null, type: null, entries: 0, checks };
  }
  let size = 0;
  let root: Buffer = Buffer.alloc(0);
  try {
    const note = parseNote(report.audit.checkpoint);
    const verdict = verifyNote(note, key);
    const checkpoint = parseCheckpoint(note.text);
    size = checkpoint.size;
    root = checkpoint.root;
    check('checkpoint signed by the audit key', verdict.ok, verdict.ok ? undefined : verdict.reason);
    check(
      'checkpoint matches the report’s tree size and root',
      size === report.audit.treeSize && root.toString('base64') === report.audit.root,
    );
  } catch (error) {
    check('checkpoint format', false, (error as Error).message);
  }
  for (const e of report.audit.entries) {
    const bytes = Buffer.from(e.entry, 'utf8');
    const signed = verify(null, bytes, publicKey, Buffer.from(e.signature, 'base64'));
    const included = verifyInclusion(
      e.seq,
      size,
      leafHash(bytes),
      e.proof.map((p) => Buffer.from(p, 'base64')),
      root,
    );
    const seqMatches = (JSON.parse(e.entry) as { seq?: unknown }).seq === e.seq;
    check(
      `entry ${e.seq}: signature, inclusion in the checkpoint`,
      signed && included && seqMatches,
      !signed
        ? 'bad signature'
        : !included
          ? 'not in the checkpoint’s tree'
          : !seqMatches
            ? 'sequence number differs'
            : undefined,
    );
  }
  if (report.revocation) checkRevocationBinding(report, check);
  checkWitnesses(report, checks);
  if (later) {
    if (later.size < size) {
      check(
        `consistent with ${later.source}`,
        false,
        `that log has ${later.size} entries, fewer than the ${size} the report vouches for`,
      );
    } else {
      const consistent = verifyConsistency(
        size,
        later.size,
        root,
        later.root(later.size),
        later.consistencyProof(size, later.size),
      );
      check(
        `consistent with ${later.source} (${later.size} entries)`,
        consistent,
        consistent ? undefined : 'the log was rewritten after this report',
      );
    }
  }
  return {
    ok: checks.every((c) => c.ok),
    reportId: report.reportId,
    type: report.type,
    entries: report.audit.entries.length,
    checks,
  };
}

/**
 * A revocation notice's reason is the one the compromise entry recorded: that entry's params are the SHA-256 of the
 * canonical JSON of the notice's `bound` (the state left, `compromised`, the reason).
 */
function checkRevocationBinding(
  report: CeremonyReport,
  check: (name: string, ok: boolean, detail?: string) => boolean,
) {
  const notice = report.revocation!;
  const entry = report.audit.entries.find((e) => e.seq === notice.seq);
  const recorded = entry ? (JSON.parse(entry.entry) as { action?: unknown; object?: unknown; params?: unknown }) : null;
  const object = recorded?.object as { type?: unknown; id?: unknown } | undefined;
  const ok =
    recorded !== null &&
    recorded.action === 'key.compromise' &&
    object?.type === 'key' &&
    object.id === notice.key.id &&
    notice.bound.reason === notice.reason &&
    recorded.params === sha256Hex(canonicalJson(notice.bound));
  check(
    `revocation: entry ${notice.seq} records this key’s compromise with this reason`,
    ok,
    ok ? undefined : 'the notice’s key or reason is not the one the signed entry recorded',
  );
}

/**
 * Each witness sign-off is the one its `ceremony.witness` entry recorded on this ceremony (name, capacity and time in
 * its params hash). A report made before sign-offs carried their entry says so instead of passing them unchecked.
 */
function checkWitnesses(report: CeremonyReport, checks: ReportCheck[]) {
  const ceremonyId = report.ceremony?.id;
  for (const w of report.witnesses) {
    const name = `witness ${w.name} (${w.role}): recorded by a signed entry on this ceremony`;
    if (w.seq === undefined) {
      checks.push({ check: name, ok: true, skipped: true, detail: 'this report names no entry for it' });
      continue;
    }
    const entry = report.audit.entries.find((e) => e.seq === w.seq);
    const ok =
      entry !== undefined &&
      typeof ceremonyId === 'string' &&
      recordsWitness(JSON.parse(entry.entry) as WitnessEntry, ceremonyId, w);
    checks.push({
      check: name,
      ok,
      ...(ok ? {} : { detail: `entry ${w.seq} does not record this sign-off on this ceremony` }),
    });
  }
}

export const PDF_BINDING_KIND = 'custos-report-pdf';

/** What report-pdf.json says, signed: this PDF (by hash and size) was printed from this report.json. */
export function pdfBinding(reportId: string, reportSha256: string, pdf: Buffer) {
  const sha256 = createHash('sha256').update(pdf).digest('hex');
  return {
    kind: PDF_BINDING_KIND,
    v: 1,
    reportId,
    report: { file: 'report.json', sha256: reportSha256 },
    pdf: { file: 'report.pdf', sha256, bytes: pdf.length },
  };
}

/** The PDF side of a report folder: each file null when it is not there. */
export interface PdfFiles {
  pdf: Buffer | null;
  binding: Buffer | null;
  bindingSignature: Buffer | null;
}

/**
 * Checks that report.pdf is the one printed from this report.json: report-pdf.json is signed by
 * the audit key, names this report by its hash, and gives the PDF's SHA-256. A missing file is
 * REPORT_PDF_MISSING and a changed or foreign one REPORT_PDF_MISMATCH, each naming the file.
 */
export function verifyReportPdf(json: Buffer, files: PdfFiles, key: NoteKey): ReportCheck[] {
  const { pdf, binding, bindingSignature } = files;
  if (!pdf || !binding || !bindingSignature) {
    const names = { 'report.pdf': pdf, 'report-pdf.json': binding, 'report-pdf.sig': bindingSignature };
    const missing = Object.entries(names).flatMap(([name, bytes]) => (bytes ? [] : [name]));
    const detail = `${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} missing: the PDF cannot be checked`;
    return [{ check: 'report.pdf bound to this report', ok: false, code: 'REPORT_PDF_MISSING', detail }];
  }
  const checks: ReportCheck[] = [];
  const mismatch = (check: string, ok: boolean, detail: string) =>
    checks.push({ check, ok, ...(ok ? {} : { detail, code: 'REPORT_PDF_MISMATCH' as const }) });
  const publicKey = ed25519PublicKeyObject(key.publicKey);
  const signed = bindingSignature.length === 64 && verify(null, binding, publicKey, bindingSignature);
  mismatch('report-pdf.json signed by the audit key', signed, 'report-pdf.sig does not verify over report-pdf.json');
  let bound: ReturnType<typeof pdfBinding>;
  try {
    bound = JSON.parse(binding.toString('utf8')) as ReturnType<typeof pdfBinding>;
    if (bound.kind !== PDF_BINDING_KIND) throw new Error(`kind is ${String(bound.kind)}`);
  } catch (error) {
    mismatch('report-pdf.json format', false, (error as Error).message);
    return checks;
  }
  const reportSha256 = createHash('sha256').update(json).digest('hex');
  const otherReport = `report-pdf.json was made for another report (${String(bound.reportId)})`;
  mismatch('report-pdf.json names this report.json', bound.report?.sha256 === reportSha256, otherReport);
  const pdfSha256 = createHash('sha256').update(pdf).digest('hex');
  const changed = `report.pdf has SHA-256 ${pdfSha256}: it is not the PDF printed from this report`;
  mismatch(`report.pdf has the signed SHA-256 ${String(bound.pdf?.sha256)}`, bound.pdf?.sha256 === pdfSha256, changed);
  return checks;
}
