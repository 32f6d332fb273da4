import { keyIdentity, type KeyRecord } from '../../shared/keys';
import { inUtc } from '../../shared/key-lifecycle';
import { AUTHENTICATION_IN_WORDS, fingerprintInGroups, shareCardWords } from '../../shared/backups';
import type { WireError } from '../../shared/errors';
import {
  describeFailure,
  FailedOutcome,
  PinAlphabet,
  reasonProblem,
  type CustodyView,
  type ProposalView,
} from '../../shared/quorum';
import type { CustosCore } from '../core/custos-core';
import { resolveDataDir } from '../core/data-dir';
import { refuseCardsInside } from '../core/destinations';
import { readBoundedText } from '../core/bounded-file';
import { resolve } from 'node:path';
import type { BackupSummary } from '../../shared/backups';
import { auditKeyFingerprint, type Authentication } from '../core/backup/manifest-authenticity';
import { publicKeyFromPem } from '../core/audit/audit-key';
import { renderCardPdf } from '../core/backup/card-pdf';
import { isCustosError } from '../core/errors';
import { cardFolder, openCardFolder, refuseForeignFolder } from './card-folder';
import {
  ask,
  call,
  factors,
  proposalById,
  read,
  str,
  usageFailure,
  type Io,
  type Request,
  type Values,
  whole,
} from './cli-support';
import { custodianId, proposalFromCommandLine, renderProposal } from './proposal-words';
import { passphraseFromFd } from './secrets';
import { proposalFiles } from './pki-commands';

export const CEREMONY_USAGE = `  custody list                        Tokens in custody, their quorum and holders
  custody take --holder WHO --holder WHO… --threshold T [--serial S --label L | --new-label L]
               [--pin-alphabet digits|hex] [--passphrase-fd N]… [--code CODE]…
                                      Take a token into custody; each holder gives passphrase and code
                                      (prompted in turn, or --passphrase-fd N / --code C once per holder,
                                      in holder order). With --serial/--label the token's current SO PIN
                                      is asked once: an initialised token's, or a blank token's factory
                                      SO PIN where it wants one (opencryptoki: SO_PIN_REQUIRED otherwise).
                                      --pin-alphabet: for a token whose PINs take only digits or hex
  custody settle --id ID --holder WHO --holder WHO… [--passphrase-fd N]… [--code CODE]…
                                      Settle a custody a crash left pending: its holders' PINs are tried on
                                      the token; it becomes active, or is set aside, or the half-change is named
  proposal actions                    Each quorum action with its parameters, types and defaults
  proposal list
  proposal show --id P                One proposal in words: what it does, who approved, what came of it
  proposal create --custody ID --action A [--param K=V]… --as WHO [--passphrase-fd N] [--code CODE]
                                      Propose a quorum action (e.g. key.generate, custody.redeal with
                                      --param threshold=2 --param holders=Ada,Bob,Cy); prints the fingerprint.
                                      The parameters are checked before any factor is asked
  proposal approve --id P --fingerprint F --as WHO [--as WHO]… [--passphrase-fd N]… [--code CODE]…
                                      Approve (or, for a change of holders, confirm as a new holder).
                                      Approvals made in one command are held together: shares live only
                                      in this process's memory and die when it ends (approving again
                                      later gives the share again)
                                      For key.backup: --cards-dir DIR receives each holder's card (PDF and
                                      text) as the backup runs. For key.restore: the cards are entered in
                                      the same command, --card-fd N once per card, or asked (echo off)
  proposal reject --id P --reason TEXT --as WHO [--passphrase-fd N] [--code CODE]
                                      Any custodian may reject, saying why (one line, at most 500
                                      characters; kept in the signed audit record). The reason is checked
                                      before any factor is asked
  proposal cancel --id P [--reason TEXT] --as WHO [--passphrase-fd N] [--code CODE]
                                      The requester withdraws their proposal, optionally saying why
  backup list                         Backup sets, their holders and last card checks; a retired set shows
                                      RETIRED and which cards are confirmed destroyed. Retiring a set is a
                                      quorum action: proposal create --action backup.retire
                                      --param setId=ID --param reason=TEXT
  backup card-destroyed --set ID --as WHO [--passphrase-fd N] [--code CODE]
                                      A holder of a retired set's card records, with both factors, that
                                      their card is destroyed (refused while the set is live)
  backup export --set ID --out FILE   The signed backup file (wrapped keys; useless without t cards) and
                                      the audit key fingerprint of the installation that made it
  backup import --file FILE [--expect-audit-key FINGERPRINT|PEM-FILE]
                                      Checks the signature and stores the set. A file from another
                                      installation is checked again by its MAC once t cards are entered,
                                      before anything is unwrapped; --expect-audit-key pins the audit key
                                      that must have signed it (from that installation's report)
  backup check [--card-fd N]          A holder checks their card against the manifest; rebuilds nothing
  key list
  key export --id K [--format pem|jwk] [--serial S --label L]
                                      With a token named: refused unless the key lives in it
  key emergency --id K --transition suspend|compromise [--reason TEXT] --as WHO [--serial S --label L]
                [--passphrase-fd N] [--code CODE]
                                      A security officer suspends a key or marks it compromised at once
                                      (compromise: --reason, 1-500 characters, required; its signed
                                      revocation notice is written under the data directory's reports),
                                      at the selected token (or the one named): only that token's keys
`;

function nameOf(core: CustosCore, id: string): string {
  try {
    return core.custodians.get(id).name;
  } catch {
    return id;
  }
}

/** A share card from the i-th --card-fd, or typed with echo off: it is a secret. */
async function cardText(values: Values, io: Io, index: number): Promise<string> {
  const fd = ((values['card-fd'] as string[] | undefined) ?? [])[index];
  return fd !== undefined
    ? passphraseFromFd(fd, '--card-fd')
    : ask(io, `Share card ${index + 1} (type the groups, or paste the QR text): `, true);
}

/**
 * The restore's cards, entered in the same process as the approvals that hold the PIN shares; asked again after a
 * refusal (a typo), until an empty answer says there is no card to type.
 */
export async function enterCards(
  core: CustosCore,
  approved: ProposalView,
  values: Values,
  io: Io,
  render: (p: ProposalView) => string,
): Promise<Awaited<ReturnType<Request>>> {
  let view = approved;
  for (let i = 0; view.state === 'open' && view.waitingFor.length > 0; i += 1) {
    const text = await cardText(values, io, i);
    // Nothing typed: no holder has a card to give. Asking again would only loop; what this process holds ends with it.
    if (text.trim() === '') {
      io.stderr(
        'No card typed: nothing was restored. Run the command again when the holders have their cards; ' +
          'approvals and cards are held only while it runs, so they are given again.\n',
      );
      break;
    }
    const answer = await core.router.dispatch('backups.enterShare', { proposalId: view.id, text });
    if (answer.ok) {
      view = answer.value as ProposalView;
      io.stderr(`Card accepted. ${view.waitingFor.join('; ') || 'Restoring…'}\n`);
      continue;
    }
    io.stderr(`Card refused (${answer.error.code}): ${answer.error.message}\n`);
    if (((values['card-fd'] as string[] | undefined) ?? []).length > 0) return { envelope: answer, render: () => '' };
    view = await proposalById(core, view.id);
  }
  return { envelope: { ok: true, value: view }, render: render as (v: never) => string };
}

/**
 * Each holder, in turn, proves both factors (the next --passphrase-fd/--code after the approvers',
 * or asked) and gets their own card as a one-page PDF and a text file in a folder of their own.
 */
export async function writeCards(
  core: CustosCore,
  proposal: ProposalView,
  dir: string,
  values: Values,
  io: Io,
  offset: number,
): Promise<void> {
  if (proposal.state !== 'executed') return;
  await writeSetCards(core, (proposal.outcome as { result: { setId: string } }).result.setId, dir, values, io, offset);
}

/** The cards of a set just made (a backup's, or a rehearsal's practice set), each to its holder after both factors. */
export async function writeSetCards(
  core: CustosCore,
  setId: string,
  dir: string,
  values: Values,
  io: Io,
  offset: number,
): Promise<void> {
  const missing: string[] = [];
  try {
    const set = (await read(core, 'backups.list', {})).find((b) => b.setId === setId)!;
    for (const [i, holder] of [...set.holders].sort((a, b) => a.index - b.index).entries()) {
      io.stderr(`Card holder ${holder.name}: prove your factors to receive your card.\n`);
      try {
        // Before the card is released and that is recorded: a folder it could not go to leaves no card released.
        for (const kind of ['card', 'practice-card'])
          refuseForeignFolder(cardFolder(dir, kind, holder.index, holder.name));
        const card = await read(core, 'backups.card', {
          setId,
          holder: await factors(holder.id, holder.name, values, io, offset + i),
        });
        // A practice set has the real set's id: its cards are named apart, never over a real card's files.
        const kind = card.rehearsal ? 'practice-card' : 'card';
        const folder = cardFolder(dir, kind, card.index, holder.name);
        const pdf = await renderCardPdf(card);
        // Checked again as each card is written: the folder named may have become a link since the backup began.
        if (!card.rehearsal) refuseCardsInside(dir, resolveDataDir(str(values['data-dir']), io.env));
        const out = openCardFolder(folder);
        try {
          out.write(`custos-${kind}-${setId.slice(0, 8)}-${card.index}.pdf`, pdf);
          out.write(
            `custos-${kind}-${setId.slice(0, 8)}-${card.index}.txt`,
            (card.rehearsal ? 'REHEARSAL — a practice card from a scratch token: it restores nothing real.\n' : '') +
              `Custos share card ${shareCardWords.share(card)} for ${holder.name}\n` +
              `Backup set ${setId}, made ${shareCardWords.made(card)} from ${shareCardWords.token(card)}\n` +
              `${card.text}\nSet fingerprint ${fingerprintInGroups(card.setFingerprint)}\n`,
          );
        } catch (error) {
          out.abandon();
          throw error;
        }
        out.close();
        io.stderr(`Card ${card.index} for ${holder.name}: ${folder}\n`);
      } catch (error) {
        // A rehearsal that stopped ends the hand-out: nothing asked after it is done anywhere.
        if (!isCustosError(error) || error.code.startsWith('REHEARSAL_')) throw error;
        missing.push(holder.name);
        io.stderr(`Card for ${holder.name} NOT released (${error.code}): ${error.message}\n`);
      }
    }
  } finally {
    await read(core, 'backups.forgetCards', { setId });
  }
  io.stderr(
    missing.length > 0
      ? `WARNING: no card for ${missing.join(', ')}. Do not rely on this backup; make a new one.\n`
      : 'Each holder prints their card, then deletes their folder: the files are the shares.\n',
  );
}

const madeBy = ({ madeBy: m }: BackupSummary) =>
  m.here ? 'made here' : `made by audit key ${m.auditKey?.slice(0, 16) ?? m.installation}…`;

// The CLI adds how to pin the maker now, where the app has its fingerprint field.
const HOW_AUTHENTICATED: Record<Authentication, string> = {
  ...AUTHENTICATION_IN_WORDS,
  'kek-mac-pending':
    `${AUTHENTICATION_IN_WORDS['kek-mac-pending']} To check now who made it, import it with --expect-audit-key ` +
    'and that installation’s audit key fingerprint (from its reports).',
};

/** --expect-audit-key: a fingerprint as printed, or the PEM file of that installation's audit key. */
function expectedAuditKey(value: string | undefined): string | undefined {
  if (value === undefined || /^[0-9a-f:\s]{64,}$/i.test(value)) return value;
  const limit = { bytes: 65_536, code: 'IPC_INVALID_PAYLOAD', what: 'the audit key’s PEM file' } as const;
  return auditKeyFingerprint(publicKeyFromPem(readBoundedText(resolve(value), limit)));
}

const renderBackups = (list: BackupSummary[]) =>
  list.length === 0
    ? 'No backups.\n'
    : `${list
        .map(
          (b) =>
            `${b.setId}  ${b.createdAt.slice(0, 16)}  ${madeBy(b)} from ${b.token.label} (${b.token.serial})  ${b.threshold} of ${b.holders.length}  keys: ${b.keys.map((k) => k.label).join(', ')}  ${b.verifiedAt ? 'verified' : 'NOT verified'}\n    cards: ${b.holders.map((h) => `${h.index} ${h.name}${h.lastChecked ? ` (checked ${h.lastChecked.slice(0, 10)})` : ''}${b.madeBy.here && !h.released ? ' (NEVER RELEASED)' : ''}`).join(', ')}\n    fingerprint: ${fingerprintInGroups(b.fingerprint)}${retiredLine(b)}`,
        )
        .join('\n')}\n`;

/** A retired set: when and why, and each card's confirmation; a tampered record says so. */
function retiredLine({ retirement: r }: BackupSummary): string {
  if (!r) return '';
  if (r.status === 'tampered')
    return `\n    RETIRED (${r.retiredAt.slice(0, 10)}), but ${r.reason}; it cannot be restored`;
  const cards = r.cards.map(
    (c) =>
      `${c.index} ${c.name} ${c.destroyedAt ? `destroyed ${c.destroyedAt.slice(0, 10)}` : 'NOT YET CONFIRMED destroyed'}`,
  );
  return `\n    RETIRED ${r.retiredAt.slice(0, 10)} (${r.reason}); cannot be restored. Cards: ${cards.join(', ')}`;
}

const renderCustody = (list: CustodyView[]) =>
  list.length === 0
    ? 'No token is in custody.\n'
    : `${list.map((c) => `${c.id}  ${c.token.label} (${c.token.serial})  ${c.threshold} of ${c.holders.length}: ${c.holders.map((h) => h.name).join(', ')}  ${c.state}`).join('\n')}\n`;

/** Its place in its family and its rotation date, or what replaced it and how it is kept from new protection. */
function lifecycle(k: KeyRecord): string {
  const family = k.version === 1 ? 'v1' : `v${k.version} of ${k.family.slice(0, 8)}…`;
  if (k.partlyDestroyed) {
    const { destroyed, remaining } = k.partlyDestroyed;
    return `${family}, PARTLY DESTROYED (gone: ${destroyed.join(', ')}; left: ${remaining.join(', ') || 'nothing'}; key destroy finishes it)`;
  }
  if (k.rotatedTo) {
    const limit =
      k.postOperational === 'token' ? 'the token refuses it new protection' : 'only Custos refuses it new protection';
    return `${family}, rotated to ${k.rotatedTo.slice(0, 8)}… (${limit})`;
  }
  if (!k.rotateBy) return family;
  const ended = k.usagePeriodEnded
    ? ` (usage period ended ${k.expiresAt.slice(0, 10)}: it applies no new protection)`
    : '';
  return `${family}, rotate by ${k.rotateBy.slice(0, 10)}${ended}`;
}

/** When a scheduled destruction's wait ends, to the hour (UTC) as the Keys screen says it, and whether it has. */
const destruction = (k: KeyRecord) =>
  k.destructionNotBefore === null
    ? ''
    : `  destruction from ${inUtc(k.destructionNotBefore)}${k.destructionDue ? ' (wait over)' : ''}`;

const renderKeys = (list: KeyRecord[]) =>
  list.length === 0
    ? 'No keys in the inventory.\n'
    : `${list
        .map(
          (k) =>
            `${k.id}  ${k.label.padEnd(20)} ${k.algorithm.padEnd(9)} ${k.state.padEnd(15)} ${keyIdentity(k).padEnd(26)} expires ${k.expiresAt.slice(0, 10)}${destruction(k)}${k.policy.status === 'acceptable' ? '' : `  [${k.policy.status}]`}  ${lifecycle(k)}`,
        )
        .join('\n')}\n`;

/** The custody, proposal and key commands: the same flows as the Ceremonies, Approvals and Keys screens. */
export function ceremonyRequest(command: string, values: Values, io: Io): Request | null {
  const id = str(values.id) ?? '';
  const given = str(values.as) ?? '';
  /** The custodian acting (--as), by id or name; resolved when the command runs, before any factor. */
  const as = (core: CustosCore) => custodianId(core, given);
  const holderIds = (core: CustosCore) =>
    ((values.holder as string[] | undefined) ?? []).map((h) => custodianId(core, h));
  switch (command) {
    case 'custody list':
      return call('custody.list', {}, renderCustody);
    case 'custody take':
      return async (core) => {
        const ids = holderIds(core);
        const threshold = whole(values.threshold);
        if (ids.length < 2 || !Number.isInteger(threshold))
          return usageFailure('custody take needs at least two --holder ID and --threshold T.');
        const holders = [];
        for (const [i, holder] of ids.entries())
          holders.push(await factors(holder, nameOf(core, holder), values, io, i));
        const serial = str(values.serial);
        const token = serial !== undefined ? { serial, label: str(values.label) ?? '' } : { serial: '', label: '' };
        const currentSoPin =
          serial !== undefined ? await ask(io, 'The token’s current SO PIN (replaced at once): ', true) : undefined;
        const label = str(values['new-label']);
        const alphabet = PinAlphabet.optional().safeParse(str(values['pin-alphabet']));
        if (!alphabet.success) return usageFailure('--pin-alphabet is digits, hex or alphanumeric.');
        const pinAlphabet = alphabet.data;
        const request = {
          token,
          threshold,
          holders,
          ...(currentSoPin ? { currentSoPin } : {}),
          ...(label ? { label } : {}),
          ...(pinAlphabet ? { pinAlphabet } : {}),
        };
        return call(
          'custody.take',
          request,
          (c) =>
            `Token “${c.token.label}” (${c.token.serial}) is in custody, ${c.threshold} of ${c.holders.length}: ${c.holders.map((h) => h.name).join(', ')}.\nNobody has seen its PINs. Custody id: ${c.id}\n` +
            (c.pinBits !== null && c.pinBits < 64
              ? `WARNING: its PINs carry only ${c.pinBits} bits (the token caps PIN length); keep it physically guarded.\n`
              : ''),
        )(core);
      };
    case 'custody settle':
      return async (core) => {
        const ids = holderIds(core);
        const holders = [];
        for (const [i, holder] of ids.entries())
          holders.push(await factors(holder, nameOf(core, holder), values, io, i));
        return call('custody.settle', { custodyId: id, holders }, (r) =>
          r.outcome === 'activated'
            ? `The token has this custody’s PINs: custody ${r.custody.id} is now active.\n`
            : `The token does not take both of this custody’s PINs: custody ${r.custody.id} is set aside; a custody ` +
              'in force before stays in force (with none, re-initialise the token or take it again with its SO PIN).\n',
        )(core);
      };
    case 'proposal list':
      return async (core) =>
        call('proposals.list', {}, (list) =>
          list.length === 0 ? 'No proposals.\n' : list.map(renderProposal(core)).join('\n'),
        )(core);
    case 'proposal show':
      return async (core) => {
        const view = await proposalById(core, id);
        return { envelope: { ok: true, value: view }, render: renderProposal(core) as (v: never) => string };
      };
    case 'proposal create':
      return async (core) => {
        const { action, params } = proposalFromCommandLine(
          core,
          str(values.action) ?? '',
          (values.param as string[] | undefined) ?? [],
          proposalFiles(values),
        );
        const requesterId = as(core);
        const requester = await factors(requesterId, nameOf(core, requesterId), values, io);
        return call(
          'proposals.create',
          { custodyId: str(values.custody) ?? '', action, params, requester },
          (p) => `${renderProposal(core)(p)}Read the fingerprint aloud to each approver.\n`,
        )(core);
      };
    case 'proposal approve':
      return async (core) => {
        const fingerprint = str(values.fingerprint) ?? (await ask(io, 'Fingerprint as read aloud to you: ', false));
        const approvers = ((values.as as string[] | undefined) ?? []).map((who) => custodianId(core, who));
        if (approvers.length === 0) return usageFailure('proposal approve needs --as ID for each approver.');
        const { action } = await proposalById(core, id);
        const cardsDir = str(values['cards-dir']);
        // A backup's cards exist only in this process: without a place to put them, they would be lost.
        if (action === 'key.backup' && !cardsDir)
          return usageFailure(
            'Approving a backup needs --cards-dir DIR: the share cards are written there as the backup runs.',
          );
        if (action === 'key.backup') refuseCardsInside(cardsDir!, resolveDataDir(str(values['data-dir']), io.env));
        let last: Awaited<ReturnType<Request>> | null = null;
        for (const [i, approverId] of approvers.entries()) {
          const approver = await factors(approverId, nameOf(core, approverId), values, io, i);
          last = await call('proposals.approve', { proposalId: id, fingerprint, approver }, renderProposal(core))(core);
          if (!last.envelope.ok) break;
        }
        if (last?.envelope.ok && action === 'key.restore')
          last = await enterCards(core, last.envelope.value as ProposalView, values, io, renderProposal(core));
        if (last?.envelope.ok && action === 'key.backup' && cardsDir)
          await writeCards(core, last.envelope.value as ProposalView, cardsDir, values, io, approvers.length);
        return { ...last!, ...operationFailure(last!) };
      };
    case 'proposal reject':
    case 'proposal cancel':
      return async (core) => {
        const reason = str(values.reason);
        if (command === 'proposal reject' && reason === undefined)
          return usageFailure('proposal reject needs --reason TEXT: say why, for the approvers and the audit record.');
        const problem = reason === undefined ? null : reasonProblem(reason);
        if (problem) return usageFailure(`${problem} Nothing was asked or done.`);
        const byId = as(core);
        const by = await factors(byId, nameOf(core, byId), values, io);
        return command === 'proposal reject'
          ? call('proposals.reject', { proposalId: id, by, reason: reason ?? '' }, renderProposal(core))(core)
          : call('proposals.cancel', { proposalId: id, by, ...(reason ? { reason } : {}) }, renderProposal(core))(core);
      };
    case 'backup list':
      return call('backups.list', {}, renderBackups);
    case 'backup export':
      if (!str(values.out)) return async () => usageFailure('backup export needs --out FILE.');
      return call(
        'backups.exportFile',
        { setId: str(values.set) ?? '' },
        (v) =>
          `Backup file written to ${v.path}. Keep it apart from the share cards.\n` +
          (v.auditKey
            ? `Made by audit key ${v.auditKey}\n` +
              '  (print it with the file; on a new installation, backup import --expect-audit-key checks it).\n'
            : ''),
      );
    case 'backup import':
      if (!str(values.file)) return async () => usageFailure('backup import needs --file FILE.');
      return async (core) => {
        const expected = expectedAuditKey(str(values['expect-audit-key']));
        return call('backups.importFile', expected === undefined ? {} : { expectAuditKey: expected }, (r) => {
          if (r.outcome === 'cancelled') return 'No backup file was chosen; nothing was imported.\n';
          const { setId, madeBy: m } = r.backup;
          const { authentication } = r;
          return (
            `Backup set ${setId} is stored, ` +
            `${m.here ? 'made by this installation' : `made by ${m.installation} (audit key ${m.auditKey})`}.\n` +
            `${HOW_AUTHENTICATED[authentication]}\n`
          );
        })(core);
      };
    case 'backup check':
      return async (core) =>
        call(
          'backups.checkShare',
          { text: await cardText(values, io, 0) },
          (r) => `Card ${r.index} (${r.holder}) of backup set ${r.setId} is valid. The check is recorded.\n`,
        )(core);
    case 'backup card-destroyed':
      return async (core) => {
        const holderId = as(core);
        const setId = str(values.set) ?? '';
        return call(
          'backups.cardDestroyed',
          { setId, holder: await factors(holderId, nameOf(core, holderId), values, io) },
          (b) =>
            `${nameOf(core, holderId)}’s card of backup set ${b.setId} is recorded as destroyed.${retiredLine(b)}\n`,
        )(core);
      };
    case 'key list':
      return call('keys.list', {}, renderKeys);
    case 'key export':
      return call(
        'keys.exportPublic',
        {
          keyId: id,
          format: (str(values.format) ?? 'pem') as 'pem',
          ...(values.serial !== undefined
            ? { token: { serial: str(values.serial) ?? '', label: str(values.label) ?? '' } }
            : {}),
        },
        (e) => e.text,
      );
    case 'key emergency':
      return async (core) => {
        const serial = str(values.serial);
        const token = serial !== undefined ? { serial, label: str(values.label) ?? '' } : core.tokens.selected();
        if (!token)
          return usageFailure('key emergency acts at a token: give --serial S --label L, or select it first.');
        const officerId = as(core);
        const officer = await factors(officerId, nameOf(core, officerId), values, io);
        const reason = str(values.reason);
        const transition = (str(values.transition) ?? '') as 'suspend';
        const request = { keyId: id, transition, token, officer, ...(reason !== undefined ? { reason } : {}) };
        const proposed = (k: {
          revocationProposals?: { issuerKeyId: string; proposalId: string | null; problem: string | null }[];
        }) =>
          (k.revocationProposals ?? [])
            .map((r) =>
              r.proposalId
                ? `Proposed revoking its certificates issued by CA key ${r.issuerKeyId}: proposal ${r.proposalId} (crl.issue), for that token's custodians to approve.\n`
                : `Could not propose revoking its certificates issued by CA key ${r.issuerKeyId}: ${r.problem}\n`,
            )
            .join('');
        return call('keys.emergency', request, (k) =>
          k.revocationNotice
            ? `${k.label} is now ${k.state}.\nRevocation notice ${k.revocationNotice.id} signed and written to ${k.revocationNotice.dir}\nSHA-256 of report.json: ${k.revocationNotice.sha256}\n${proposed(k)}`
            : `${k.label} is now ${k.state}.\n`,
        )(core);
      };
    default:
      return null;
  }
}

/**
 * The approval went through, but the operation it set off failed: the command fails with that outcome's code and
 * reason.
 */
function operationFailure(last: Awaited<ReturnType<Request>>): { failed: WireError } | Record<string, never> {
  if (!last.envelope.ok) return {};
  const view = last.envelope.value as ProposalView;
  const outcome = FailedOutcome.safeParse(view.outcome);
  if (view.state !== 'failed' || !outcome.success) return {};
  return {
    failed: {
      code: outcome.data.code,
      message: `Proposal ${view.id} was approved, but ${describeFailure(outcome.data).replace(/^Failed: /, 'its operation failed: ')}`,
      remedy: [
        ...(outcome.data.remedy ?? []),
        'Nothing else was changed. Read the outcome above; propose it again once the cause is dealt with.',
      ],
    },
  };
}
