import { z } from 'zod';
import { ceremonyOnRecord, said, signedWithin } from './participant-check';
import type { PartEntry } from './participant-record';
import { declaredFormat, REPORT_FORMAT } from '../audit/report-format';
import type { LaterSource, ReportCheck, SignedEntry } from './report-verify';

/** The members of report.json the format checks read (report-verify.ts's ReportFile holds them). */
export const FormatFields = { v: z.number().int() };

interface FormatReport {
  v: number;
  reportId: string;
  audit: { treeSize: number; entries: { entry: string }[] };
  ceremony: {
    id: unknown;
    action?: string;
    fingerprint?: string;
    outcome?: unknown;
    outcomeAsRecorded?: string;
    fingerprinted?: string;
    custody?: unknown;
    custodyBegun?: unknown;
    listsHolderConfirmations?: true;
    cardHolders?: { seq?: number | null }[];
    cardsForgotten?: unknown;
    runEvents?: unknown;
    steps?: unknown;
  } | null;
  participants?: { seq?: number }[];
  witnesses: { seq?: number }[];
  revocation?: unknown;
  keys?: { recordedBy?: unknown }[];
}

type RunStep = { proposalId?: unknown; state?: unknown; action?: unknown; outcomeAsRecorded?: unknown } | null;

const markers = (v: number) => `report format: every marker its kind carries in format ${v}`;

/**
 * A report in format 2 or later carries every marker the checks of its kind read in its format: one that leaves any
 * out is no report this code made, never "an older report" whose checks are NOT CHECKED. A format-1 report passes
 * here, and a format-2 report without the markers format 3 added; with a later log, checkFormatInLog says whether the
 * report may be in that format.
 */
export function checkFormatMarkers(report: FormatReport, checks: ReportCheck[]): void {
  if (!Number.isInteger(report.v) || report.v < 1 || report.v > REPORT_FORMAT) {
    checks.push({ check: markers(REPORT_FORMAT), ok: false, detail: `v is ${report.v}: no such report format` });
    return;
  }
  if (report.v === 1) return;
  const missing = missingMarkers(report);
  checks.push({
    check: markers(report.v),
    ok: missing.length === 0,
    ...(missing.length ? { detail: `a format-${report.v} report without ${said(missing)}` } : {}),
  });
}

function missingMarkers(report: FormatReport): string[] {
  const missing: string[] = [];
  const each = (list: { seq?: unknown }[] | undefined, field: string) => {
    const i = (list ?? []).findIndex((item) => item.seq === undefined);
    if (i >= 0) missing.push(`${field}.${i}.seq`);
  };
  each(report.witnesses, 'witnesses');
  const c = report.ceremony;
  if (report.revocation !== undefined) each(report.participants, 'participants');
  // Format 3: each key of a report without a ceremony names the signed run that made it, or says none does (null).
  if (!c && report.v >= 3) {
    const i = (report.keys ?? []).findIndex((key) => key.recordedBy === undefined);
    if (i >= 0) missing.push(`keys.${i}.recordedBy`);
  }
  if (!c) return missing;
  const need = (present: boolean, field: string) => {
    if (!present) missing.push(`ceremony.${field}`);
  };
  // A script run's performers and witnesses name their entries, whose params its events are (the first its start's).
  // Its entries say it is one, whatever its action: relabelled a custody's, it would need no events.
  if (c.action === 'ceremony.script-run' || ceremonyOnRecord(report) === 'ceremony-run') {
    each(report.participants, 'participants');
    need(Array.isArray(c.runEvents), 'runEvents');
    // Format 3: a quorum step carries its action, and once carried out its outcome as stored, which the run's keys are
    // checked against. A format-2 report made before it carried them says those steps' keys NOT CHECKED.
    const steps = Array.isArray(c.steps) && report.v >= 3 ? (c.steps as RunStep[]) : [];
    steps.forEach((step, i) => {
      if (typeof step?.proposalId !== 'string') return;
      need(typeof step.action === 'string', `steps.${i}.action`);
      if (step.state === 'done' || step.state === 'performed')
        need(typeof step.outcomeAsRecorded === 'string', `steps.${i}.outcomeAsRecorded`);
    });
    return missing;
  }
  need(c.custodyBegun !== undefined, 'custodyBegun');
  // A custody begun before its entry bound the holders says `custodyBegun: null`; its holders then name no entry.
  if (c.action === 'custody.take') {
    if (c.custodyBegun !== null) each(report.participants, 'participants');
    return missing;
  }
  each(report.participants, 'participants');
  need(typeof c.fingerprint === 'string', 'fingerprint');
  need(typeof c.fingerprinted === 'string', 'fingerprinted');
  need(c.listsHolderConfirmations === true, 'listsHolderConfirmations');
  need(c.outcome === null || c.outcome === undefined || typeof c.outcomeAsRecorded === 'string', 'outcomeAsRecorded');
  const setId = (c.outcome as { result?: { setId?: unknown } } | null | undefined)?.result?.setId;
  if (c.action === 'key.backup' && setId !== undefined) {
    need(c.cardHolders !== undefined, 'cardHolders');
    each(c.cardHolders, 'ceremony.cardHolders');
    need(c.cardsForgotten !== undefined, 'cardsForgotten');
  }
  return missing;
}

/** Whether an entry's text may be the creation or signing of this report: a cheap look before it is parsed. */
export const mayRecordReport = (entry: string, reportId: string) =>
  (entry.includes('"report.create"') || entry.includes('"report.sign"')) && entry.includes(reportId);

/** Whether an entry's text may be this custody's beginning: a cheap look before it is parsed. */
export const mayBeginCustody = (entry: string, custodyId: string) =>
  entry.includes('"custody.begin"') && entry.includes(custodyId);

/** The custody a report's `custodyBegun` is about: a custody report's own, or the one a proposal ran on. */
export function reportedCustody(report: Pick<FormatReport, 'ceremony'>): string | null {
  const c = report.ceremony;
  if (!c || c.action === 'ceremony.script-run') return null;
  const id = c.action === 'custody.take' ? c.id : c.custody;
  return typeof id === 'string' ? id : null;
}

/**
 * With a later log (live, or a bundle): the report is in the format this installation wrote when the log records it
 * made. The first entry saying the installation writes format-2 reports (its key's creation, or `report.format`), and
 * the first saying format 3, each come before any report it made after it; the holder of the audit key can append
 * entries, not insert one earlier. So a report whose `report.create` or first `report.sign` comes after the format-3
 * entry is format 3, one after only the format-2 entry is format 2, and one in any other format is not Custos's: an
 * older format leaves out markers a later one requires, and a format-3 report made before the log says format 3 was
 * never written. Nor is a report Custos's that says `custodyBegun: null` of a custody begun after the format-2 entry
 * (its params bind the holders), or whose checkpoint comes before its own `report.create` entry (a report dated back to
 * an older checkpoint).
 * `entries`: those the later log holds that may declare the format, or be this report's or its custody's.
 */
export function checkFormatInLog(report: FormatReport, entries: SignedEntry[], later: LaterSource): ReportCheck {
  const check = `report format: the one this installation wrote when ${later.source} records the report made`;
  const texts = signedWithin(entries, Number.MAX_SAFE_INTEGER, later).sort((a, b) => seqOf(a) - seqOf(b));
  // Each declared format from its first entry on; a format declared implies the ones before it.
  const from = new Map<number, number>();
  for (const e of texts) {
    const format = declaredFormat(e, later.key);
    for (let f = 2; format !== null && f <= format; f++) if (!from.has(f)) from.set(f, seqOf(e));
  }
  const first = (action: string, type: string, id: string | null) =>
    texts.find((e) => e.action === action && e.object?.type === type && e.object.id === id && ok(e));
  const created = first('report.create', 'report', report.reportId);
  const signed = first('report.sign', 'report', report.reportId);
  if (!created) return { check, ok: false, detail: `${later.source} records no creation of report ${report.reportId}` };
  const made = Math.max(seqOf(created), signed ? seqOf(signed) : -1);
  const problems: string[] = [];
  // Its checkpoint is signed after its creation: one from before it would date the report earlier than it was made.
  if (seqOf(created) >= report.audit.treeSize)
    problems.push(
      `entry ${seqOf(created)} created the report, outside its checkpoint of ${report.audit.treeSize} entries`,
    );
  const written = [...from].filter(([, seq]) => made > seq).sort(([a], [b]) => b - a)[0];
  if (written && report.v !== written[0])
    problems.push(
      `entry ${written[1]} records that this installation writes format-${written[0]} reports, and entry ${made} ` +
        `made this one after it, but it says format ${report.v}: it is not a report Custos made`,
    );
  // Format 3 is declared by every release that writes it, before its first report.
  else if (!written && report.v === REPORT_FORMAT)
    problems.push(
      `entry ${made} made the report before any entry of ${later.source} says this installation writes ` +
        `format-${REPORT_FORMAT} reports, but it says format ${REPORT_FORMAT}: it is not a report Custos made`,
    );
  const custody = reportedCustody(report);
  const begun = custody === null ? undefined : first('custody.begin', 'custody', custody);
  const from2 = from.get(2) ?? null;
  if (from2 !== null && report.ceremony?.custodyBegun === null && begun && seqOf(begun) > from2)
    problems.push(
      `the report says custody ${custody} has no custody.begin params, but entry ${seqOf(begun)}, after entry ` +
        `${from2}, began it with params that bind its holders`,
    );
  return { check, ok: problems.length === 0, ...(problems.length ? { detail: said(problems) } : {}) };
}

const ok = (e: PartEntry) => e.result?.status === 'ok';
const seqOf = (e: PartEntry) => e.seq as number;
