import type { ScriptStep } from '../../../shared/ceremony-script';

const NEW_KEY_ACTIONS = new Set(['key.generate', 'key.rotate']);

/** A parameter naming a key an earlier step of the script generates (`@step`), not a real one. */
export function ofTheScript(steps: readonly ScriptStep[]) {
  const generated = new Set(steps.flatMap((s) => ('action' in s && NEW_KEY_ACTIONS.has(s.action) ? [s.id] : [])));
  return (ref: unknown) => typeof ref === 'string' && ref.startsWith('@') && generated.has(ref.slice(1));
}

/**
 * What a stand-in cannot rehearse, and why: a real backup set's cards never go into a scratch token (a restore of one
 * restores a practice set made in its place; anything else done to a real set is not rehearsed), a package
 * wrapped for a real key opens only there, the trusted recipients an export needs are not copied, and the
 * certificates a real CA issued are not in the rehearsal (a stand-in CA has its own certificate, and issued nothing).
 */
export function rehearsalLimits(steps: readonly ScriptStep[]): string[] {
  const ofThisScript = ofTheScript(steps);
  const problems: string[] = [];
  for (const step of steps) {
    if (!('action' in step)) continue;
    const p = step.params;
    // A restore restores the practice set made in the real set's place; a retirement has nothing to rehearse on.
    if (p.setId !== undefined && step.action !== 'key.restore')
      problems.push(
        `${step.id}: ${step.action} acts on a real backup set, whose cards never go into a rehearsal. ` +
          'Rehearse a restore of it instead (its practice set stands in), or carry it out as a single quorum action.',
      );
    if (step.action === 'key.import-wrapped')
      problems.push(`${step.id}: a package wrapped for a real key opens only in the real token.`);
    if (step.action === 'key.export-wrapped')
      problems.push(
        `${step.id}: the real installation's trusted recipients are not copied into a rehearsal, so an export ` +
          'to one cannot be rehearsed.',
      );
    const revoked = Array.isArray(p.revoke) ? p.revoke.length : 0;
    if (step.action === 'crl.issue' && revoked > 0 && !ofThisScript(p.issuerKeyId))
      problems.push(
        `${step.id}: the list revokes certificates the real CA issued, which a rehearsal does not have ` +
          '(its stand-in CA has issued nothing). A list that revokes nothing new can be rehearsed.',
      );
  }
  return problems;
}
