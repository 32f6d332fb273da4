import { canonicalJson, sha256Hex } from '../canonical-json';
import { entryText, said } from './participant-check';
import type { ReportCheck } from './report-verify';
import { parseCarriedJson } from './json-depth';

interface FingerprintReport {
  ceremony: {
    id: unknown;
    action?: string;
    fingerprint?: string;
    fingerprinted?: string;
    params?: unknown;
    token?: unknown;
    custody?: unknown;
    expiresAt?: unknown;
  } | null;
  participants?: { id: string; part: string }[];
  audit: { entries: { seq: number; entry: string }[] };
}

const CHECK =
  'fingerprint: recomputed from the report’s action, parameters, token and expiry, as proposal.create recorded';

/**
 * The fingerprint the approvers approved is the SHA-256 of the proposal's canonical JSON body (quorum-service.ts):
 * the report's action, parameters, token, expiry, custody and proposer put in that body (in the form the report
 * carries as `fingerprinted`, which says its version and a script's binding) must hash to it, and the carried signed
 * `proposal.create` entry must record that fingerprint. A report re-signed over other parameters (another order of
 * card holders) fails, naming the field. A report made before it carried the body says so instead of passing.
 */
export function checkFingerprint(report: FingerprintReport, checks: ReportCheck[]): void {
  const c = report.ceremony;
  if (!c || typeof c.fingerprint !== 'string' || c.action === 'ceremony.script-run') return;
  if (c.fingerprinted === undefined) {
    const detail = 'this report predates carrying the fingerprinted body: NOT CHECKED';
    checks.push({ check: CHECK, ok: true, skipped: true, detail });
    return;
  }
  const problems = differences(report, c.fingerprint, c.fingerprinted);
  checks.push({ check: CHECK, ok: problems.length === 0, ...(problems.length ? { detail: said(problems) } : {}) });
}

type Body = Record<string, unknown> & { token?: Record<string, unknown> };

function differences(report: FingerprintReport, fingerprint: string, fingerprinted: string): string[] {
  const c = report.ceremony!;
  let body: Body;
  try {
    const parsed: unknown = parseCarriedJson(fingerprinted);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    body = parsed as Body;
  } catch {
    return ['ceremony.fingerprinted is not a proposal body (JSON object)'];
  }
  const proposer = report.participants?.find((p) => p.part === 'proposed')?.id;
  const token = (c.token ?? {}) as Record<string, unknown>;
  // The body as the report's own fields make it: what it states replaces what the carried body says.
  const stated: Body = {
    ...body,
    action: c.action,
    params: c.params ?? null,
    ...(body.token ? { token: Object.fromEntries(Object.keys(body.token).map((k) => [k, token[k]])) } : {}),
    ...('id' in body ? { id: c.id } : {}),
    ...('custody' in body ? { custody: c.custody } : {}),
    ...('expiresAt' in body ? { expiresAt: c.expiresAt } : {}),
    ...('requestedBy' in body ? { requestedBy: proposer } : {}),
  };
  const problems = Object.keys(stated).flatMap((field) => fieldDifference(field, stated[field], body[field]));
  const recomputed = sha256Hex(canonicalJson(stated));
  if (recomputed !== fingerprint)
    problems.push(`the report’s fields hash to ${recomputed}, not to ceremony.fingerprint ${fingerprint}`);
  const created = report.audit.entries
    .map((e) => entryText(e.entry))
    .find((e) => e?.action === 'proposal.create' && e.object?.type === 'proposal' && e.object.id === c.id);
  if (!created) problems.push('the report carries no proposal.create entry of this proposal');
  else {
    const bound = [{ fingerprint }, { fingerprint, custody: c.custody }].map((p) => sha256Hex(canonicalJson(p)));
    if (!bound.includes(String(created.params)))
      problems.push(`entry ${String(created.seq)} (proposal.create) records another fingerprint`);
    if ('requestedBy' in body && created.actor?.id !== body.requestedBy)
      problems.push(`entry ${String(created.seq)} (proposal.create) records another proposer`);
  }
  return problems;
}

/** The field (down to a parameter's name) where the report says other than the body its approvers approved. */
function fieldDifference(field: string, stated: unknown, approved: unknown): string[] {
  if (canonicalJson(stated ?? null) === canonicalJson(approved ?? null)) return [];
  const objects = [stated, approved].every((v) => typeof v === 'object' && v !== null && !Array.isArray(v));
  if (!objects)
    return [`ceremony.${field === 'requestedBy' ? 'participants (proposer)' : field} differs from what was approved`];
  const a = stated as Record<string, unknown>;
  const b = approved as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  const named = keys.filter((k) => canonicalJson(a[k] ?? null) !== canonicalJson(b[k] ?? null));
  return [`ceremony.${field}.${named.join(', ')} differs from what was approved`];
}
