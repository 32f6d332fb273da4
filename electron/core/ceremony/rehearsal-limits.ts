import type { ScriptStep } from '../../../shared/ceremony-script';

const NEW_KEY_ACTIONS = new Set(['key.generate', 'key.rotate']);

/** A parameter naming a key an earlier step of the script generates (`@step`), not a real one. */
export function ofTheScript(steps: readonly ScriptStep[]) {
  const generated = new Set(steps.flatMap((s) => ('action' in s && NEW_KEY_ACTIONS.has(s.action) ? [s.id] : [])));
  return (ref: unknown) => typeof ref === 'string' && ref.startsWith('@') && generated.has(ref.slice(1));
}

/**
 * What a stand-in cannot rehearse, and why: a real backup set's cards never go into a scratch token, a package
 * wrapped for a real key opens only there, the trusted recipients an export needs are not copied, and a CA's
 * certificate belongs to its real key.
 */
export function rehearsalLimits(steps: readonly ScriptStep[]): string[] {
  const ofThisScript = ofTheScript(steps);
  const problems: string[] = [];
  const certified = new Set<string>();
  for (const step of steps) {
    if (!('action' in step)) continue;
    const p = step.params;
    if (p.setId !== undefined)
      problems.push(
        `${step.id}: ${step.action} uses a real backup set, whose cards never go into a rehearsal token. ` +
          'Rehearse a script that makes its backup first (its practice cards can be restored in the same rehearsal).',
      );
    if (step.action === 'key.import-wrapped')
      problems.push(`${step.id}: a package wrapped for a real key opens only in the real token.`);
    if (step.action === 'key.export-wrapped')
      problems.push(
        `${step.id}: the real installation's trusted recipients are not copied into a rehearsal, so an export ` +
          'to one cannot be rehearsed.',
      );
    const issuer = p.issuerKeyId;
    if (issuer !== undefined && !ofThisScript(issuer) && !certified.has(String(issuer)))
      problems.push(
        `${step.id}: ${step.action} needs the real CA’s certificate, which a stand-in cannot have. ` +
          'Rehearse it in a script that makes the CA’s certificate first.',
      );
    if (step.action === 'cert.self-sign' && typeof p.keyId === 'string') certified.add(p.keyId);
  }
  return problems;
}
