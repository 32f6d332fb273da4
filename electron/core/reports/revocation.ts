import type { BackupSummary } from '../../../shared/backups';
import { algorithmName, keyIdentity } from '../../../shared/keys';
import { canonicalJson, sha256Hex } from '../canonical-json';
import type { CustodyService } from '../custody/custody-service';
import { COMPROMISED_FROM } from '../keys/key-inventory';
import { CLOSING_ACTION_NAMES } from '../quorum/proposal-closure';
import { CustosError } from '../errors';
import type { ProposalView } from '../../../shared/quorum';
import { sql } from '../store/sql';
import {
  assemble,
  ceremonySeqs,
  keysOf,
  type CompromiseImpact,
  type CeremonyReport,
  type ReportSources,
  type RevocationNotice,
  type WrappedCopy,
} from './ceremony-report';
import { MARKED_COMPROMISED } from './participant-record';

/** What the notice and the impact report read beyond a ceremony report: custody tokens and backup sets. */
export type CompromiseSources = ReportSources & {
  custody: CustodyService;
  backups: { list(): BackupSummary[] };
};

export const REVOCATION_NOTICE = 'revocation-notice';
export const COMPROMISE_IMPACT = 'compromise-impact';

/**
 * The signed notice SP 800-57 Part 1 §5.3.4 asks for when a key is compromised: which key (label, id, algorithm,
 * public key fingerprint or check value), in which token, since when, marked by whom, why, and what relying parties
 * must do. It carries the audit entry that recorded the compromise, whose params hash binds the reason.
 */
export function revocationNotice(sources: CompromiseSources, keyId: string): CeremonyReport {
  const marked = compromiseEntry(sources, keyId);
  const key = sources.keys.get(keyId);
  if (!marked || key.compromiseReason === null)
    throw new CustosError('KEY_STATE_FORBIDS', `“${key.label}” is ${key.state}: no compromise is recorded for it.`, [
      'A revocation notice is made when a security officer marks the key compromised (with a reason).',
    ]);
  const officer = sources.custodians.get(marked.actor);
  const by = { id: officer.id, name: officer.name, roles: officer.roles };
  const revocation: RevocationNotice = {
    key: identity(key),
    token: sources.token(key.token),
    compromisedAt: marked.time,
    seq: marked.seq,
    bound: boundParams(keyId, key.compromiseReason, marked.params),
    by,
    reason: key.compromiseReason,
    relyingParties: relyingParties(
      key,
      marked.time,
      wrappedCopies(sources, relatedProposals(sources, keyId, new Set())),
    ),
  };
  const report = assemble(sources, REVOCATION_NOTICE, [marked.seq], {
    ceremony: null,
    participants: [
      { ...by, part: MARKED_COMPROMISED, at: marked.time, factors: ['passphrase', 'totp'], seq: marked.seq },
    ],
    keyIds: [keyId],
  });
  const reasonCheck =
    `The reason is the one recorded: audit entry ${marked.seq} (key.compromise) has as params the SHA-256 of the ` +
    'RFC 8785 canonical JSON of revocation.bound; `custos report verify` checks it.';
  return { ...report, revocation, howToVerify: [...report.howToVerify, reasonCheck] };
}

/**
 * Everything the audit log shows a compromised key touched: the ceremonies that generated, used, backed up, restored
 * or changed it, each with its entries; every backup set holding a copy, with their own entries (exports, card
 * releases, share checks); the tokens it was generated or restored into; every report that names it; and every
 * export of its public key (recorded against the key since the export's entry names it).
 */
export function compromiseImpact(sources: CompromiseSources, keyId: string): CeremonyReport {
  const marked = compromiseEntry(sources, keyId);
  const key = sources.keys.get(keyId);
  if (!marked)
    throw new CustosError('KEY_STATE_FORBIDS', `“${key.label}” was never marked compromised.`, [
      'A compromise impact report is made for a key a security officer marked compromised.',
    ]);
  const sets = sources.backups.list().filter((b) => b.keys.some((k) => k.id === keyId));
  const setIds = new Set(sets.map((b) => b.setId));
  const ceremonies = relatedProposals(sources, keyId, setIds);
  const reports = sources.store.all<{ id: string; type: string; created_at: string; sha256: string }>(
    sql`SELECT id, type, created_at, sha256 FROM reports WHERE instr(json, ${keyId}) > 0 ORDER BY created_at`,
  );
  const objects = [`key:${keyId}`, ...[...setIds].map((id) => `backup:${id}`), ...reports.map((r) => `report:${r.id}`)];
  const seqs = new Set(ceremonies.flatMap((p) => ceremonySeqs(sources.store, p.id)));
  for (const object of objects)
    for (const { seq } of sources.store.all<{ seq: number }>(
      sql`SELECT seq FROM audit_entries WHERE object = ${object}`,
    ))
      seqs.add(seq);
  const impact: CompromiseImpact = {
    key: { ...identity(key), state: key.state },
    compromisedAt: marked.time,
    reason: key.compromiseReason,
    ceremonies: ceremonies.map((p) => ({
      id: p.id,
      action: p.action,
      state: p.state,
      token: p.token,
      closedAt: closedAt(sources, p.id),
    })),
    backupSets: sets.map((b) => ({
      setId: b.setId,
      createdAt: b.createdAt,
      token: b.token,
      holders: b.holders.map((h) => h.name),
      verifiedAt: b.verifiedAt,
      otherKeys: b.keys.filter((k) => k.id !== keyId).map((k) => `${k.label} (${k.id})`),
    })),
    tokens: tokensHolding(key, ceremonies),
    reports: reports.map((r) => ({ id: r.id, type: r.type, createdAt: r.created_at, sha256: r.sha256 })),
    publicKeyExports: sources.store.all<{ seq: number; time: string; actor: string; result: string }>(sql`
      SELECT seq, time, actor, result FROM audit_entries
      WHERE object = ${`key:${keyId}`} AND action = 'key.export-public' ORDER BY seq`),
    wrappedCopies: wrappedCopies(sources, ceremonies),
  };
  const report = assemble(
    sources,
    COMPROMISE_IMPACT,
    [...seqs].sort((a, b) => a - b),
    { ceremony: null, participants: [], keyIds: [keyId] },
  );
  return { ...report, impact };
}

/** The latest recorded compromise of the key: when, by whom, and its entry's params hash. */
function compromiseEntry(sources: ReportSources, keyId: string) {
  const row = sources.store.get<{ seq: number; time: string; actor: string; entry: string }>(sql`
    SELECT seq, time, actor, entry FROM audit_entries
    WHERE object = ${`key:${keyId}`} AND action = 'key.compromise' AND result = 'ok' ORDER BY seq DESC LIMIT 1`);
  if (!row) return null;
  return { ...row, params: (JSON.parse(row.entry) as { params: string | null }).params };
}

/**
 * What the compromise entry's params hash binds: the state the key left, `compromised`, and the reason. The state
 * left is the one of the few SP 800-57 allows whose params hash is the entry's; a reason that matches none was not
 * the one recorded, and is refused.
 */
function boundParams(keyId: string, reason: string, params: string | null): RevocationNotice['bound'] {
  for (const from of COMPROMISED_FROM) {
    const bound = { from, to: 'compromised' as const, reason };
    if (paramsHash(bound) === params) return bound;
  }
  throw new CustosError('KEY_TAMPERED', `The reason stored for key ${keyId} is not the one its compromise recorded.`, [
    'Run custos audit verify, and compare the key with the last report that names it.',
  ]);
}

/** How the audit log hashes an entry's params (audit-log.ts), so anyone can check the notice's reason against it. */
export const paramsHash = (params: unknown) => sha256Hex(canonicalJson(params));

function identity(key: ReturnType<ReportSources['keys']['get']>): RevocationNotice['key'] {
  return {
    id: key.id,
    label: key.label,
    algorithm: key.algorithm,
    usage: key.usage,
    fingerprint: key.fingerprint,
    kcv: key.kcv,
    token: key.token,
  };
}

/** What whoever relied on the key must do now, for what the key was used for, in plain words. */
export function relyingParties(
  key: { label: string; algorithm: string; usage: string; fingerprint: string | null; kcv: string | null },
  at: string,
  wrapped: WrappedCopy[] = [],
): string[] {
  const named = `“${key.label}” (${algorithmName(key.algorithm)}, ${keyIdentity(key, true)})`;
  const common = [
    `Treat ${named} as known to an attacker from ${at} at the latest; it may have been exposed earlier.`,
    'Remove it from every trust store, pinned-key list and configuration that names it, and move to its successor.',
  ];
  const byUse: Record<string, string[]> = {
    sign: [
      `Stop trusting signatures by this key made after ${at}; check the time of any earlier signature by an independent timestamp before relying on it.`,
      'Revoke every certificate issued for this public key (CRL or OCSP reason keyCompromise, RFC 5280 §5.3.1) and replace it with one for the successor key.',
      'Ask the signer to re-sign what must stay valid with the successor key.',
    ],
    encrypt: [
      'Stop encrypting with this key at once.',
      'Treat everything it protected as disclosed: re-encrypt stored data under a new key, and rotate any secret it protected in transit.',
    ],
    wrap: [
      'Stop wrapping keys with it at once.',
      'Treat every key it wrapped as compromised too: replace those keys, and revoke what they certified or protected.',
    ],
  };
  const copies = wrapped.map(
    (w) => `“${w.recipient.label}” (recipient key SHA-256 ${w.recipient.fingerprint}, package ${w.packageId})`,
  );
  const destroy = copies.length
    ? [`Have each recipient of a wrapped copy destroy it and confirm in writing: ${copies.join('; ')}.`]
    : [];
  return [...common, ...(byUse[key.usage] ?? []), ...destroy];
}

/** The executed, ok wrapped exports among the key's proven ceremonies: recipient and package from the outcome. */
function wrappedCopies(sources: ReportSources, ceremonies: ProposalView[]): WrappedCopy[] {
  return ceremonies.flatMap((p) =>
    p.action === 'key.export-wrapped' && p.state === 'executed' && p.outcome?.status === 'ok'
      ? [
          {
            proposalId: p.id,
            packageId: p.outcome.result.packageId,
            sha256: p.outcome.result.sha256,
            recipient: {
              label: p.outcome.result.recipient.label,
              algorithm: p.outcome.result.recipient.algorithm,
              fingerprint: p.outcome.result.recipient.fingerprint,
            },
            scheme: p.outcome.result.scheme,
            at: executedAt(sources, p.id),
          },
        ]
      : [],
  );
}

/** When the proposal ran, as its signed closing entry says (the entry is in the report, with its proof). */
function executedAt(sources: ReportSources, proposalId: string): string | null {
  const row = sources.store.get<{ entry: string }>(sql`
    SELECT entry FROM audit_entries WHERE object = ${`proposal:${proposalId}`}
    AND action IN ('proposal.execute', 'proposal.reconcile') ORDER BY seq LIMIT 1`);
  return row ? (JSON.parse(row.entry) as { time: string }).time : null;
}

/**
 * Quorum ceremonies whose parameters or result name the key, certificates issued from a request for its public key
 * (cert.issue names that key by its fingerprint only: its request was made outside Custos), and restores of a backup
 * set that holds it.
 */
function relatedProposals(sources: CompromiseSources, keyId: string, setIds: Set<string>): ProposalView[] {
  const fingerprint = sources.keys.get(keyId).fingerprint;
  const candidates = sources.store.all<{ id: string }>(sql`
    SELECT id FROM proposals WHERE instr(body, ${keyId}) > 0 OR instr(coalesce(outcome, ''), ${keyId}) > 0
    OR (${fingerprint ?? ''} != '' AND instr(body, ${fingerprint ?? ''}) > 0)
    ORDER BY created_at`);
  const restores = [...setIds].flatMap((setId) =>
    sources.store.all<{ id: string }>(sql`SELECT id FROM proposals WHERE instr(body, ${setId}) > 0`),
  );
  const ids = [...new Set([...candidates, ...restores].map((r) => r.id))];
  return ids
    .map((id) => sources.quorum.provenView(id))
    .filter((p) => {
      const { setId, publicKeyFingerprint } = p.params as { setId?: unknown; publicKeyFingerprint?: unknown };
      return (
        keysOf(p.params, p.outcome).includes(keyId) ||
        (typeof setId === 'string' && setIds.has(setId)) ||
        (p.action === 'cert.issue' && fingerprint !== null && publicKeyFingerprint === fingerprint)
      );
    });
}

/**
 * When the proposal closed, as its signed closing entry says (provenView checked that entry), not the row's
 * closed_at, which nothing signs.
 */
function closedAt(sources: ReportSources, proposalId: string): string | null {
  const entries = sources.store.all<{ action: string; entry: string }>(
    sql`SELECT action, entry FROM audit_entries WHERE object = ${`proposal:${proposalId}`} ORDER BY seq`,
  );
  const closing = entries.filter((e) => CLOSING_ACTION_NAMES.has(e.action)).at(-1);
  return closing ? (JSON.parse(closing.entry) as { time: string }).time : null;
}

/**
 * The tokens a copy of the key went into: the one it was generated in, each one a restore put it in, and the one the
 * inventory records now (its objects gone once the key is destroyed there).
 */
function tokensHolding(
  key: ReturnType<ReportSources['keys']['get']>,
  ceremonies: ProposalView[],
): CompromiseImpact['tokens'] {
  const tokens = new Map<string, CompromiseImpact['tokens'][number]>();
  const add = (token: { serial: string; label: string }, how: string) => {
    const id = `${token.serial}/${token.label}`;
    const known = tokens.get(id);
    tokens.set(id, known ? { ...known, how: [...known.how, how] } : { ...token, how: [how], current: false });
  };
  for (const p of ceremonies.filter((c) => c.state === 'executed')) {
    if (p.action === 'key.generate') add(p.token, `generated there (ceremony ${p.id})`);
    if (p.action === 'key.restore') add(p.token, `restored there from a backup (ceremony ${p.id})`);
  }
  add(key.token, key.state === 'destroyed' ? 'the inventory’s record; destroyed there' : 'the inventory’s record now');
  const current = tokens.get(`${key.token.serial}/${key.token.label}`)!;
  current.current = true;
  return [...tokens.values()];
}
