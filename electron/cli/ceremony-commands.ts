import type { KeyRecord } from '../../shared/keys';
import type { CustodyView, ProposalView } from '../../shared/quorum';
import type { CustosCore } from '../core/custos-core';
import { CustosError } from '../core/errors';
import { ask, call, str, usageFailure, type Io, type Request, type Values } from './cli-support';
import { passphraseFromFd } from './secrets';

export const CEREMONY_USAGE = `  custody list                        Tokens in custody, their quorum and holders
  custody take --holder ID --holder ID… --threshold T [--serial S --label L | --new-label L]
                                      Take a token into custody; each holder gives passphrase and code
                                      (prompted in turn, or --passphrase-fd N / --code C once per holder,
                                      in holder order). An initialised token's SO PIN is asked once.
  proposal list
  proposal create --custody ID --action A [--param K=V]… --as ID
                                      Propose a quorum action (e.g. key.generate, custody.redeal with
                                      --param threshold=2 --param holders=ID,ID,ID); prints the fingerprint
  proposal approve --id P --fingerprint F --as ID [--as ID]…
                                      Approve (or, for a change of holders, confirm as a new holder).
                                      Approvals made in one command are held together: shares live only
                                      in this process's memory and die when it ends (approving again
                                      later gives the share again)
  proposal reject --id P --as ID      Any custodian may reject; proposal cancel --id P --as ID: the requester
  key list
  key export --id K [--format pem|jwk]
  key emergency --id K --transition suspend|compromise --as ID
                                      A security officer suspends a key or marks it compromised at once
`;

/** Passphrase and code of one custodian, from the i-th --passphrase-fd / --code or asked in turn. */
async function factors(custodianId: string, who: string, values: Values, io: Io, index = 0) {
  const fds = (values['passphrase-fd'] as string[] | undefined) ?? [];
  const codes = (values.code as string[] | undefined) ?? [];
  const fd = fds[index];
  const passphrase = fd !== undefined ? passphraseFromFd(Number(fd)) : await ask(io, `${who}’s passphrase: `, true);
  const code = codes[index] ?? (await ask(io, `${who}’s 6-digit code: `, false));
  return { custodianId, passphrase, code };
}

function nameOf(core: CustosCore, id: string): string {
  try {
    return core.custodians.get(id).name;
  } catch {
    return id;
  }
}

/** `--param k=v`: numbers and booleans as such, comma lists as lists (custodian ids for a turnover). */
export function parseParams(pairs: string[]): Record<string, string | number | boolean | string[]> {
  const params: Record<string, string | number | boolean | string[]> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new CustosError('IPC_INVALID_PAYLOAD', `--param needs KEY=VALUE, not “${pair}”.`);
    const [key, value] = [pair.slice(0, at), pair.slice(at + 1)];
    params[key] = /^-?\d+$/.test(value) ? Number(value) : value === 'true' ? true : value === 'false' ? false : value.includes(',') || key === 'holders' ? value.split(',').filter(Boolean) : value;
  }
  return params;
}

const when = (iso: string) => `${iso.replace('T', ' ').slice(0, 16)} UTC`;

function renderProposal(core: CustosCore) {
  return (p: ProposalView) => {
    const lines = [
      `Proposal ${p.id}: ${p.action} on “${p.token.label}” (${p.token.serial}) — ${p.state}`,
      `  Fingerprint (read it aloud): ${p.shortFingerprint}`,
      `  Parameters: ${JSON.stringify(p.params)}`,
      `  Proposed by ${nameOf(core, p.requestedBy)}; expires ${when(p.expiresAt)}`,
      `  Approvals held: ${p.approvals.filter((a) => a.held).length} of ${p.threshold}${p.approvals.length ? ` (${p.approvals.map((a) => nameOf(core, a.custodianId)).join(', ')})` : ''}`,
    ];
    if (p.securityOfficersRequired > 0) lines.push(`  Policy: also ${p.securityOfficersRequired} security officer(s): ${p.securityOfficersApproved} so far`);
    if (p.holdersToConfirm.length > 0) lines.push(`  New holders still to confirm: ${p.holdersToConfirm.map((id) => nameOf(core, id)).join(', ')}`);
    if (p.outcome) lines.push(`  Outcome: ${JSON.stringify(p.outcome)}`);
    return `${lines.join('\n')}\n`;
  };
}

const renderCustody = (list: CustodyView[]) =>
  list.length === 0 ? 'No token is in custody.\n' : `${list.map((c) => `${c.id}  ${c.token.label} (${c.token.serial})  ${c.threshold} of ${c.holders.length}: ${c.holders.map((h) => h.name).join(', ')}  ${c.state}`).join('\n')}\n`;

const renderKeys = (list: KeyRecord[]) =>
  list.length === 0
    ? 'No keys in the inventory.\n'
    : `${list
        .map((k) => `${k.id}  ${k.label.padEnd(20)} ${k.algorithm.padEnd(9)} ${k.state.padEnd(15)} expires ${k.expiresAt.slice(0, 10)}${k.destructionNotBefore ? `  destruction after ${k.destructionNotBefore.slice(0, 10)}` : ''}${k.policy.status === 'acceptable' ? '' : `  [${k.policy.status}]`}`)
        .join('\n')}\n`;

/** The custody, proposal and key commands: the same flows as the Ceremonies, Approvals and Keys screens. */
export function ceremonyRequest(command: string, values: Values, io: Io): Request | null {
  const id = str(values.id) ?? '';
  const as = str(values.as) ?? '';
  switch (command) {
    case 'custody list':
      return call('custody.list', {}, renderCustody);
    case 'custody take':
      return async (core) => {
        const ids = (values.holder as string[] | undefined) ?? [];
        const threshold = Number(values.threshold);
        if (ids.length < 2 || !Number.isInteger(threshold)) return usageFailure('custody take needs at least two --holder ID and --threshold T.');
        const holders = [];
        for (const [i, holder] of ids.entries()) holders.push(await factors(holder, nameOf(core, holder), values, io, i));
        const serial = str(values.serial);
        const token = serial !== undefined ? { serial, label: str(values.label) ?? '' } : { serial: '', label: '' };
        const currentSoPin = serial !== undefined ? await ask(io, 'The token’s current SO PIN (replaced at once): ', true) : undefined;
        const label = str(values['new-label']);
        return call('custody.take', { token, threshold, holders, ...(currentSoPin ? { currentSoPin } : {}), ...(label ? { label } : {}) }, (c) =>
          `Token “${c.token.label}” (${c.token.serial}) is in custody, ${c.threshold} of ${c.holders.length}: ${c.holders.map((h) => h.name).join(', ')}.\nNobody has seen its PINs. Custody id: ${c.id}\n`,
        )(core);
      };
    case 'proposal list':
      return async (core) => call('proposals.list', {}, (list) => (list.length === 0 ? 'No proposals.\n' : list.map(renderProposal(core)).join('\n')))(core);
    case 'proposal create':
      return async (core) => {
        const action = str(values.action) ?? '';
        const params = parseParams((values.param as string[] | undefined) ?? []);
        const requester = await factors(as, nameOf(core, as), values, io);
        return call('proposals.create', { custodyId: str(values.custody) ?? '', action: action as never, params, requester }, (p) => `${renderProposal(core)(p)}Read the fingerprint aloud to each approver.\n`)(core);
      };
    case 'proposal approve':
      return async (core) => {
        const fingerprint = str(values.fingerprint) ?? (await ask(io, 'Fingerprint as read aloud to you: ', false));
        const approvers = (values.as as string[] | undefined) ?? [];
        if (approvers.length === 0) return usageFailure('proposal approve needs --as ID for each approver.');
        let last: Awaited<ReturnType<Request>> | null = null;
        for (const [i, approverId] of approvers.entries()) {
          const approver = await factors(approverId, nameOf(core, approverId), values, io, i);
          last = await call('proposals.approve', { proposalId: id, fingerprint, approver }, renderProposal(core))(core);
          if (!last.envelope.ok) break;
        }
        return last!;
      };
    case 'proposal reject':
    case 'proposal cancel':
      return async (core) => {
        const by = await factors(as, nameOf(core, as), values, io);
        return call(command === 'proposal reject' ? 'proposals.reject' : 'proposals.cancel', { proposalId: id, by }, renderProposal(core))(core);
      };
    case 'key list':
      return call('keys.list', {}, renderKeys);
    case 'key export':
      return call('keys.exportPublic', { keyId: id, format: (str(values.format) ?? 'pem') as 'pem' }, (e) => e.text);
    case 'key emergency':
      return async (core) => {
        const officer = await factors(as, nameOf(core, as), values, io);
        return call('keys.emergency', { keyId: id, transition: (str(values.transition) ?? '') as 'suspend', officer }, (k) => `${k.label} is now ${k.state}.\n`)(core);
      };
    default:
      return null;
  }
}
