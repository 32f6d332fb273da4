import {
  PROPOSABLE_ACTIONS,
  ACTIONS,
  ActionName,
  actionParamHelp,
  actionTitle,
  describeProposal,
  describeResult,
  paramProblems,
  type ProposalLookups,
} from '../../shared/actions';
import { describeFailure, type ProposalRequest, type ProposalView } from '../../shared/quorum';
import type { z } from 'zod';
import type { CustosCore } from '../core/custos-core';
import { CustosError, shown } from '../core/errors';

/** What the CLI looks up to name what a proposal points at: the inventory, the custodians, the custody. */
export function cliLookups(core: CustosCore): ProposalLookups {
  const keys = core.keys.list();
  const custodians = core.custodians.list();
  const custodies = core.custody.list();
  return {
    key: (id) => keys.find((k) => k.id === id) ?? null,
    person: (id) => custodians.find((c) => c.id === id)?.name ?? null,
    token: (serial) => custodies.find((c) => c.token.serial === serial)?.token.label ?? null,
  };
}

/**
 * A custodian named on the command line by id or by name (any case); a name that fits nobody, or
 * more than one person, is refused before anyone is asked for a factor.
 */
export function custodianId(core: CustosCore, given: string): string {
  const all = core.custodians.list();
  if (all.some((c) => c.id === given)) return given;
  const exact = all.filter((c) => c.name === given.trim());
  const named = exact.length === 1 ? exact : all.filter((c) => c.name.toLowerCase() === given.trim().toLowerCase());
  if (named.length === 1) return named[0]!.id;
  if (named.length > 1) {
    throw new CustosError('CUSTODIAN_AMBIGUOUS', `${named.length} custodians are named “${shown(given)}”.`, [
      `Give the id instead: ${named.map((c) => c.id).join(', ')}.`,
    ]);
  }
  throw new CustosError('CUSTODIAN_NOT_FOUND', `No custodian has the id or name “${shown(given)}”.`, [
    '`custos custodian list` shows each custodian’s id and name.',
  ]);
}

/** `--param k=v`: numbers and booleans as such; comma lists, holders and …Ids as lists. */
export function parseParams(
  pairs: string[],
  /** Each parameter's JSON type from the catalogue: a label "2026" or a reason with a comma stays text. */
  types: Readonly<Record<string, string | undefined>> = {},
): Record<string, string | number | boolean | string[]> {
  const params: Record<string, string | number | boolean | string[]> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new CustosError('IPC_INVALID_PAYLOAD', `--param needs KEY=VALUE, not “${shown(pair)}”.`);
    const [key, value] = [pair.slice(0, at), pair.slice(at + 1)];
    const type = Object.hasOwn(types, key) ? types[key] : undefined;
    params[key] =
      type === 'string'
        ? value
        : type === 'array'
          ? value.split(',').filter(Boolean)
          : /^-?\d+$/.test(value)
            ? Number(value)
            : value === 'true'
              ? true
              : value === 'false'
                ? false
                : value.includes(',') || key === 'holders' || key === 'revoke' || key.endsWith('Ids')
                  ? value.split(',').filter(Boolean)
                  : value;
  }
  return params;
}

/**
 * The action and its parameters, checked against the catalogue before any factor is asked, so a
 * mistake costs nobody a passphrase or a one-time code. Holders may be given by name.
 */
export function proposalFromCommandLine(
  core: CustosCore,
  action: string,
  pairs: string[],
  files: Record<string, unknown> = {},
) {
  const known = ActionName.safeParse(action);
  if (!known.success) {
    throw new CustosError('ACTION_UNKNOWN', `Custos has no quorum action “${shown(action)}”.`, [
      '`custos proposal actions` lists each action and its parameters.',
    ]);
  }
  const types = Object.fromEntries(actionParamHelp(known.data).map((p) => [p.name, p.json]));
  const params: Record<string, unknown> = { ...parseParams(pairs, types), ...files };
  if (Array.isArray(params.holders)) params.holders = params.holders.map((h) => custodianId(core, h));
  const checked = ACTIONS[known.data].proposed.safeParse(params);
  if (!checked.success) {
    throw new CustosError(
      'PROPOSAL_INVALID',
      `This ${action} proposal cannot be carried out as written, so it was not proposed; no factor was asked.`,
      [...paramProblems(checked.error), `\`custos proposal actions\` shows what ${action} takes.`],
    );
  }
  // The router checks these again against the request schema; the catalogue's schema has just accepted them.
  return { action: known.data, params: params as z.input<typeof ProposalRequest>['params'] };
}

/** Every action with its parameters, types and defaults, read from the catalogue's schemas. */
export function actionsHelp(): string {
  return PROPOSABLE_ACTIONS.map((action) => {
    const params = actionParamHelp(action).map((p) => {
      const given = p.required
        ? ''
        : p.default !== undefined
          ? ` (default ${JSON.stringify(p.default)})`
          : ' (optional)';
      return `      ${`${p.name}=`.padEnd(26)}${p.type}${given}${p.description ? ` — ${p.description}` : ''}`;
    });
    return `  ${action.padEnd(26)}${actionTitle(action)}\n${params.length ? params.join('\n') : '      (no parameters)'}\n`;
  }).join('');
}

const when = (iso: string) => `${iso.replace('T', ' ').slice(0, 16)} UTC`;

/** A proposal as the CLI prints it: the catalogue's sentence first, then who acts and what came of it. */
export function renderProposal(core: CustosCore) {
  const lookups = cliLookups(core);
  const name = (id: string) => lookups.person(id) ?? id;
  return (p: ProposalView) => {
    const described = describeProposal(p.action, p.params, lookups);
    const lines = [
      `Proposal ${p.id}: ${actionTitle(p.action)} (${p.action}) on “${p.token.label}” (${p.token.serial}) — ${p.state}`,
      `  ${described.sentence}`,
      ...described.lines.map((line) => `    ${line}`),
      `  Fingerprint (read it aloud): ${p.shortFingerprint}`,
      `  Proposed by ${name(p.requestedBy)}; expires ${when(p.expiresAt)}`,
      `  Approvals held: ${p.approvals.filter((a) => a.held).length} of ${p.threshold}${p.approvals.length ? ` (${p.approvals.map((a) => name(a.custodianId)).join(', ')})` : ''}`,
    ];
    if (p.securityOfficersRequired > 0)
      lines.push(
        `  Policy: also ${p.securityOfficersRequired} security officer(s): ${p.securityOfficersApproved} so far`,
      );
    if (p.holdersToConfirm.length > 0)
      lines.push(`  New holders still to confirm: ${p.holdersToConfirm.map(name).join(', ')}`);
    if (p.waitingFor.length > 0) lines.push(`  Also waiting for: ${p.waitingFor.join('; ')}`);
    lines.push(...decisionLines(p, name));
    if (p.outcome?.status === 'failed') lines.push(`  Outcome: ${describeFailure(p.outcome)}`);
    else if (p.outcome)
      lines.push(
        ...describeResult(p.action, p.outcome.result, lookups).map(
          (line, i) => `  ${i === 0 ? 'Outcome: ' : '         '}${line}`,
        ),
      );
    return `${lines.join('\n')}\n`;
  };
}

/** Who rejected or cancelled it and why, as signed; a record a database writer changed is said to be so. */
function decisionLines(p: ProposalView, name: (id: string) => string): string[] {
  const d = p.decision;
  if (!d) return [];
  const verb = p.state === 'rejected' ? 'Rejected' : 'Cancelled';
  if (d.status === 'tampered') return [`  ${verb} by: NOT SHOWN. ${d.message}`];
  const why =
    d.reason ?? (p.state === 'rejected' ? 'not recorded (rejected before Custos kept reasons)' : 'none given');
  return [`  ${verb} by ${name(d.by)} at ${when(d.at)}`, `  Reason: ${why}`];
}
