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
 * wrapped for a real key opens only there, and the trusted recipients an export needs are not copied. (What a real CA
 * issued and a revocation list revokes, its stand-in issues again: see stand-ins.ts.)
 */
export function rehearsalLimits(steps: readonly ScriptStep[]): string[] {
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
  }
  return problems;
}
