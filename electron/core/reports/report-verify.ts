import { createHash, verify } from 'node:crypto';
import type { ErrorCode } from '../../../shared/errors';
import { canonicalJson, sha256Hex } from '../canonical-json';
import { ed25519PublicKeyObject, parseCheckpoint, parseNote, verifyNote, type NoteKey } from '../audit/checkpoint';
import { leafHash, verifyConsistency, verifyInclusion } from '../audit/merkle';
import { z } from 'zod';
import { REPORT_KIND } from './ceremony-report';
import { runParams } from '../quorum/proposal-closure';
import { recordsWitness, type WitnessEntry } from './witness-record';
import { notJsonProblem } from './json-fault';
import { CardHolderFields, checkCardHolders } from './card-holder-check';
import { CeremonyQuorumFields, checkParticipants, ParticipantFields } from './participant-check';
import { checkFormatMarkers, FormatFields } from './format-check';
import { checkFingerprint } from './fingerprint-check';
import { checkRunStart, RunStartFields } from './run-start-check';
import { checkRunSteps } from './run-steps-check';
import { checkKeys, KeyFields } from './key-check';
import { checkKeysMade } from './key-made-check';
import { RUN_ACTIONS } from './key-record';
import { MAX_REPORT_DEPTH, nestsDeeper, parseCarriedJson } from './json-depth';

export interface ReportVerdict {
  ok: boolean;
  reportId: string | null;
  type: string | null;
  /** The report format report.json says it is in (`v`), or null when it could not be read. */
  format: number | null;
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
  const parsed = parseReportFile(json);
  if ('problem' in parsed) {
    check('report format', false, parsed.problem);
    return { ok: false, reportId: null, type: null, format: null, entries: 0, checks };
  }
  const { report } = parsed;
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
    const text = entryText(e.entry);
    const seqMatches = text?.seq === e.seq;
    check(
      `entry ${e.seq}: signature, inclusion in the checkpoint`,
      signed && included && seqMatches,
      text === null
        ? 'its text is not an audit entry (JSON with a seq)'
        : !signed
          ? 'bad signature'
          : !included
            ? 'not in the checkpoint’s tree'
            : !seqMatches
              ? 'sequence number differs'
              : undefined,
    );
  }
  if (report.revocation) checkRevocationBinding(report, check);
  checkFormatMarkers(report, checks);
  checkFingerprint(report, checks);
  checkOutcome(report, checks);
  checkWitnesses(report, checks);
  checkParticipants(report, checks);
  checkRunStart(report, checks);
  checkRunSteps(report, checks);
  checkCardHolders(report, checks);
  checkKeys(report, checks);
  checkKeysMade(report, checks);
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
    format: report.v,
    entries: report.audit.entries.length,
    checks,
  };
}

const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64');
const Seq = z.number().int().nonnegative();
/** The key a revocation notice or an impact report is about, as printed (key-made-check.ts ties it to the keys). */
const NamedKey = z.object({ id: z.string(), fingerprint: z.string().nullable(), kcv: z.string().nullable() });

/**
 * What the verifier reads of report.json, checked before use: a hostile or damaged file fails as AUDIT_VERIFY_FAILED
 * naming the field, never as an unexpected error. Other members pass unread (they are covered by the signature).
 */
const ReportFile = z.object({
  kind: z.literal(REPORT_KIND),
  ...FormatFields,
  reportId: z.string(),
  type: z.string(),
  installation: z.string(),
  auditKey: z.object({ name: z.string() }),
  ceremony: z
    .object({
      id: z.unknown(),
      action: z.string().optional(),
      fingerprint: z.string().optional(),
      state: z.string().optional(),
      outcome: z.unknown().optional(),
      // Reports made before it was carried have none; their outcome is then said to be unchecked.
      outcomeAsRecorded: z.string().optional(),
      // The exact proposal body the fingerprint hashes (format 2): its fields are the report's, recomputed.
      fingerprinted: z.string().optional(),
      token: z.unknown().optional(),
      expiresAt: z.unknown().optional(),
      ...CeremonyQuorumFields,
      ...CardHolderFields,
      ...RunStartFields,
    })
    .nullable(),
  ...ParticipantFields,
  ...KeyFields,
  // Reports made before sign-offs named their entry carry no seq.
  witnesses: z.array(z.object({ name: z.string(), role: z.string(), at: z.string(), seq: Seq.optional() })),
  audit: z.object({
    checkpoint: z.string(),
    treeSize: Seq,
    root: Base64,
    entries: z.array(z.object({ seq: Seq, entry: z.string(), signature: Base64, proof: z.array(Base64) })),
  }),
  revocation: z
    .object({
      seq: Seq,
      key: NamedKey.extend({ label: z.string(), algorithm: z.string() }),
      compromisedAt: z.string(),
      relyingParties: z.array(z.string()),
      reason: z.string(),
      bound: z.object({ from: z.string(), to: z.string(), reason: z.string() }),
      by: z.object({ id: z.string() }).optional(),
    })
    .optional(),
  impact: z.object({ key: NamedKey }).optional(),
});
export type ReportFile = z.infer<typeof ReportFile>;

/** report.json as the verifier reads it, or what is wrong with it: where, and what was found there. */
export function parseReportFile(json: Buffer): { report: ReportFile } | { problem: string } {
  const parsed = parseFile('report.json', json, ReportFile);
  return 'value' in parsed ? { report: parsed.value } : parsed;
}

function parseFile<T>(name: string, bytes: Buffer, schema: z.ZodType<T>): { value: T } | { problem: string } {
  let value: unknown;
  const text = bytes.toString('utf8');
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: notJsonProblem(name, text) };
  }
  if (nestsDeeper(value))
    return { problem: `${name} nests deeper than a report does (more than ${MAX_REPORT_DEPTH} levels)` };
  const parsed = schema.safeParse(value);
  return parsed.success ? { value: parsed.data } : { problem: `${name}: ${issuesInWords(parsed.error.issues)}` };
}

const issuesInWords = (issues: readonly z.core.$ZodIssue[]) =>
  issues
    .slice(0, 3)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : 'the file'}: ${i.message}`)
    .join('; ') + (issues.length > 3 ? ` (and ${issues.length - 3} more)` : '');

/** An entry's signed text, or null when it is not an audit entry's JSON (then its checks fail, naming it). */
function entryText(text: string): { seq: unknown; action?: unknown; object?: unknown; params?: unknown } | null {
  try {
    const value: unknown = parseCarriedJson(text);
    return typeof value === 'object' && value !== null && 'seq' in value ? value : null;
  } catch {
    return null;
  }
}

/**
 * The ceremony's outcome and state are the ones its run's signed entry recorded: that entry's params hash what ran,
 * its fingerprint, a failure's detail and the SHA-256 of the outcome exactly as stored (`outcomeAsRecorded`), which
 * must read as the report's `outcome`. A report made before it carried that string says so instead of passing.
 */
function checkOutcome(report: ReportFile, checks: ReportCheck[]) {
  const ceremony = report.ceremony;
  if (!ceremony || ceremony.outcome === undefined || ceremony.outcome === null) return;
  const name = 'outcome and state: the ones the run’s signed entry recorded';
  const fail = (detail: string) => checks.push({ check: name, ok: false, detail });
  const stored = ceremony.outcomeAsRecorded;
  if (stored === undefined) {
    checks.push({ check: name, ok: true, skipped: true, detail: 'this report predates carrying the stored outcome' });
    return;
  }
  let parsed: unknown;
  try {
    parsed = parseCarriedJson(stored);
  } catch {
    return fail('outcomeAsRecorded is not JSON');
  }
  if (canonicalJson(parsed) !== canonicalJson(ceremony.outcome))
    return fail('the outcome shown is not the outcome recorded');
  const run = report.audit.entries
    .map((e) => entryText(e.entry) as RunEntry | null)
    .filter((t) => t !== null && RUN_ACTIONS.has(String(t.action)) && t.object?.type === 'proposal')
    .findLast((t) => t!.object!.id === ceremony.id);
  if (!run) return fail('the report carries no entry recording the run');
  const state = run.result?.status === 'ok' ? 'executed' : run.result?.status === 'failed' ? 'failed' : null;
  if (state !== ceremony.state)
    return fail(`entry ${String(run.seq)} records the run ${String(state)}, not ${ceremony.state}`);
  const failure = state === 'failed' ? (parsed as { detail?: unknown }).detail : undefined;
  const params = runParams(String(ceremony.action), String(ceremony.fingerprint), stored, failure);
  const ok = run.params === sha256Hex(canonicalJson(params));
  if (!ok) return fail(`entry ${String(run.seq)} recorded another outcome, action or fingerprint`);
  checks.push({ check: name, ok: true });
}

interface RunEntry {
  seq?: unknown;
  action?: unknown;
  object?: { type?: unknown; id?: unknown };
  params?: unknown;
  result?: { status?: unknown };
}

/**
 * A revocation notice's reason is the one the compromise entry recorded: that entry's params are the SHA-256 of the
 * canonical JSON of the notice's `bound` (the state left, `compromised`, the reason).
 */
function checkRevocationBinding(report: ReportFile, check: (name: string, ok: boolean, detail?: string) => boolean) {
  const notice = report.revocation!;
  const entry = report.audit.entries.find((e) => e.seq === notice.seq);
  const recorded = entry ? entryText(entry.entry) : null;
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
function checkWitnesses(report: ReportFile, checks: ReportCheck[]) {
  const ceremonyId = report.ceremony?.id;
  for (const w of report.witnesses) {
    const name = `witness ${w.name} (${w.role}): recorded by a signed entry on this ceremony`;
    if (w.seq === undefined) {
      checks.push({ check: name, ok: true, skipped: true, detail: 'this report names no entry for it' });
      continue;
    }
    const entry = report.audit.entries.find((e) => e.seq === w.seq);
    const text = entry ? entryText(entry.entry) : null;
    const ok = text !== null && typeof ceremonyId === 'string' && recordsWitness(text as WitnessEntry, ceremonyId, w);
    checks.push({
      check: name,
      ok,
      ...(ok ? {} : { detail: `entry ${w.seq} does not record this sign-off on this ceremony` }),
    });
  }
}

/** An audit entry as a later log holds it: its signed text and signature. */
export interface SignedEntry {
  entry: string;
  signature: Buffer;
}

/** Whether an entry's text may be a `report.sign` of this report: a cheap look before any entry is parsed. */
export const mayRecordSigning = (entry: string, reportId: string) =>
  entry.includes('"report.sign"') && entry.includes(reportId);

/**
 * The report is the one Custos signed: its SHA-256 is the one the first `report.sign` entry of a later log (live, or a
 * bundle) recorded when it was signed (a report is signed once). Whoever holds the audit key can sign another
 * report.json under the same id, and append another such entry, but not change the first without rewriting the log
 * after the report's checkpoint.
 */
/** `entries` in log order. */
export function checkRecordedSigning(json: Buffer, reportId: string, entries: SignedEntry[], later: LaterSource) {
  const publicKey = ed25519PublicKeyObject(later.key.publicKey);
  const recorded = entries.flatMap(({ entry, signature }) => {
    const text = entryText(entry) as { action?: unknown; object?: { type?: unknown; id?: unknown }; params?: unknown };
    const about = text?.action === 'report.sign' && text.object?.type === 'report' && text.object.id === reportId;
    return about && signature.length === 64 && verify(null, Buffer.from(entry), publicKey, signature)
      ? [text.params]
      : [];
  });
  const sha256 = createHash('sha256').update(json).digest('hex');
  const ok = recorded.length > 0 && recorded[0] === sha256Hex(canonicalJson({ sha256 }));
  const detail =
    recorded.length === 0
      ? `${later.source} records no signing of report ${reportId}`
      : `${later.source} records report ${reportId} signed with another SHA-256 than this report.json's (${sha256}): ` +
        'it is not the report Custos signed';
  return { check: `report.json is the one ${later.source} records as signed`, ok, ...(ok ? {} : { detail }) };
}

/** Where the entries checkRecordedSigning reads come from, and the key they must be signed by. */
export interface LaterSource {
  source: string;
  key: NoteKey;
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
  /** `unreadSize`: not read, since its size is not the one the binding gives (see signedPdfBytes). */
  pdf: Buffer | { unreadSize: number } | null;
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
    const detail = `${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} missing or not a file: the PDF cannot be checked`;
    return [{ check: 'report.pdf bound to this report', ok: false, code: 'REPORT_PDF_MISSING', detail }];
  }
  const checks: ReportCheck[] = [];
  const mismatch = (check: string, ok: boolean, detail: string) =>
    checks.push({ check, ok, ...(ok ? {} : { detail, code: 'REPORT_PDF_MISMATCH' as const }) });
  const publicKey = ed25519PublicKeyObject(key.publicKey);
  const signed = bindingSignature.length === 64 && verify(null, binding, publicKey, bindingSignature);
  mismatch('report-pdf.json signed by the audit key', signed, 'report-pdf.sig does not verify over report-pdf.json');
  const bound = parseFile('report-pdf.json', binding, PdfBindingFile);
  if ('problem' in bound) {
    mismatch('report-pdf.json format', false, bound.problem);
    return checks;
  }
  const reportSha256 = createHash('sha256').update(json).digest('hex');
  const parsed = parseReportFile(json);
  // This report's own id, when report.json still says it: only then can the binding be said to be another's.
  const ownId = 'report' in parsed ? parsed.report.reportId : null;
  const otherReport =
    ownId !== null && ownId !== bound.value.reportId
      ? `report-pdf.json was made for another report (${bound.value.reportId})`
      : `report-pdf.json names a report.json with SHA-256 ${bound.value.report.sha256}, not this one ` +
        `(${reportSha256})${ownId === null ? '' : ': report.json was changed after its PDF was bound'}`;
  mismatch('report-pdf.json names this report.json', bound.value.report.sha256 === reportSha256, otherReport);
  if (!Buffer.isBuffer(pdf)) {
    const detail = `report.pdf is ${pdf.unreadSize} bytes, not the ${String(bound.value.pdf.bytes)} bound: it is not the PDF printed from this report (not read)`;
    mismatch(`report.pdf has the signed size`, false, detail);
    return checks;
  }
  const pdfSha256 = createHash('sha256').update(pdf).digest('hex');
  const signedPdf = bound.value.pdf.sha256;
  const changed = `report.pdf has SHA-256 ${pdfSha256}: it is not the PDF printed from this report`;
  mismatch(`report.pdf has the signed SHA-256 ${signedPdf}`, signedPdf === pdfSha256, changed);
  return checks;
}

const PdfBindingFile = z.object({
  kind: z.literal(PDF_BINDING_KIND),
  reportId: z.string(),
  report: z.object({ sha256: z.string() }),
  pdf: z.object({ sha256: z.string(), bytes: z.number().int().nonnegative().optional() }),
});

/** The PDF's size as report-pdf.json gives it, or null: compared before a hostile PDF of up to 1 GiB is read whole. */
export function signedPdfBytes(binding: Buffer | null): number | null {
  if (!binding) return null;
  const bound = parseFile('report-pdf.json', binding, PdfBindingFile);
  return 'value' in bound ? (bound.value.pdf.bytes ?? null) : null;
}
