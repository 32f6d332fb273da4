import { describeProposal, type ActionName, type ProposalLookups } from '../../../shared/actions';
import { stepKind, type LintedStep, type LintReport, type ScriptStep } from '../../../shared/ceremony-script';
import type { CustodianSummary } from '../../../shared/custodians';
import { readsAs } from '../../../shared/people-names';
import type { KeyRecord } from '../../../shared/keys';
import type { TokenRef } from '../../../shared/tokens';
import { sha256Hex } from '../canonical-json';
import { retiredError } from '../custodians/custodian-service';
import { isCustosError } from '../errors';
import { policyVerdict, type PolicyRule } from '../keys/algorithm-policy';
import type { proposalBinder } from '../quorum/proposal-handlers';
import { ACTION_POLICIES, scriptProposalBody, shortFingerprint } from '../quorum/quorum-service';
import {
  derivedKeyId,
  parseScript,
  peopleNamed,
  resolveParams,
  scriptSha256,
  stepWitnesses,
  type ParsedScript,
} from '../ceremony-script';

/** What lint reads of the installation: who is enrolled, who holds which token, the keys, how proposals bind. */
export interface LintSources {
  custodians: () => CustodianSummary[];
  custodies: () => { id: string; token: TokenRef; state: string; threshold: number; holderIds: string[] }[];
  keys: () => KeyRecord[];
  bind: ReturnType<typeof proposalBinder>;
  clock: () => Date;
  /** What would refuse a proposal against the current state (QuorumService.precheck); absent: not checked. */
  precheck?: (custodyId: string, action: string, params: Record<string, unknown>) => string[];
  /** Steps a run of this script already proposed: they are not checked against the state they changed. */
  proposedBy?: (scriptSha256: string) => string[];
  /** A rehearsal's scratch token, standing in for the script's. */
  token?: TokenRef;
  /** Custodies a run of this script took (a run under way is linted again when it resumes). */
  custodiesTakenBy?: (scriptSha256: string) => string[];
}

/** A step whose proposal is made from what the script fixed, bound as the run will bind it. */
export interface PreparedProposal {
  action: ActionName;
  params: Record<string, unknown>;
  requestedBy: string;
  /** Null where a binding draws from the token's RNG (a certificate's serial): known only at the ceremony. */
  fingerprint: string | null;
  /** The parameter values drawn from the token's RNG, which lint only stands in for. */
  drawn: string[];
}

/**
 * Checks a script against this installation — every person enrolled in the role the script gives them, every
 * action's parameters, that each quorum step can be approved — and computes each quorum step's proposal
 * fingerprint, so the printed script carries what the approvers compare aloud.
 */
export function lintScript(text: string, sources: LintSources): Omit<LintReport, 'rehearsal'> {
  const parsed = parseScript(text, { placeholders: true });
  if ('problems' in parsed)
    return { ok: false, sha256: scriptSha256(text), title: null, header: null, problems: parsed.problems, steps: [] };
  if (sources.token) parsed.script = { ...parsed.script, token: sources.token };
  const { script } = parsed;
  const problems: string[] = [];
  const people = new Map(sources.custodians().map((c) => [c.name, c]));
  for (const name of peopleNamed(script))
    if (!people.has(name)) problems.push(`“${name}” is not enrolled in Custos (custos custodian list)`);
  const roleProblem = (name: string | undefined, role: CustodianSummary['roles'][number], what: string) => {
    const person = name === undefined ? undefined : people.get(name);
    if (person && !person.roles.includes(role)) problems.push(`${what} “${name}” does not have the ${role} role`);
  };
  script.roles.custodians.forEach((n) => roleProblem(n, 'custodian', 'Custodian'));
  roleProblem(script.roles.securityOfficer, 'security-officer', 'Security officer');
  for (const name of peopleNamed(script)) if (people.get(name)?.locked) problems.push(`“${name}” is locked out`);
  for (const name of peopleNamed(script)) {
    const retiredAt = people.get(name)?.retiredAt;
    if (retiredAt) problems.push(retiredError(name, retiredAt).message);
  }
  // What is reviewed is the printed text: a name that prints as another enrolled person's names someone else.
  for (const name of peopleNamed(script)) {
    const twin = [...people.keys()].find((other) => other !== name && readsAs(other) === readsAs(name));
    if (twin !== undefined)
      problems.push(`“${name}” looks like “${twin}” on paper, but is another person: name people whose names differ`);
  }
  hiddenCharacters(text).forEach((line) =>
    problems.push(`line ${line}: an invisible or reordering character (Unicode format or control character)`),
  );
  if (Date.parse(script.window.closes) <= sources.clock().getTime())
    problems.push(`The window closed at ${script.window.closes}: date the script again`);

  let holders = activeHolders(script.token, sources);
  const ownCustody = new Set(sources.custodiesTakenBy?.(parsed.sha256) ?? []);
  const touched = new Set<string>();
  const proposed = new Set(sources.proposedBy?.(parsed.sha256) ?? []);
  const steps: LintedStep[] = script.steps.map((step, index) => {
    const here = (problem: string) => problems.push(`steps.${index} (${step.id}): ${problem}`);
    if ('custody' in step) {
      if (holders && !(holders.custodyId && ownCustody.has(holders.custodyId)))
        here(`the token ${script.token.label} is already in custody`);
      if (step.custody.threshold > step.custody.holders.length) here('the threshold is more than the holders');
      namedTwice(step.custody.holders, 'holders', here);
      step.custody.holders.forEach((n) => roleProblem(n, 'custodian', 'Holder'));
      holders = { custodyId: null, threshold: step.custody.threshold, names: step.custody.holders };
    }
    const linted = lintedStep(script, step, index);
    if (linted.witnesses.includes(step.by)) here(`${step.by} performs this step, so cannot also witness it`);
    namedTwice(linted.witnesses, 'witnesses', here);
    if (!('action' in step)) return linted;
    if (!holders) {
      here(`the token ${script.token.label} is not in custody here, and no earlier step takes it into custody`);
      return linted;
    }
    checkQuorum(step, holders, people, here);
    const prepared = prepareProposal(parsed, index, sources, (n) => people.get(n)?.id ?? null);
    if ('problems' in prepared) {
      prepared.problems.forEach((p) => problems.push(p));
      return linted;
    }
    // Against the keys as they are now: only a step whose keys no earlier step of the script touches.
    const keys = keysNamed(step.params);
    const fresh = keys.every((k) => !k.startsWith('@') && !touched.has(k));
    if (holders.custodyId && sources.precheck && fresh && !proposed.has(step.id))
      sources.precheck(holders.custodyId, prepared.action, prepared.params).forEach((p) => here(p));
    keys.forEach((k) => touched.add(k));
    if ('algorithm' in prepared.params) {
      const verdict = policyVerdict(prepared.params.algorithm as PolicyRule['algorithm'], sources.clock());
      if (verdict.status === 'disallowed') here(`the algorithm policy disallows it: ${verdict.notes.join(' ')}`);
    }
    const words = describeProposal(prepared.action, prepared.params as never, lintLookups(parsed, sources));
    return {
      ...linted,
      words: [words.sentence, ...words.lines].map((line) =>
        prepared.drawn.reduce((l, value) => l.replaceAll(value, 'drawn by the token when the step is proposed'), line),
      ),
      fingerprint: prepared.fingerprint,
      shortFingerprint: prepared.fingerprint && shortFingerprint(prepared.fingerprint),
      readAloud: prepared.fingerprint
        ? null
        : 'The fingerprint depends on random bytes the token draws at the ceremony (a certificate’s serial): ' +
          'write it here when the proposal is made, and have each approver read it back: ____-____-____-____',
    };
  });
  const { purpose, location, window, token, roles } = script;
  const header = {
    purpose,
    location,
    window,
    token,
    roles: { ...roles, securityOfficer: roles.securityOfficer ?? null, auditor: roles.auditor ?? null },
  };
  return { ok: problems.length === 0, sha256: parsed.sha256, title: script.title, header, problems, steps };
}

/** The proposal a step makes, exactly as the run makes it; the fingerprint is the one the run will show. */
export function prepareProposal(
  parsed: ParsedScript,
  index: number,
  sources: Pick<LintSources, 'bind' | 'custodies'>,
  custodianId: (name: string) => string | null,
): PreparedProposal | { problems: string[] } {
  const step = parsed.script.steps[index]!;
  if (!('action' in step)) return { problems: [`steps.${index} (${step.id}): not a quorum step`] };
  const resolved = resolveParams(parsed, index, custodianId);
  if ('problems' in resolved) return resolved;
  const requestedBy = custodianId(step.by);
  if (requestedBy === null) return { problems: [`steps.${index} (${step.id}): “${step.by}” is not enrolled`] };
  let drew = false;
  const custody = sources.custodies().find((c) => c.state === 'active' && sameToken(c.token, parsed.script.token));
  const bindWith = (fill: number) =>
    sources.bind(custody?.id ?? '', step.action, resolved.params, {
      ckaId: derivedKeyId(parsed.sha256, step.id),
      random: (bytes) => {
        drew = true;
        return Buffer.alloc(bytes, fill);
      },
    }) as Record<string, unknown>;
  let params: Record<string, unknown>;
  let drawn: string[] = [];
  try {
    params = bindWith(0);
    // What the token's RNG decides (a serial) differs between two stand-in draws: the printed words must not
    // show a stand-in as if it were the value.
    if (drew) {
      const other = bindWith(0xff);
      drawn = Object.entries(params).flatMap(([k, v]) => (typeof v === 'string' && other[k] !== v ? [v] : []));
    }
  } catch (error) {
    // What a binding refuses (an unknown key, a request whose signature fails) is a problem of the script, named like
    // the others, not a crash of lint. A refused certificate profile is the precheck's, as the quorum's vetting.
    if (!isCustosError(error)) throw error;
    return { problems: [`steps.${index} (${step.id}): ${[error.message, ...error.remedy].join(' ')}`] };
  }
  const body = scriptProposalBody({
    action: step.action,
    params,
    token: parsed.script.token,
    requestedBy,
    binding: bindingOf(parsed, step),
  });
  return { action: step.action, params, requestedBy, fingerprint: drew ? null : sha256Hex(body), drawn };
}

export function bindingOf(parsed: ParsedScript, step: ScriptStep) {
  return { script: parsed.sha256, step: step.id, expiresAt: new Date(parsed.script.window.closes).toISOString() };
}

/**
 * A step in the words people read at the ceremony: the catalogue's sentence for a quorum step (with keys an earlier
 * step generates named by their label), the custody, checkpoint or manual task otherwise.
 */
export function stepWords(parsed: ParsedScript, index: number, sources: LintSources): string[] {
  const step = parsed.script.steps[index]!;
  const own = lintedStep(parsed.script, step, index).words;
  if (!('action' in step)) return own;
  const people = new Map(sources.custodians().map((c) => [c.name, c.id]));
  const resolved = resolveParams(parsed, index, (n) => people.get(n) ?? null);
  if ('problems' in resolved) return [`${step.action}: ${resolved.problems.join('; ')}`];
  const words = describeProposal(step.action, resolved.params as never, lintLookups(parsed, sources));
  return [words.sentence, ...words.lines.filter((l) => !l.startsWith('CKA_ID')), ...(step.note ? [step.note] : [])];
}

function lintedStep(script: ParsedScript['script'], step: ScriptStep, index: number): LintedStep {
  const kind = stepKind(step);
  const words =
    'custody' in step
      ? [
          `Take the token ${script.token.label} (serial ${script.token.serial}) into custody: any ` +
            `${step.custody.threshold} of ${step.custody.holders.join(', ')} together open it.`,
        ]
      : 'checkpoint' in step
        ? ['Sign the audit log’s checkpoint; print it and keep it with the script, away from this machine.']
        : 'manual' in step
          ? [step.manual, ...(step.record ? [`Record: ${step.record}`] : [])]
          : [];
  return {
    index,
    id: step.id,
    kind,
    title: step.title,
    by: step.by,
    witnesses: stepWitnesses(script, step),
    approvers: 'approvers' in step ? step.approvers : [],
    words: step.note ? [...words, step.note] : words,
    fingerprint: null,
    shortFingerprint: null,
    readAloud: null,
  };
}

/** A quorum step whose listed approvers cannot reach the custody's threshold (or the action's officer) is refused. */
function checkQuorum(
  step: Extract<ScriptStep, { action: string }>,
  holders: Holding,
  people: Map<string, CustodianSummary>,
  here: (problem: string) => void,
): void {
  if (step.approvers.includes(step.by)) here(`${step.by} proposes, so cannot also approve`);
  namedTwice(step.approvers, 'approvers', here);
  const holding = step.approvers.filter((n) => holders.names.includes(n));
  if (holding.length < holders.threshold)
    here(
      `${holding.length} of the approvers hold a share of the token, and it takes ${holders.threshold} ` +
        `(${holders.names.join(', ')})`,
    );
  const officers = ACTION_POLICIES[step.action]?.securityOfficers ?? 0;
  if (officers > 0) {
    // One person counts once: an officer who also holds a share counts as the officer only beyond the threshold.
    const officerOnly = step.approvers.filter(
      (n) => people.get(n)?.roles.includes('security-officer') && !holders.names.includes(n),
    ).length;
    const officerHolders = step.approvers.filter(
      (n) => people.get(n)?.roles.includes('security-officer') && holders.names.includes(n),
    ).length;
    const counted = officerOnly + Math.min(officerHolders, Math.max(0, holding.length - holders.threshold));
    if (counted < officers) here(`the policy for ${step.action} also asks for ${officers} security officer(s)`);
  }
  if (!people.get(step.by)?.roles.some((r) => r === 'custodian' || r === 'security-officer'))
    here(`${step.by} may not propose (a custodian or security officer does)`);
}

/** One person counts once: a name listed twice would make a threshold or a second witness look met by one person. */
function namedTwice(names: readonly string[], list: string, here: (problem: string) => void): void {
  for (const name of new Set(names.filter((n, i) => names.indexOf(n) !== i)))
    here(`${name} is named twice among the ${list}; one person counts once`);
}

interface Holding {
  custodyId: string | null;
  threshold: number;
  names: string[];
}

function activeHolders(token: TokenRef, sources: LintSources): Holding | null {
  const custody = sources.custodies().find((c) => c.state === 'active' && sameToken(c.token, token));
  if (!custody) return null;
  const names = new Map(sources.custodians().map((c) => [c.id, c.name]));
  return {
    custodyId: custody.id,
    threshold: custody.threshold,
    names: custody.holderIds.map((id) => names.get(id) ?? id),
  };
}

/** The keys a step's parameters name (ids, or `@step` references). */
function keysNamed(params: Record<string, unknown>): string[] {
  return Object.entries(params).flatMap(([name, value]) =>
    /keyIds?$|KeyId$/.test(name) ? (Array.isArray(value) ? value : [value]).filter((v) => typeof v === 'string') : [],
  ) as string[];
}

export function sameToken(a: TokenRef, b: TokenRef): boolean {
  return a.serial === b.serial && a.label === b.label;
}

/** Names in the words approvers read: keys an earlier step generates are named by the label the script gives. */
function lintLookups(parsed: ParsedScript, sources: LintSources): ProposalLookups {
  const keys = sources.keys();
  const people = sources.custodians();
  // A rotation's successor keeps its predecessor's label (and algorithm unless the step names another).
  const planned = new Map<string, { label: string; algorithm: string }>();
  for (const s of parsed.script.steps) {
    if (!('action' in s)) continue;
    if (s.action === 'key.generate' && typeof s.params.label === 'string')
      planned.set(derivedKeyId(parsed.sha256, s.id), { label: s.params.label, algorithm: String(s.params.algorithm) });
    if (s.action === 'key.rotate' && typeof s.params.keyId === 'string') {
      const ref = s.params.keyId;
      const from = ref.startsWith('@')
        ? planned.get(derivedKeyId(parsed.sha256, ref.slice(1)))
        : keys.find((k) => k.id === ref);
      if (from)
        planned.set(derivedKeyId(parsed.sha256, s.id), {
          label: from.label,
          algorithm: typeof s.params.algorithm === 'string' ? s.params.algorithm : from.algorithm,
        });
    }
  }
  return {
    key: (id) => {
      const known = keys.find((k) => k.id === id);
      if (known) return known;
      const p = planned.get(id);
      return p
        ? { label: p.label, algorithm: p.algorithm, state: 'generated in this ceremony', token: parsed.script.token }
        : null;
    },
    person: (id) => people.find((c) => c.id === id)?.name ?? null,
    token: (serial) => (serial === parsed.script.token.serial ? parsed.script.token.label : null),
  };
}

/** Lines holding a character that prints as nothing or reorders the line (Trojan Source), by number from 1. */
function hiddenCharacters(text: string): number[] {
  return text.split('\n').flatMap((line, i) => (/[\p{Cf}\u2028\u2029]|(?![\t\r])\p{Cc}/u.test(line) ? [i + 1] : []));
}
