import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import type { AuditService } from '../audit/audit-service';
import { parseCheckpoint, parseNote } from '../audit/checkpoint';
import { signedEntries } from '../audit/signed-entries';
import { canonicalJson } from '../canonical-json';
import type { CustodianService } from '../custodians/custodian-service';
import { CustosError, isCustosError } from '../errors';
import { policyVerdict } from '../keys/algorithm-policy';
import { ACTIONS, ActionName, type ProposalLookups } from '../../../shared/actions';
import { paramsInWords, resultInWords } from './ceremony-params';
import type { KeyInventory } from '../keys/key-inventory';
import type { KeyRecord } from '../../../shared/keys';
import type { CustodyService } from '../custody/custody-service';
import type { QuorumService } from '../quorum/quorum-service';
import type { ProposalView } from '../../../shared/quorum';
import type { Store } from '../store/database';
import { copyInWords, type BackupSummary, type KeyCopy } from '../../../shared/backups';
import { sql } from '../store/sql';
import { provenWitnesses, type WitnessSignOff } from './witness-record';
import { custodyBeginning, signedProposalParts, type CustodyBeginning } from './report-parts';
import { custodyParts, HOLDS_A_SHARE, type RecordedPart } from './participant-record';
import { cardReleaseParts, cardsForgotten, type CardsForgotten } from './card-release-record';
import { REPORT_FORMAT } from '../audit/report-format';
import { keyMade, type KeyMade } from './key-record';

export const REPORT_KIND = 'custos-ceremony-report';

/** How anyone checks a report without Custos: written into every report, in plain words. */
export const HOW_TO_VERIFY = [
  'This file (report.json) is RFC 8785 canonical JSON; report.sig is an Ed25519 signature over its exact bytes by the installation’s audit key (audit-key.pem).',
  'Check the signature with OpenSSL 3: openssl pkeyutl -verify -pubin -inkey audit-key.pem -rawin -in report.json -sigfile report.sig',
  'Get audit-key.pem from a source you trust (an earlier report, a printout, the auditor’s records), not only from this folder.',
  'Each entry in audit.entries is signed the same way (its text, its signature), and its inclusion proof leads (RFC 6962: leaf = SHA-256(0x00 ‖ entry), node = SHA-256(0x01 ‖ left ‖ right)) to the root in audit.checkpoint, a C2SP signed note by the same key.',
  'report.pdf is printed from this file after it is signed, so report-pdf.json binds it: check report-pdf.sig ' +
    'over report-pdf.json with the same openssl command, then that `sha256sum report.pdf report.json` gives the ' +
    'two SHA-256 values report-pdf.json names.',
  '`custos report verify` does all of this, and checks that the checkpoint is consistent with the live log or with a later exported audit bundle.',
];

export interface Person {
  id: string;
  name: string;
  roles: string[];
}

export type Participant = Person & { part: string; at: string; factors: string[]; seq?: number };

export interface ReportEntry {
  seq: number;
  entry: string;
  signature: string;
  proof: string[];
}

export interface CeremonyReport {
  kind: typeof REPORT_KIND;
  /** The report format (report-format.ts): 3 carries every marker its checks read; older reports say 2 or 1. */
  v: typeof REPORT_FORMAT;
  reportId: string;
  type: string;
  generatedAt: string;
  installation: string;
  auditKey: { name: string; publicKey: string };
  ceremony: Record<string, unknown> | null;
  /** `seq`: the signed entry that records the part, among audit.entries (none in reports made before it was named). */
  participants: Participant[];
  keys: {
    id: string;
    label: string;
    algorithm: string;
    state: string;
    fingerprint: string | null;
    kcv: string | null;
    publicKeyPem: string | null;
    policy: { status: string; notes: string[] };
    /** In a report without a ceremony: the signed run that made the key (its entry among audit.entries), or null. */
    recordedBy?: KeyMade | null;
  }[];
  steps: { seq: number; time: string; action: string; actor: string; result: string }[];
  /** Each backed by its `ceremony.witness` entry (seq), among audit.entries; reports made before that carry no seq. */
  witnesses: (Omit<WitnessSignOff, 'seq'> & { seq?: number })[];
  audit: { checkpoint: string; treeSize: number; root: string; entries: ReportEntry[] };
  /** For a compliance report: the analyzer's findings and the control mapping as of a date. */
  compliance?: { asOf: string; findings: unknown[]; controls: unknown[] };
  /** For a revocation notice: which key, when, by whom, why, and what relying parties must do. */
  revocation?: RevocationNotice;
  /** For a compromise impact report: everything the audit log shows the key touched, and where copies are. */
  impact?: CompromiseImpact;
  howToVerify: string[];
}

export interface RevocationNotice {
  key: {
    id: string;
    label: string;
    algorithm: string;
    usage: string;
    fingerprint: string | null;
    kcv: string | null;
    token: { serial: string; label: string };
  };
  /** Model, maker and recorded validation of the token the key lives in. */
  token: Record<string, unknown>;
  compromisedAt: string;
  /** The audit entry that recorded it: its params are the SHA-256 of the canonical JSON of `bound`. */
  seq: number;
  bound: { from: string; to: 'compromised'; reason: string };
  by: Person;
  reason: string;
  relyingParties: string[];
}

export interface CompromiseImpact {
  key: RevocationNotice['key'] & { state: string };
  compromisedAt: string;
  reason: string | null;
  /** The ceremonies (quorum proposals) that used or moved the key: generation, signatures, backups, restores… */
  ceremonies: {
    id: string;
    action: string;
    state: string;
    token: { serial: string; label: string };
    closedAt: string | null;
  }[];
  backupSets: {
    setId: string;
    createdAt: string;
    token: { serial: string; label: string };
    holders: string[];
    verifiedAt: string | null;
    /** Other keys the set holds: destroying its file and cards loses their copies too. */
    otherKeys: string[];
  }[];
  /** The tokens a copy went into, how, and which one the inventory records now. */
  tokens: { serial: string; label: string; how: string[]; current: boolean }[];
  reports: { id: string; type: string; createdAt: string; sha256: string }[];
  /** Each request for its public key (PEM or JWK), answered or not: whoever received one may rely on the key. */
  publicKeyExports: { seq: number; time: string; actor: string; result: string }[];
  /** Each executed wrapped export, from its proven outcome: who holds a copy outside Custos (none in old reports). */
  wrappedCopies?: WrappedCopy[];
}

export interface WrappedCopy {
  proposalId: string;
  packageId: string;
  /** SHA-256 of the package file. */
  sha256: string;
  recipient: { label: string; algorithm: string; fingerprint: string };
  scheme: string;
  /** The time of the signed entry that closed the export. */
  at: string | null;
}

export interface ReportSources {
  store: Store;
  audit: AuditService;
  custodians: CustodianService;
  keys: KeyInventory;
  quorum: QuorumService;
  clock: () => Date;
  /** Model, manufacturer and recorded validation of the token a ceremony ran on. */
  token: (ref: { serial: string; label: string }) => Record<string, unknown>;
  /** Where a key lives and each backup set's retirement: a destruction certificate names every copy. */
  copies?: {
    of: (keyId: string) => KeyCopy[];
    retirement: (setId: string) => BackupSummary['retirement'];
  };
}

/** A proposal's report also names the tokens in custody its parameters mention. */
type ProposalSources = ReportSources & { custody: CustodyService };

/**
 * A completed quorum ceremony as one signed document: the proposal with its fingerprint, who
 * proposed and approved with which factors, what came out (key ids, public keys, check values),
 * the policy verdicts, and every audit entry of the ceremony with an inclusion proof against a
 * checkpoint signed for this report.
 */
export function proposalReport(sources: ProposalSources, proposalId: string): CeremonyReport {
  const proposal = sources.quorum.provenView(proposalId);
  if (proposal.state === 'open')
    throw new CustosError('PROPOSAL_CLOSED', 'This ceremony is still open; its report can be made once it is closed.');
  const cards = proposal.action === 'key.backup' ? cardReleases(sources, proposal.params, proposal.outcome) : null;
  const destroyedCards = proposal.action === 'backup.retire' ? cardDestructions(sources, proposal.params.setId) : null;
  const own = ceremonySeqs(sources.store, proposalId);
  const custody = sources.custody.record(proposal.custodyId);
  const begun = custodyBeginning(sources.store, sources.audit, custody);
  const seqs = [
    ...new Set([...own, ...(cards?.seqs ?? []), ...(destroyedCards?.seqs ?? []), ...(begun ? [begun.seq] : [])]),
  ].sort((a, b) => a - b);
  // When it was proposed is its signed `proposal.create` entry's time (provenView checked that entry), not the row's
  // created_at, which nothing signs: an edited one was printed, signed, as the time the quorum's ceremony began.
  const createdAt = signedEntries(sources.store, sources.audit, {
    action: 'proposal.create',
    object: `proposal:${proposalId}`,
  })[0]!.time;
  const keyIds = keysOf(proposal.params, proposal.outcome);
  return assemble(sources, ACTIONS[ActionName.parse(proposal.action)].report.type, seqs, {
    ceremony: {
      id: proposal.id,
      action: proposal.action,
      state: proposal.state,
      fingerprint: proposal.fingerprint,
      shortFingerprint: proposal.shortFingerprint,
      ...fingerprintedBody(sources.store, proposal),
      params: proposal.params,
      paramsInWords: paramsInWords(proposal.action, proposal.params, paramLookups(sources)),
      ...(cards ? { cardHolders: cards.holders, cardsForgotten: cards.forgotten } : {}),
      ...(destroyedCards ? { cardsDestroyed: destroyedCards.cards } : {}),
      outcome: proposal.outcome,
      ...outcomeAsRecorded(sources.store, proposal),
      ...outcomeInWords(proposal.action, proposal.outcome, paramLookups(sources)),
      ...copiesAsCertified(sources, proposal),
      token: sources.token(proposal.token),
      custody: proposal.custodyId,
      threshold: proposal.threshold,
      holders: custody.holders,
      ...custodyBegunOf(begun),
      listsHolderConfirmations: true,
      securityOfficersRequired: proposal.securityOfficersRequired,
      proposedAt: createdAt,
      expiresAt: proposal.expiresAt,
      ...decisionOf(proposal, sources),
    },
    // As the signed entries the report carries record them (not the approvals table's unsigned times): verify
    // makes the same list from those entries and compares.
    participants: signedProposalParts(sources.store, sources.audit, own, proposal).map((p) => participant(sources, p)),
    keyIds,
  });
}

/** A person's part as the report lists it: their name and roles now, the part, time and entry as signed. */
function participant(sources: ReportSources, p: RecordedPart): Participant {
  const c = sources.custodians.get(p.id);
  return {
    id: c.id,
    name: c.name,
    roles: c.roles,
    part: p.part,
    at: p.at,
    factors: ['passphrase', 'totp'],
    seq: p.seq,
  };
}

/** The params of the custody's signed `custody.begin` entry (its seq among the report's): they bind t and n. */
function custodyBegunOf(begun: CustodyBeginning | null): {
  custodyBegun: (CustodyBeginning['begun'] & { seq: number }) | null;
} {
  // null says so, rather than leaving it out: a report without it is not one this code made (format-check.ts).
  return { custodyBegun: begun ? { ...begun.begun, seq: begun.seq } : null };
}

/**
 * The proposal's body exactly as stored, whose SHA-256 is its fingerprint (provenView checked both against the signed
 * proposal.create entry): `report verify` recomputes the fingerprint from the report's action, parameters, token and
 * expiry in that body's form, so parameters re-signed otherwise (another order of card holders) fail.
 */
function fingerprintedBody(store: Store, proposal: ProposalView): { fingerprinted?: string } {
  const row = store.get<{ body: string }>(sql`SELECT body FROM proposals WHERE id = ${proposal.id}`);
  return row ? { fingerprinted: row.body } : {};
}

/**
 * Who rejected or cancelled the ceremony and why, as the audit key signed it (the reason is also bound
 * by the decision entry's parameters hash); a decision a database writer changed is reported as such.
 */
function decisionOf(proposal: ProposalView, sources: ReportSources): { decision?: Record<string, unknown> } {
  const d = proposal.decision;
  if (!d) return {};
  if (d.status === 'tampered') return { decision: { status: d.status, message: d.message } };
  return { decision: { status: d.status, by: d.by, byName: nameOr(sources, d.by), reason: d.reason, at: d.at } };
}

/**
 * A destruction certificate's copies as they stand when it is made: the token searched (proven empty at the
 * ceremony), every other token, and every backup set, retired (when, and whose cards are confirmed destroyed)
 * or STILL HOLDING A COPY. A set retired after the ceremony shows here once the certificate is made again.
 */
function copiesAsCertified(
  sources: ReportSources,
  proposal: ProposalView,
): { copies?: { copy: KeyCopy; fate: string; inWords: string }[] } {
  if (proposal.action !== 'key.destroy' || !sources.copies || proposal.outcome?.status !== 'ok') return {};
  const { of, retirement } = sources.copies;
  const atCeremony = new Map(
    (proposal.outcome.result.copies ?? []).map((c) => [
      JSON.stringify(c.copy.kind === 'token' ? c.copy : c.copy.setId),
      c.fate,
    ]),
  );
  const copies = of(proposal.params.keyId).map((copy) => {
    const fate =
      copy.kind === 'token'
        ? (atCeremony.get(JSON.stringify(copy)) ?? 'NOT searched by this ceremony: the token may still hold a copy')
        : backupFate(retirement(copy.setId));
    return { copy, fate, inWords: `${copyInWords(copy)}: ${fate}` };
  });
  return { copies };
}

function backupFate(retired: BackupSummary['retirement']): string {
  if (!retired) return 'STILL HOLDING A COPY: the set can still be restored with its cards';
  if (retired.status === 'tampered') return `retired, but ${retired.reason}`;
  const cards = retired.cards.map(
    (c) => `${c.name} ${c.destroyedAt ? `destroyed ${c.destroyedAt.slice(0, 10)}` : 'NOT YET CONFIRMED'}`,
  );
  return `retired ${retired.retiredAt.slice(0, 10)} (${retired.reason}); cards: ${cards.join(', ')}`;
}

/** Names for the ids a proposal's parameters carry: keys from the inventory, people, tokens in custody. */
/** Keys by label, algorithm and token (not their state now: the report records what was approved). */
function paramLookups(sources: ProposalSources): ProposalLookups {
  return {
    key: (id) => {
      const k = inventoryKey(sources, id);
      return k ? { label: k.label, algorithm: k.algorithm, token: k.token } : null;
    },
    person: (id) => personName(sources, id),
    token: (serial) => sources.custody.list().find((c) => c.token.serial === serial)?.token.label ?? null,
  };
}

/**
 * The key as the inventory holds it, or null when it is not there (a generation that failed, an id nobody made): only
 * then is it left out of a report. A record a database writer changed is refused (KEY_TAMPERED), never omitted.
 */
function inventoryKey(sources: ReportSources, id: string): KeyRecord | null {
  try {
    return sources.keys.get(id);
  } catch (error) {
    if (isCustosError(error) && error.code === 'KEY_NOT_FOUND') return null;
    throw error;
  }
}

export interface CardHolder {
  index: number;
  id: string;
  name: string;
  /** When the holder proved both factors and received the card; null while it was not released. */
  releasedAt: string | null;
  /** The signed `backup.card.release` entry that records it (among the report's); null while it was not released. */
  seq: number | null;
}

interface CardReleases {
  holders: CardHolder[];
  /** When Custos forgot the cards (custodians confirmed all collected), as its signed entry records; null: not yet. */
  forgotten: CardsForgotten | null;
  /** The backup.card.release entries, which belong in the report though they follow the ceremony. */
  seqs: number[];
}

/**
 * A backup's card holders by name (card i is the i-th holder of the approved parameters) and the signed entries
 * recording each card's release to its holder, and the one recording that Custos forgot the cards (all collected),
 * which come after the ceremony closed; `report verify` makes the same list from those entries and compares.
 */
function cardReleases(sources: ReportSources, params: unknown, outcome: unknown): CardReleases | null {
  const setId = (outcome as { result?: { setId?: unknown } } | null)?.result?.setId;
  const holderIds = (params as { holders?: unknown }).holders;
  if (typeof setId !== 'string' || !Array.isArray(holderIds)) return null;
  const entries = signedEntries(sources.store, sources.audit, {
    action: 'backup.card.release',
    object: `backup:${setId}`,
  });
  const released = cardReleaseParts(entries, setId, holderIds.map(String));
  const forgets = signedEntries(sources.store, sources.audit, {
    action: 'backup.cards.forget',
    object: `backup:${setId}`,
  });
  const forgotten = cardsForgotten(forgets, setId);
  const holders = holderIds.map((id: unknown, i) => {
    const release = released.find((r) => r.id === id && r.index === i + 1);
    return {
      index: i + 1,
      id: String(id),
      name: nameOr(sources, String(id)),
      releasedAt: release?.at ?? null,
      seq: release?.seq ?? null,
    };
  });
  return { holders, forgotten, seqs: [...entries.map((e) => e.seq), ...(forgotten ? [forgotten.seq] : [])] };
}

/**
 * A retired set's cards, each confirmed destroyed by its holder (both factors; the signed row) or not yet, and
 * the entries recording the confirmations, which follow the ceremony.
 */
function cardDestructions(
  sources: ReportSources,
  setId: string,
): { cards: NonNullable<BackupSummary['retirement']>['cards']; seqs: number[] } | null {
  const retired = sources.copies?.retirement(setId);
  if (!retired) return null;
  const seqs = sources.store
    .all<{ seq: number }>(
      sql`
      SELECT seq FROM audit_entries
      WHERE object = ${`backup:${setId}`} AND action = 'backup.card.destroyed' AND result = 'ok' ORDER BY seq`,
    )
    .map((r) => r.seq);
  return { cards: retired.cards, seqs };
}

/**
 * Taking a token into custody (or a turnover's new custody) as a signed report: the holders who
 * proved both factors, the threshold, the token, and the ceremony's entries with proofs.
 */
export function custodyReport(sources: ReportSources & { custody: CustodyService }, custodyId: string): CeremonyReport {
  const custody = sources.custody.list().find((c) => c.id === custodyId);
  if (!custody) throw new CustosError('CUSTODY_NOT_FOUND', 'There is no such custody record.');
  const own = sources.store.all<{ seq: number; time: string }>(
    sql`SELECT seq, time FROM audit_entries WHERE object = ${`custody:${custodyId}`} ORDER BY seq`,
  );
  const begin = own[0];
  // The holders' factor checks come right before the journal entry (none for a turnover, whose approvals are in its
  // proposal's report).
  const factors = begin
    ? sources.store
        .all<{ seq: number; object: string }>(
          sql`SELECT seq, object FROM audit_entries WHERE action = 'custodian.factor.verify' AND seq < ${begin.seq} ORDER BY seq DESC LIMIT ${custody.holderIds.length}`,
        )
        .filter((e) => custody.holderIds.some((id) => e.object === `custodian:${id}`))
        .map((e) => e.seq)
    : [];
  const proposal = sources.store.get<{ id: string }>(
    sql`SELECT id FROM proposals WHERE json_extract(outcome, '$.result.custodyId') = ${custodyId}`,
  );
  const begun = custodyBeginning(sources.store, sources.audit, custody);
  // Without the entry's params (a custody begun before they bound all this) the holders are listed as the record has
  // them, and verify says they are not checked.
  const holders: RecordedPart[] = begun
    ? custodyParts(begun, begun.begun)
    : custody.holderIds.map((id) => ({ id, part: HOLDS_A_SHARE, at: begin?.time ?? '', seq: -1 }));
  return assemble(
    sources,
    'custody.take',
    [...factors, ...own.map((e) => e.seq)].sort((a, b) => a - b),
    {
      ceremony: {
        id: custodyId,
        action: 'custody.take',
        state: custody.state,
        token: sources.token(custody.token),
        threshold: custody.threshold,
        holders: custody.holders,
        ...custodyBegunOf(begun),
        pinBits: custody.pinBits,
        dealtBy: proposal?.id ?? null,
        begunAt: begin?.time ?? null,
      },
      participants: holders
        .map((h) => {
          const { seq, ...listed } = participant(sources, h);
          return begun ? { ...listed, seq } : listed;
        })
        .sort((a, b) => a.name.localeCompare(b.name)),
      keyIds: [],
    },
  );
}

/** The compliance findings and control mapping, signed like a ceremony report, with the inventory. */
export function complianceReport(
  sources: ReportSources,
  compliance: NonNullable<CeremonyReport['compliance']>,
): CeremonyReport {
  return {
    ...assemble(sources, 'compliance', [], {
      ceremony: null,
      participants: [],
      keyIds: sources.keys.list().map((k) => k.id),
    }),
    compliance,
  };
}

/** The key inventory as of now, signed like a ceremony report (no ceremony, no participants). */
export function inventoryReport(sources: ReportSources): CeremonyReport {
  return assemble(sources, 'key-inventory', [], {
    ceremony: null,
    participants: [],
    keyIds: sources.keys.list().map((k) => k.id),
  });
}

export function assemble(
  sources: ReportSources,
  type: string,
  seqs: number[],
  parts: { ceremony: CeremonyReport['ceremony']; participants: CeremonyReport['participants']; keyIds: string[] },
): CeremonyReport {
  const log = sources.audit.log();
  const key = sources.audit.noteKey()!;
  const ceremonyId = parts.ceremony?.id;
  // Checked before anything is signed; their entries are among the report's, so an auditor can check them offline.
  const witnesses = typeof ceremonyId === 'string' ? provenWitnesses(sources.store, sources.audit, ceremonyId) : [];
  const now = sources.clock();
  // Read before anything is recorded: a tampered key refuses the report, and no report.create entry is left behind.
  const keys = parts.keyIds.flatMap((id) => {
    const k = inventoryKey(sources, id);
    if (!k) return [];
    const spki = sources.keys.publicKey(id);
    const verdict = policyVerdict(k.algorithm as Parameters<typeof policyVerdict>[0], now);
    return [
      {
        id,
        label: k.label,
        algorithm: k.algorithm,
        state: k.state,
        fingerprint: k.fingerprint,
        kcv: k.kcv,
        publicKeyPem: spki
          ? createPublicKey({ key: spki, format: 'der', type: 'spki' })
              .export({ format: 'pem', type: 'spki' })
              .toString()
          : null,
        policy: { status: verdict.status, notes: verdict.notes },
        // A ceremony's report ties its keys to its own run's outcome; a report without one, to the run that made each.
        ...(parts.ceremony === null ? { recordedBy: keyMade(sources.store, sources.audit, id) } : {}),
      },
    ];
  });
  const made = keys.flatMap((k) => (k.recordedBy ? [k.recordedBy.seq] : []));
  const withWitnesses = [...new Set([...seqs, ...witnesses.map((w) => w.seq), ...made])].sort((a, b) => a - b);
  const reportId = randomBytes(8).toString('hex');
  log.record({
    actor: { type: 'system', id: 'system' },
    action: 'report.create',
    object: { type: 'report', id: reportId },
    params: { type, ceremony: parts.ceremony?.id ?? null },
  });
  // Signed for this report, so every entry above — its own included — has a proof against it.
  const closing = sources.audit.checkpoint(`report ${reportId}`);
  const checkpoint = parseCheckpoint(parseNote(closing.note).text);
  const entries = withWitnesses.map((seq) => {
    const stored = log.entry(seq);
    return {
      seq,
      entry: stored.entry,
      signature: stored.signature.toString('base64'),
      proof: log.inclusionProof(seq, checkpoint.size).map((h) => h.toString('base64')),
    };
  });
  return {
    kind: REPORT_KIND,
    v: REPORT_FORMAT,
    reportId,
    type,
    generatedAt: now.toISOString(),
    installation: sources.audit.origin,
    auditKey: { name: key.name, publicKey: key.publicKey.toString('base64') },
    ceremony: parts.ceremony,
    participants: parts.participants,
    keys,
    steps: entries.map(({ entry }) => {
      const e = JSON.parse(entry) as {
        seq: number;
        time: string;
        action: string;
        actor: { type: string; id: string };
        result: { status: string; code?: string };
      };
      return {
        seq: e.seq,
        time: e.time,
        action: e.action,
        actor: e.actor.type === 'custodian' ? nameOr(sources, e.actor.id) : e.actor.id,
        result: e.result.code ? `${e.result.status} ${e.result.code}` : e.result.status,
      };
    }),
    witnesses,
    audit: { checkpoint: closing.note, treeSize: checkpoint.size, root: checkpoint.root.toString('base64'), entries },
    howToVerify: HOW_TO_VERIFY,
  };
}

/** The report's bytes and its detached signature: what is written, what openssl checks. */
export function signReport(
  audit: AuditService,
  report: CeremonyReport,
): { json: Buffer; signature: Buffer; sha256: string } {
  const json = Buffer.from(canonicalJson(report), 'utf8');
  return { json, signature: audit.signDocument(json), sha256: createHash('sha256').update(json).digest('hex') };
}

/** The ceremony's entries: those about the proposal, and those its operation recorded while it ran. */
export function ceremonySeqs(store: Store, proposalId: string): number[] {
  const own = store.all<{ seq: number; action: string }>(
    sql`SELECT seq, action FROM audit_entries WHERE object = ${`proposal:${proposalId}`} ORDER BY seq`,
  );
  const begin = own.find((e) => e.action === 'proposal.execute.begin')?.seq;
  const end = own.find((e) => e.action === 'proposal.execute' || e.action === 'proposal.reconcile')?.seq;
  const during =
    begin !== undefined && end !== undefined
      ? store.all<{ seq: number }>(
          sql`SELECT seq FROM audit_entries WHERE seq > ${begin} AND seq < ${end} ORDER BY seq`,
        )
      : [];
  return [...new Set([...own.map((e) => e.seq), ...during.map((e) => e.seq)])].sort((a, b) => a - b);
}

export function keysOf(params: unknown, outcome: unknown): string[] {
  const ids = new Set<string>();
  const p = (params ?? {}) as {
    keyId?: unknown;
    ckaId?: unknown;
    keyIds?: unknown;
    issuerKeyId?: unknown;
    unwrapWith?: unknown;
  };
  // A certificate ceremony's CA key (cert.issue, crl.issue) and an import's unwrapping key are keys the ceremony used.
  const used = [p.keyId, p.ckaId, p.issuerKeyId, p.unwrapWith];
  for (const value of [...used, ...(Array.isArray(p.keyIds) ? p.keyIds : [])])
    if (typeof value === 'string') ids.add(value);
  const result = (outcome as { result?: { keyId?: unknown; keys?: unknown } } | null)?.result;
  if (typeof result?.keyId === 'string') ids.add(result.keyId);
  if (Array.isArray(result?.keys))
    for (const k of result.keys)
      if (typeof (k as { keyId?: unknown }).keyId === 'string') ids.add((k as { keyId: string }).keyId);
  return [...ids];
}

/** A person's name, or null for an id nobody enrolled; a record a database writer changed refuses the report. */
function personName(sources: ReportSources, id: string): string | null {
  try {
    return sources.custodians.get(id).name;
  } catch (error) {
    if (isCustosError(error) && error.code === 'CUSTODIAN_NOT_FOUND') return null;
    throw error;
  }
}

const nameOr = (sources: ReportSources, id: string): string => personName(sources, id) ?? id;

/** A successful operation's result as people read it, named like its parameters. */
/**
 * The outcome exactly as stored, whose SHA-256 the run's signed entry binds (proposal-closure.ts runParams): with it an
 * auditor ties `outcome` to the log (report-verify.ts), which the outcome re-serialised in the report cannot do.
 */
export function outcomeAsRecorded(store: Store, proposal: ProposalView): { outcomeAsRecorded?: string } {
  if (proposal.outcome === null) return {};
  const row = store.get<{ outcome: string | null }>(sql`SELECT outcome FROM proposals WHERE id = ${proposal.id}`);
  return row?.outcome ? { outcomeAsRecorded: row.outcome } : {};
}

function outcomeInWords(action: string, outcome: unknown, lookups: ProposalLookups): { outcomeInWords?: string[] } {
  const lines = resultInWords(action, outcome, lookups);
  return lines ? { outcomeInWords: lines } : {};
}
