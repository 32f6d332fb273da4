import { createHash, createPublicKey } from 'node:crypto';
import { z } from 'zod';
import type { ReportCheck } from './report-verify';
import { keysOf } from './ceremony-report';
import { parseCarriedJson } from './json-depth';
import { keysRecorded } from './key-record';
import { said } from './participant-check';
import { runStepOutcomes } from './run-outcomes';

/** What the verifier reads of a report's keys; a report's other key members (label, state, policy) pass unread. */
export const KeyFields = {
  keys: z
    .array(
      z.object({
        id: z.string(),
        fingerprint: z.string().nullable(),
        kcv: z.string().nullable(),
        publicKeyPem: z.string().nullable(),
        // A report without a ceremony (format 2, from this release): the signed run that made the key, or null.
        recordedBy: z
          .object({
            seq: z.number().int().nonnegative(),
            proposal: z.string(),
            action: z.string(),
            fingerprint: z.string(),
            outcome: z.string(),
          })
          .nullable()
          .optional(),
      }),
    )
    .optional(),
};

export type ListedKey = NonNullable<z.infer<z.ZodObject<typeof KeyFields>>['keys']>[number];

export function spkiFingerprint(pem: string): string | null {
  try {
    return createHash('sha256')
      .update(createPublicKey(pem).export({ format: 'der', type: 'spki' }))
      .digest('hex');
  } catch {
    return null;
  }
}

/**
 * A key's public key must hash to the fingerprint the report prints beside it, and a key the run's outcome names must
 * have the fingerprint and check value that outcome recorded (the outcome is the one the run's signed entry binds:
 * checkOutcome). Before, a report signed again by whoever holds the audit key could print a key pair of their own as
 * the one the quorum generated, and relying parties who took the public key from it trusted theirs.
 */
export function checkKeys(
  report: z.infer<z.ZodObject<typeof KeyFields>> & {
    ceremony: {
      action?: string | undefined;
      steps?: unknown;
      fingerprinted?: string | undefined;
      params?: unknown;
      outcome?: unknown;
      outcomeAsRecorded?: string | undefined;
    } | null;
    audit: { entries: { entry: string }[] };
  },
  checks: ReportCheck[],
) {
  const keys = report.keys ?? [];
  if (keys.length === 0) return;
  const name = 'keys: each key’s public key, fingerprint and check value as the run’s signed outcome recorded';
  let outcome: unknown = null;
  try {
    outcome = parseCarriedJson(report.ceremony?.outcomeAsRecorded ?? 'null');
  } catch {
    // Named by the outcome's own check.
  }
  // A script run's keys: the outcomes its quorum steps carry, each bound by its execution's signed entry.
  const run = report.ceremony?.action === 'ceremony.script-run' ? runStepOutcomes(report) : null;
  if (run && run.problems.length > 0) return checks.push({ check: name, ok: false, detail: said(run.problems) });
  const recorded = run
    ? run.outcomes.flatMap((o) => keysRecorded(o.action, o.outcome))
    : keysRecorded(report.ceremony?.action, outcome);
  // A proposal's report lists the keys its approved params and its outcome name (ceremony-report.ts), and no other: a
  // key under an id neither names was compared with nothing, so a re-signed report could print any key pair as one.
  const c = report.ceremony;
  const named =
    c && typeof c.fingerprinted === 'string' && c.action !== 'ceremony.script-run'
      ? new Set([...keysOf(c.params, c.outcome), ...recorded.map((r) => r.keyId)])
      : null;
  const untied: string[] = [];
  for (const key of keys) {
    if (named && !named.has(key.id))
      return checks.push({
        check: name,
        ok: false,
        detail: `key ${key.id}: neither the parameters nor the outcome name it`,
      });
    if (key.publicKeyPem !== null && spkiFingerprint(key.publicKeyPem) !== key.fingerprint) {
      return checks.push({ check: name, ok: false, detail: `key ${key.id}: its public key has another fingerprint` });
    }
    if (run && !recorded.some((r) => r.keyId === key.id)) untied.push(key.id);
    const differs = differences(key, recorded, 'the outcome');
    if (differs.length > 0) return checks.push({ check: name, ok: false, detail: differs[0] });
  }
  checks.push({ check: name, ok: true });
  // A format-2 report made before steps carried their outcome as stored: what those steps made is tied to nothing.
  if (run && run.unrecorded.length > 0)
    checks.push({
      check: 'keys the run’s carried-out steps made or restored: as their signed outcomes recorded',
      ok: true,
      skipped: true,
      detail:
        `this report predates carrying the outcome as stored of ${said(run.unrecorded.map((id) => `step ${id}`))}; ` +
        'their keys are checked against the fingerprint printed beside them only',
    });
  // A key a step only acted on (activated, backed up) is listed with no outcome recording its public key.
  if (untied.length > 0)
    checks.push({
      check: 'keys a run only acted on: their public key and fingerprint',
      ok: true,
      skipped: true,
      detail: `no step’s signed outcome records ${said(untied.map((id) => `key ${id}`))}`,
    });
}

/** Where the facts recorded of this key differ from the key as listed; compared only where a value was recorded. */
export function differences(
  key: ListedKey,
  recorded: { keyId: string; fingerprint?: unknown; kcv?: unknown }[],
  by: string,
) {
  const found: string[] = [];
  // A restore into a token that computes no check value records none; before 2026-12-05 a restore recorded no
  // fingerprint.
  for (const facts of recorded.filter((r) => r.keyId === key.id)) {
    if (typeof facts.fingerprint === 'string' && facts.fingerprint !== key.fingerprint)
      found.push(`key ${key.id}: ${by} recorded another fingerprint (${facts.fingerprint})`);
    if (typeof facts.kcv === 'string' && facts.kcv !== key.kcv)
      found.push(`key ${key.id}: ${by} recorded another check value (${facts.kcv})`);
  }
  return found;
}
