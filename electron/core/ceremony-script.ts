import { createHash } from 'node:crypto';
import { CORE_SCHEMA, EVENT_ALIAS, load, parseEvents, YAMLException } from 'js-yaml';
import { CeremonyScript, stepKind, type ScriptStep } from '../../shared/ceremony-script';
import { ACTIONS, paramProblems, type ActionName } from '../../shared/actions';

/** A parsed script with the SHA-256 of its exact bytes: what is printed, signed on paper and bound into proposals. */
export interface ParsedScript {
  script: CeremonyScript;
  sha256: string;
}

export function scriptSha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * The script, or every reason it is not one (YAML syntax with its line, then each schema problem by path). Lint
 * also asks for a template's blanks to be named (`placeholders`); a stored run's script is parsed as it was started.
 */
export function parseScript(
  text: string,
  options: { placeholders?: boolean } = {},
): ParsedScript | { problems: string[] } {
  let value: unknown;
  try {
    // An alias repeats a node by reference: nested, a few lines expand to billions of nodes when read (a script
    // handed in by a compromised page would stall the main process). A reviewed script writes each value out.
    if (parseEvents(text, {}).some((event) => event.type === EVENT_ALIAS))
      return {
        problems: ['YAML: anchors and aliases (*name) are not allowed in a ceremony script; write each value out'],
      };
    // The core schema: dates stay text and nothing but plain data is built from the file.
    value = load(text, { schema: CORE_SCHEMA });
  } catch (error) {
    if (error instanceof YAMLException)
      return { problems: [`YAML: ${error.reason} (line ${(error.mark?.line ?? 0) + 1})`] };
    throw error;
  }
  const unfilled = options.placeholders ? placeholders(value, []) : [];
  const checked = CeremonyScript.safeParse(value);
  if (unfilled.length > 0) {
    // A template's blanks: named as such, and the schema's complaints about them (or what holds them) left out.
    const aboutBlank = (path: string) => unfilled.some((u) => u.path === path || u.path.startsWith(`${path}.`));
    const others = checked.success
      ? []
      : checked.error.issues.flatMap((issue) => {
          const path = issue.path.join('.');
          return aboutBlank(path) ? [] : [`${path || 'parameters'}: ${issue.message}`];
        });
    return {
      problems: [
        ...unfilled.map((u) => `script: ${u.path}: “${u.text}” is a placeholder: fill it in`),
        ...others.map((p) => `script: ${p}`),
      ],
    };
  }
  if (!checked.success) return { problems: paramProblems(checked.error).map((p) => `script: ${p}`) };
  return { script: checked.data, sha256: scriptSha256(text) };
}

/** A template's blank: a whole value written `<like this>`, as the templates in resources/ceremonies mark them. */
const PLACEHOLDER = /^\s*<[^<>\n]{1,200}>\s*$/;

function placeholders(value: unknown, path: (string | number)[]): { path: string; text: string }[] {
  if (typeof value === 'string') {
    return PLACEHOLDER.test(value) ? [{ path: path.join('.'), text: value.trim() }] : [];
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => placeholders(v, [...path, i]));
  if (value !== null && typeof value === 'object')
    return Object.entries(value).flatMap(([k, v]) => placeholders(v, [...path, k]));
  return [];
}

/**
 * A new key's CKA_ID (and so its key id), derived from the script and the step that generates it: known when the
 * script is linted, so later steps can name the key (`@step-id`) and every fingerprint can be printed in advance.
 */
export function derivedKeyId(sha256: string, stepId: string): string {
  return createHash('sha256').update(`custos ceremony key id\n${sha256}\n${stepId}`).digest('hex').slice(0, 32);
}

const NEW_KEY_ACTIONS: ReadonlySet<ActionName> = new Set(['key.generate', 'key.rotate']);

/** The ids of the steps before `index` that generate a key. */
function keySteps(steps: readonly ScriptStep[], index: number): Set<string> {
  return new Set(steps.slice(0, index).flatMap((s) => ('action' in s && NEW_KEY_ACTIONS.has(s.action) ? [s.id] : [])));
}

/**
 * A step's parameters as the catalogue wants them: `@step-id` becomes the key that earlier step generated, a
 * person's name in `holders` becomes their custodian id. Checked against the action's `proposed` schema.
 */
export function resolveParams(
  parsed: ParsedScript,
  index: number,
  custodianId: (name: string) => string | null,
): { params: Record<string, unknown> } | { problems: string[] } {
  const step = parsed.script.steps[index];
  if (!step || stepKind(step) !== 'action' || !('action' in step)) return { problems: ['not an action step'] };
  const problems: string[] = [];
  const earlier = keySteps(parsed.script.steps, index);
  const reference = (value: unknown, path: string): unknown => {
    if (typeof value === 'string' && value.startsWith('@')) {
      const id = value.slice(1);
      if (!earlier.has(id)) {
        problems.push(`${path}: ${value} is not an earlier step that generates a key`);
        return value;
      }
      return derivedKeyId(parsed.sha256, id);
    }
    if (Array.isArray(value)) return value.map((v, i) => reference(v, `${path}.${i}`));
    return value;
  };
  const params: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(step.params)) {
    const path = `steps.${index}.params.${name}`;
    params[name] =
      name === 'holders' && Array.isArray(value)
        ? value.map((v) => {
            if (typeof v !== 'string') return v;
            const id = custodianId(v);
            if (id === null) problems.push(`${path}: “${v}” is not an enrolled custodian`);
            return id ?? v;
          })
        : reference(value, path);
  }
  if (problems.length > 0) return { problems };
  const checked = ACTIONS[step.action].proposed.safeParse(params);
  if (!checked.success) return { problems: paramProblems(checked.error).map((p) => `steps.${index}.params.${p}`) };
  return { params: checked.data as Record<string, unknown> };
}

/** Everyone the script names, in any role or step. */
export function peopleNamed(script: CeremonyScript): string[] {
  const { roles } = script;
  const named = [
    roles.administrator,
    ...roles.custodians,
    ...(roles.securityOfficer ? [roles.securityOfficer] : []),
    ...roles.witnesses,
    ...(roles.auditor ? [roles.auditor] : []),
    ...script.steps.flatMap((s) => [
      s.by,
      ...(s.witnesses ?? []),
      ...('approvers' in s ? s.approvers : []),
      ...('custody' in s ? s.custody.holders : []),
    ]),
  ];
  return [...new Set(named)];
}

/** Who must confirm a step: its own witnesses, else the script's. */
export function stepWitnesses(script: CeremonyScript, step: ScriptStep): string[] {
  return step.witnesses ?? script.roles.witnesses;
}
