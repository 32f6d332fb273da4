import { existsSync, readFileSync, statSync } from 'node:fs';
import { CustosError, printable, shown } from '../core/errors';
import { basename, join, resolve } from 'node:path';
import type { z } from 'zod';
import { AsOfDay, type ComplianceView } from '../../shared/compliance';
import type { ReportRequest } from '../../shared/reports';
import type { ErrorCode, WireError } from '../../shared/errors';
import type { AuditVerdict } from '../../shared/audit';
import { publicKeyFromPem } from '../core/audit/audit-key';
import { readBundle } from '../core/audit/bundle';
import type { NoteKey } from '../core/audit/checkpoint';
import { verifyAuditLog, type VerifiableEntry } from '../core/audit/verifier';
import type { CustosCore } from '../core/custos-core';
import {
  checkRecordedSigning,
  mayRecordSigning,
  parseReportFile,
  signedPdfBytes,
  verifyReport,
  verifyReportPdf,
  type LaterLog,
  type ReportCheck,
  type ReportVerdict,
  type SignedEntry,
} from '../core/reports/report-verify';
import { checkCardHoldersInLog, mayRecordRelease, reportedBackupSet } from '../core/reports/card-holder-check';
import {
  checkParticipantsInLog,
  checkRunPartsInLog,
  mayRecordPart,
  mayRecordRunPart,
  reportedProposal,
  reportedRun,
} from '../core/reports/participant-check';
import { checkFormatInLog, mayBeginCustody, mayRecordReport, reportedCustody } from '../core/reports/format-check';
import { checkRunStartInLog } from '../core/reports/run-start-check';
import { checkKeysMadeInLog, keysMadeAbout, keysWithoutRun, mayRecordKeyMade } from '../core/reports/key-made-check';
import { keyMade } from '../core/reports/key-record';
import { DECLARED_FORMATS, formatEntry, mayDeclareFormat } from '../core/audit/report-format';
import { call, factors, str, usageFailure, whole, type Io, type Request, type Values } from './cli-support';

export const REPORT_USAGE = `  report list
  report create (--ceremony PROPOSAL | --custody ID | --inventory | --impact KEY | --revocation KEY) --out DIR [--force]
                                      Sign a report and write report.json, report.sig, audit-key.pem, report.pdf
                                      and report-pdf.json + report-pdf.sig (the PDF's signed SHA-256)
                                      (a folder already holding a report: FILE_EXISTS, unless --force).
                                      --impact: every use, backup set, token and report of a compromised key;
                                      --revocation: its revocation notice again (made when it was marked)
  report witness --ceremony ID --name NAME --role ROLE
                                      A witness signs off on a ceremony (proposal or custody id)
  report verify --dir DIR [--key PEM] [--bundle DIR]
                                      Signature, checkpoint, every entry's proof, the PDF (missing:
                                      REPORT_PDF_MISSING, changed or another report's: REPORT_PDF_MISMATCH),
                                      and consistency with the live log (or with a later exported audit
                                      bundle: no database needed); participants, threshold, holders and
                                      keys against the signed entries they carry; the folder's audit-key.pem
                                      against the key verified with
  compliance [--as-of YYYY-MM-DD]     Policy analyzer findings with severity, evidence and fix
  compliance report --out DIR [--as-of YYYY-MM-DD] [--force]
                                      Findings and control mapping as a signed report (JSON, signature, PDF)
  compliance controls                 SP 800-53, SP 800-57, PCI DSS, AWS controls: evidence and what is missing
  compliance practice-statement [--out DIR [--force]]
                                      Key Management Practice Statement draft (SP 800-57 Part 2 outline) from the
                                      configuration: Markdown on stdout, or practice-statement.md and .pdf in DIR
                                      (a folder already holding one: FILE_EXISTS, unless --force)
  compliance record-validation --module-path PATH --standard "FIPS 140-3" --certificate N --level L --as OFFICER
                                      (refused for a software token's library: MODULE_IS_SOFTWARE)
  compliance policy-reviewed --as OFFICER
                                      Record today's annual policy review (a security officer, both factors)
`;

/**
 * `report verify` needs no database when it has a key and a bundle, or a key on a machine with no Custos data
 * directory (an auditor's): it runs before the core opens, so verifying never creates an installation.
 */
export function standaloneReportVerify(command: string, values: Values, dataDirExists: boolean): boolean {
  return (
    command === 'report verify' && str(values.key) !== undefined && (str(values.bundle) !== undefined || !dataDirExists)
  );
}

export async function verifyReportCommand(
  values: Values,
  core: CustosCore | null,
): Promise<{ verdict: ReportVerdict }> {
  const dir = resolve(str(values.dir) ?? '.');
  const json = readIfFile(join(dir, 'report.json'));
  const signature = readIfFile(join(dir, 'report.sig'));
  if (!json || !signature) {
    throw new CustosError('REPORT_NOT_FOUND', `${shown(dir)} holds no report.json and report.sig (as files).`, [
      'Pass --dir with the folder `custos report create` wrote.',
    ]);
  }
  // Read once for the key's name and the tree size; a file that does not parse fails verifyReport's format check.
  const parsed = parseReportFile(json);
  const report = 'report' in parsed ? parsed.report : null;
  const pinned = str(values.key);
  const key: NoteKey = pinned
    ? { name: report?.auditKey?.name ?? '', publicKey: pinnedKey(pinned) }
    : core!.audit.noteKey()!;
  const bundleDir = str(values.bundle);
  if (bundleDir && report) {
    // The bundle must be a log the same key signed, closed by its own checkpoint, whose first entries rebuild exactly
    // the report's checkpoint: lines that merely hash to the root would vouch for whatever follows them.
    const bundle = readBundle(resolve(bundleDir));
    const signings: SignedEntry[] = [];
    const parts: SignedEntry[] = [];
    const releases: SignedEntry[] = [];
    const formats: SignedEntry[] = [];
    const runParts: SignedEntry[] = [];
    const keyEntries: SignedEntry[] = [];
    const made = keysMadeAbout(report);
    const madeIds = [...made.keys, ...made.proposals];
    const proposal = reportedProposal(report);
    const run = reportedRun(report);
    const setId = reportedBackupSet(report)?.setId;
    const custody = reportedCustody(report);
    const entries = watched(bundle.entries, (e) => {
      if (mayRecordSigning(e.entry, report.reportId)) signings.push(e);
      if (proposal && mayRecordPart(e.entry, proposal.id)) parts.push(e);
      if (run !== null && mayRecordRunPart(e.entry, run)) runParts.push(e);
      if (setId && mayRecordRelease(e.entry, setId)) releases.push(e);
      if (madeIds.length > 0 && mayRecordKeyMade(e.entry, madeIds)) keyEntries.push(e);
      const formatted =
        mayDeclareFormat(e.entry) ||
        mayRecordReport(e.entry, report.reportId) ||
        (custody !== null && mayBeginCustody(e.entry, custody));
      if (formatted) formats.push(e);
    });
    const log = await verifyAuditLog({ ...bundle, entries, key, trustedCheckpoints: [report.audit.checkpoint] });
    const bundled = withBundle(verifyReport(json, signature, key), log, bundleDir);
    const source = { source: `the bundle ${bundleDir}`, key };
    const signing = checkRecordedSigning(json, report.reportId, signings, source);
    const inLog = [
      checkFormatInLog(report, formats, source),
      checkParticipantsInLog(report, parts, source),
      checkRunPartsInLog(report, runParts, source),
      checkRunStartInLog(report, runParts, source),
      checkCardHoldersInLog(report, releases, source),
      checkKeysMadeInLog(report, keyEntries, source),
    ];
    const verdict = inLog.reduce((v, c) => (c ? withCheck(v, c) : v), withCheck(bundled, signing));
    return { verdict: withFolderFiles(verdict, dir, json, key) };
  }
  // Another installation's log (an auditor's own) says nothing about this report's: never compared with it. Whose log
  // it is, the key decides: the installation id is an unsigned setting, and a report this log's key signed is this
  // log's to be consistent with.
  const ours = core?.audit.noteKey() ?? null;
  const foreign = core !== null && report !== null && (ours === null || !ours.publicKey.equals(key.publicKey));
  const log = foreign ? undefined : core?.audit.log();
  const later: LaterLog | undefined = log
    ? {
        size: log.size(),
        root: (n) => log.root(n),
        consistencyProof: (a, b) => log.consistencyProof(a, b),
        source: 'the live log',
      }
    : undefined;
  const checked = verifyReport(json, signature, key, later);
  let verdict = checked;
  if (log && report) {
    const source = { source: 'the live log', key };
    verdict = withCheck(
      verdict,
      checkRecordedSigning(json, report.reportId, log.entriesAbout(`report:${report.reportId}`), source),
    );
    verdict = withCheck(verdict, checkFormatInLog(report, formatEntries(log, report), source));
    const proposal = reportedProposal(report);
    const listed = proposal && checkParticipantsInLog(report, log.entriesAbout(`proposal:${proposal.id}`), source);
    if (listed) verdict = withCheck(verdict, listed);
    const run = reportedRun(report);
    const runEntries = run === null ? [] : log.entriesAbout(`ceremony-run:${run}`);
    for (const about of [
      checkRunPartsInLog(report, runEntries, source),
      checkRunStartInLog(report, runEntries, source),
    ])
      if (about) verdict = withCheck(verdict, about);
    const setId = reportedBackupSet(report)?.setId;
    const cards = setId && checkCardHoldersInLog(report, log.entriesAbout(`backup:${setId}`), source);
    if (cards) verdict = withCheck(verdict, cards);
    // Keys whose run the report does not carry: this installation's log and stored outcomes still say which made them.
    const stored = new Map(keysWithoutRun(report).map((id) => [id, keyMade(core!.store, core!.audit, id)]));
    const made = keysMadeAbout(report, stored);
    const about = [...made.keys.map((id) => `key:${id}`), ...made.proposals.map((id) => `proposal:${id}`)];
    const entries = [...new Set(about)].flatMap((o) => log.entriesAbout(o));
    const keys = checkKeysMadeInLog(report, entries, source, stored);
    if (keys) verdict = withCheck(verdict, keys);
  }
  if (foreign && ours !== null && report.installation === core.audit.origin) {
    // This installation's name under a key that is not its own: a forgery, never "another installation's report".
    const detail = `the report names ${core.audit.origin}, this installation, whose audit key is not the one given`;
    return { verdict: withCheck(verdict, { check: 'signed by this installation’s audit key', ok: false, detail }) };
  }
  if (foreign) verdict.checks.push(notCompared(report.installation, core.audit.origin));
  if (core === null) verdict.checks.push(notCompared(report?.installation, null));
  return { verdict: withFolderFiles(verdict, dir, json, key) };
}

/**
 * The entries of the live log checkFormatInLog reads: its first (the key's creation), the `report.format` entries of
 * each declared format, and those about the report and its custody; one index lookup each.
 */
function formatEntries(
  log: ReturnType<CustosCore['audit']['log']>,
  report: { reportId: string } & Parameters<typeof reportedCustody>[0],
) {
  const custody = reportedCustody(report);
  const declarations = DECLARED_FORMATS.map((f) => formatEntry(f).object);
  return [
    ...(log.size() > 0 ? [log.entry(0)] : []),
    ...declarations.flatMap(({ type, id }) => log.entriesAbout(`${type}:${id}`)),
    ...log.entriesAbout(`report:${report.reportId}`),
    ...(custody === null ? [] : log.entriesAbout(`custody:${custody}`)),
  ];
}

/** A regular file's size; null when it is absent or something else is in its place. */
function fileSize(path: string): number | null {
  return existsSync(path) && statSync(path).isFile() ? statSync(path).size : null;
}

/** A file's bytes; null when it is absent or something else (a folder) is in its place. */
function readIfFile(path: string): Buffer | null {
  if (!existsSync(path) || !statSync(path).isFile()) return null;
  const name = basename(path);
  const limit = name === 'report.json' || name === 'report.pdf' ? MAX_REPORT_BYTES : MAX_SMALL_FILE_BYTES;
  // Refused unread: one read holds at most 2 GiB, and a file past it ended the verification as INTERNAL.
  if (statSync(path).size > limit) {
    const code = name === 'report.pdf' || name.startsWith('report-pdf.') ? 'REPORT_PDF_MISMATCH' : TOO_LARGE[name];
    const message = `${printable(path)} is larger than ${name} can be (at most ${limit} bytes); it was not read.`;
    throw new CustosError(code ?? 'IPC_INVALID_PAYLOAD', message, ['Check the folder the report was written to.']);
  }
  return readFileSync(path);
}

/** Past any report or PDF a ceremony makes, under the 2 GiB one read holds (past 512 MiB JSON fails as not JSON). */
const MAX_REPORT_BYTES = 2 ** 30;
/** The report's own files fail it; anything else (the --key file) is invalid input. */
const TOO_LARGE: Partial<Record<string, ErrorCode>> = {
  'report.json': 'AUDIT_VERIFY_FAILED',
  'report.sig': 'AUDIT_VERIFY_FAILED',
};
/** A signature, the PDF's binding or a PEM key: a few hundred bytes. */
const MAX_SMALL_FILE_BYTES = 65_536;

/** --key: the audit key the auditor trusts, as a PEM file; anything else is said as such, not as INTERNAL. */
function pinnedKey(path: string): Buffer {
  const pem = readIfFile(path);
  if (!pem)
    throw new CustosError('FILE_NOT_FOUND', `${path} does not exist or is not a file.`, [
      'Give --key the audit-key.pem you trust.',
    ]);
  try {
    return publicKeyFromPem(pem.toString('utf8'));
  } catch (error) {
    throw new CustosError(
      'IPC_INVALID_PAYLOAD',
      `${path} is not an Ed25519 public key in PEM form.`,
      ['Give --key the audit-key.pem from a report or bundle you trust.'],
      { cause: error },
    );
  }
}

function notCompared(theirs: unknown, ours: string | null): ReportCheck {
  const here = ours === null ? 'there is no Custos data directory here' : `this data directory holds ${ours}`;
  // A report that does not read as one names no installation: said so, not as "from undefined".
  const from = typeof theirs === 'string' ? `the report is from ${shown(theirs)}` : 'the report names no installation';
  const detail = `${here}, ${from}; give --bundle DIR with a later audit export of it`;
  return { check: 'consistency with a later log', ok: true, skipped: true, detail };
}

/** The folder's own audit-key.pem, and its PDF with the binding. */
function withFolderFiles(verdict: ReportVerdict, dir: string, json: Buffer, key: NoteKey): ReportVerdict {
  return withPdf(withCheck(verdict, folderKeyCheck(readIfFile(join(dir, 'audit-key.pem')), key)), dir, json, key);
}

/**
 * The folder's audit-key.pem is the key the report was verified with: an auditor who follows the documented openssl
 * command uses that file, and one that differs (a forger's key beside a re-signed report) would pass openssl.
 */
function folderKeyCheck(pem: Buffer | null, key: NoteKey): ReportCheck {
  const check = 'audit-key.pem in the folder is the key the report was verified with';
  if (!pem) return { check, ok: true, skipped: true, detail: 'the folder holds no audit-key.pem' };
  let folderKey: Buffer | null = null;
  try {
    folderKey = publicKeyFromPem(pem.toString('utf8'));
  } catch {
    return { check, ok: false, detail: 'audit-key.pem is not an Ed25519 public key in PEM form: do not use it' };
  }
  return folderKey.equals(key.publicKey)
    ? { check, ok: true }
    : {
        check,
        ok: false,
        detail:
          'audit-key.pem is another key than the trusted one: openssl with that file checks nothing; use the key ' +
          'you trust',
      };
}

function withPdf(verdict: ReportVerdict, dir: string, json: Buffer, key: NoteKey): ReportVerdict {
  const read = (name: string) => readIfFile(join(dir, name));
  const binding = read('report-pdf.json');
  const signedBytes = signedPdfBytes(binding);
  const size = fileSize(join(dir, 'report.pdf'));
  const unread = signedBytes !== null && size !== null && size <= MAX_REPORT_BYTES && size !== signedBytes;
  const pdf = unread ? { unreadSize: size } : read('report.pdf');
  const files = { pdf, binding, bindingSignature: read('report-pdf.sig') };
  const checks = verifyReportPdf(json, files, key);
  return { ...verdict, ok: verdict.ok && checks.every((c) => c.ok), checks: [...verdict.checks, ...checks] };
}

function withCheck(verdict: ReportVerdict, check: ReportCheck): ReportVerdict {
  return { ...verdict, ok: verdict.ok && check.ok, checks: [...verdict.checks, check] };
}

/** The bundle's entries, each chunk shown to `see` as it streams past the verifier. */
async function* watched(chunks: AsyncIterable<VerifiableEntry[]>, see: (entry: VerifiableEntry) => unknown) {
  for await (const chunk of chunks) {
    for (const entry of chunk) see(entry);
    yield chunk;
  }
}

/** The bundle's verdict as one check: its first problem (a rewrite, a cut, a line nobody signed) is the detail. */
function withBundle(verdict: ReportVerdict, log: AuditVerdict, source: string): ReportVerdict {
  const check = `consistent with the bundle ${source} (${log.entries} entries)`;
  return withCheck(verdict, { check, ok: log.ok, ...(log.first ? { detail: log.first.message } : {}) });
}

export function renderVerdict(verdict: ReportVerdict): { ok: boolean; text: string; error: WireError | null } {
  const lines = verdict.checks.map(
    (c) => `  ${c.skipped ? 'NOT CHECKED' : c.ok ? 'ok  ' : 'FAIL'} ${c.check}${c.detail ? ` — ${c.detail}` : ''}`,
  );
  // The format says which markers the report must carry, and which checks an older one leaves NOT CHECKED.
  const format = verdict.format === null ? 'report format unreadable' : `report format ${verdict.format}`;
  if (verdict.ok)
    return {
      ok: true,
      text:
        `Report ${verdict.reportId} (${verdict.type}) verified: ${verdict.entries} entries, ${format}.\n` +
        `${lines.join('\n')}\n`,
      error: null,
    };
  const failed = verdict.checks.filter((c) => !c.ok);
  // The report's own failures come first; only when the PDF alone fails does its code lead.
  const code = failed.every((c) => c.code) ? failed[0]!.code! : 'AUDIT_VERIFY_FAILED';
  const named = failed.map((c) => c.check + (c.detail ? ` (${c.detail})` : ''));
  const message = `The report FAILED verification: ${named.join('; ')}`;
  return { ok: false, text: '', error: { code, message, remedy: [`  ${format}`, ...lines] } };
}

const renderFindings = (v: ComplianceView) =>
  v.findings.length === 0
    ? `No findings as of ${v.asOf.slice(0, 10)}.\n`
    : `${v.findings.length} finding(s) as of ${v.asOf.slice(0, 10)}:\n${v.findings.map((f) => `  [${f.severity.toUpperCase()}] ${f.title}\n      evidence: ${f.evidence.join('; ')}\n      fix: ${f.fix}\n      controls: ${f.controls.join(', ')}`).join('\n')}\n`;

/** What `report create` is asked for: exactly one subject, else null (a usage failure). */
function reportSubject(values: Values): z.input<typeof ReportRequest> | null {
  const ceremony = str(values.ceremony);
  const custody = str(values.custody);
  const impact = str(values.impact);
  const revocation = str(values.revocation);
  const subjects = [
    ...(ceremony !== undefined ? [{ proposalId: ceremony }] : []),
    ...(custody !== undefined ? [{ custodyId: custody }] : []),
    ...(values.inventory === true ? [{ inventory: true as const }] : []),
    ...(impact !== undefined ? [{ impact: { keyId: impact } }] : []),
    ...(revocation !== undefined ? [{ revocation: { keyId: revocation } }] : []),
  ];
  return subjects.length === 1 ? subjects[0]! : null;
}

export function reportRequest(command: string, values: Values, io: Io): Request | null {
  switch (command) {
    case 'report list':
      return call('reports.list', {}, (list) =>
        list.length === 0
          ? 'No reports yet.\n'
          : `${list.map((r) => `${r.id}  ${r.createdAt.slice(0, 16)}  ${r.type.padEnd(24)} ${r.ceremonyId ?? ''}  sha256 ${r.sha256.slice(0, 16)}…`).join('\n')}\n`,
      );
    case 'report create':
      return async (core) => {
        const out = str(values.out);
        const subject = reportSubject(values);
        if (!out || !subject)
          return usageFailure(
            'report create needs one of --ceremony PROPOSAL, --custody ID, --inventory, --impact KEY or --revocation KEY, and --out DIR.',
          );
        // The folder (--out, replaced only with --force) is checked by the core before the report is made.
        return call(
          'reports.create',
          subject,
          (v) => `Report ${v.id} (${v.type}) signed and written to ${v.dir}\nSHA-256 of report.json: ${v.sha256}\n`,
        )(core);
      };
    case 'report witness':
      return call(
        'reports.witness',
        { ceremonyId: str(values.ceremony) ?? '', name: str(values.name) ?? '', role: str(values.role) ?? '' },
        (w) =>
          `${w.name} (${w.role}) signed off on ${w.ceremonyId}; the sign-off is recorded and will be in its reports.\n`,
      );
    case 'report verify':
      return async (core) => {
        let verdict: ReportVerdict;
        try {
          ({ verdict } = await verifyReportCommand(values, core));
        } catch (error) {
          // Refused before a verdict (no report there, a file past its size, a --key that is no key): recorded too.
          const code = error instanceof CustosError ? error.code : 'INTERNAL';
          await core.audit.tryRecord({
            actor: core.actor,
            action: 'report.verify',
            result: { status: 'failed', code },
          });
          throw error;
        }
        const shown = renderVerdict(verdict);
        // The code the operator is shown (a PDF's own, or AUDIT_VERIFY_FAILED) is the one recorded.
        const result = shown.error ? { status: 'failed' as const, code: shown.error.code } : { status: 'ok' as const };
        await core.audit.tryRecord({
          actor: core.actor,
          action: 'report.verify',
          object: verdict.reportId ? { type: 'report', id: verdict.reportId } : null,
          result,
        });
        return {
          envelope: shown.ok ? { ok: true, value: verdict } : { ok: false, error: shown.error! },
          render: (() => shown.text) as (v: never) => string,
        };
      };
    case 'compliance':
      return call('compliance.view', str(values['as-of']) ? { asOf: str(values['as-of'])! } : {}, renderFindings);
    case 'compliance report':
      return async (core) => {
        const out = str(values.out);
        if (!out) return usageFailure('compliance report needs --out DIR.');
        const asOf = str(values['as-of']);
        const notADay = asOf !== undefined && !AsOfDay.safeParse(asOf).success;
        if (notADay) return usageFailure(`--as-of needs a day on the calendar (YYYY-MM-DD), not “${shown(asOf)}”.`);
        return call(
          'reports.create',
          { compliance: asOf ? { asOf } : {} },
          (v) => `Compliance report ${v.id} signed and written to ${v.dir}\nSHA-256 of report.json: ${v.sha256}\n`,
        )(core);
      };
    case 'compliance controls':
      return call(
        'compliance.controls',
        {},
        (list) =>
          `${list.map((c) => `${c.control} — ${c.what}\n  evidence: ${c.evidence.join('; ')}\n  missing: ${c.missing.length ? c.missing.join('; ') : 'nothing found'}`).join('\n')}\n`,
      );
    case 'compliance practice-statement':
      // With --out the core writes practice-statement.md and .pdf there (replaced only with --force); else Markdown.
      return str(values.out)
        ? call(
            'compliance.writePracticeStatement',
            {},
            (v) =>
              `Practice statement draft written to ${v.dir}\n${v.files.map((f) => `  ${f.name}  sha256 ${f.sha256}`).join('\n')}\n`,
          )
        : call('compliance.practiceStatement', {}, (v) => v.markdown);
    case 'compliance record-validation':
      return async (core) => {
        const officer = await factors(str(values.as) ?? '', 'The security officer', values, io);
        const record = {
          modulePath: str(values['module-path']) ?? '',
          standard: (str(values.standard) ?? 'FIPS 140-3') as 'FIPS 140-3',
          certificate: str(values.certificate) ?? '',
          level: whole(values.level),
        };
        return call('compliance.recordValidation', { ...record, officer }, renderFindings)(core);
      };
    case 'compliance policy-reviewed':
      return async (core) =>
        call(
          'compliance.policyReviewed',
          { officer: await factors(str(values.as) ?? '', 'The security officer', values, io) },
          renderFindings,
        )(core);
    default:
      return null;
  }
}
