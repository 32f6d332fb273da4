import { verify } from 'node:crypto';
import { ed25519PublicKeyObject, parseCheckpoint, parseNote, verifyNote, type NoteKey } from '../audit/checkpoint';
import { leafHash, verifyConsistency, verifyInclusion } from '../audit/merkle';
import { REPORT_KIND, type CeremonyReport } from './ceremony-report';

export interface ReportVerdict {
  ok: boolean;
  reportId: string | null;
  type: string | null;
  entries: number;
  /** Each check that was made, in order, with its outcome. */
  checks: { check: string; ok: boolean; detail?: string }[];
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
  check('report signature (Ed25519 over the exact bytes)', signature.length === 64 && verify(null, json, publicKey, signature));
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
    check('checkpoint matches the report’s tree size and root', size === report.audit.treeSize && root.toString('base64') === report.audit.root);
  } catch (error) {
    check('checkpoint format', false, (error as Error).message);
  }
  for (const e of report.audit.entries) {
    const bytes = Buffer.from(e.entry, 'utf8');
    const signed = verify(null, bytes, publicKey, Buffer.from(e.signature, 'base64'));
    const included = verifyInclusion(e.seq, size, leafHash(bytes), e.proof.map((p) => Buffer.from(p, 'base64')), root);
    const seqMatches = (JSON.parse(e.entry) as { seq?: unknown }).seq === e.seq;
    check(`entry ${e.seq}: signature, inclusion in the checkpoint`, signed && included && seqMatches, !signed ? 'bad signature' : !included ? 'not in the checkpoint’s tree' : !seqMatches ? 'sequence number differs' : undefined);
  }
  if (later) {
    if (later.size < size) {
      check(`consistent with ${later.source}`, false, `that log has ${later.size} entries, fewer than the ${size} the report vouches for`);
    } else {
      const consistent = verifyConsistency(size, later.size, root, later.root(later.size), later.consistencyProof(size, later.size));
      check(`consistent with ${later.source} (${later.size} entries)`, consistent, consistent ? undefined : 'the log was rewritten after this report');
    }
  }
  return { ok: checks.every((c) => c.ok), reportId: report.reportId, type: report.type, entries: report.audit.entries.length, checks };
}
