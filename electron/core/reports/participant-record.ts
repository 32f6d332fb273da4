import { canonicalJson, sha256Hex } from '../canonical-json';

/** An audit entry's signed text as a report carries it, read loosely: a hostile report holds anything. */
export interface PartEntry {
  seq?: unknown;
  time?: unknown;
  action?: unknown;
  actor?: { type?: unknown; id?: unknown } | null;
  object?: { type?: unknown; id?: unknown } | null;
  params?: unknown;
  result?: { status?: unknown } | null;
}

/** A person's part in a ceremony as a signed entry records it: who, what, when, and which entry (seq). */
export interface RecordedPart {
  id: string;
  part: string;
  at: string;
  seq: number;
}

/** The part each closing entry of a proposal records. */
const DECISIONS: Record<string, string> = { 'proposal.reject': 'rejected', 'proposal.cancel': 'cancelled' };

const about = (e: PartEntry, type: string, id: string) =>
  e.object?.type === type && e.object.id === id && e.result?.status === 'ok';

function part(e: PartEntry, name: string): RecordedPart | null {
  const id = e.actor?.id;
  return typeof id === 'string' && typeof e.time === 'string' && typeof e.seq === 'number'
    ? { id, part: name, at: e.time, seq: e.seq }
    : null;
}

/**
 * Who proposed, approved, confirmed as a new holder and closed a proposal, as its signed entries (in log order) record
 * it: the first `proposal.create`, each approver's latest `proposal.approve` of this fingerprint (a renewal counts
 * once), each new holder's latest `proposal.confirm-holder` of it, and the latest rejection or cancellation. The
 * report's participants are made from this, and `report verify` makes it again from the entries the report carries.
 * `confirmations: false` leaves the confirmations out, for a report made before it listed them.
 */
export function proposalParts(
  entries: PartEntry[],
  proposalId: string,
  fingerprint: string,
  { confirmations = true }: { confirmations?: boolean } = {},
): RecordedPart[] {
  const own = entries.filter((e) => about(e, 'proposal', proposalId));
  const approved = [
    sha256Hex(canonicalJson({ fingerprint })),
    sha256Hex(canonicalJson({ fingerprint, renewed: true })),
  ];
  const created = own.find((e) => e.action === 'proposal.create');
  const latest = (action: string, name: string, params: string[]) => {
    const parts = new Map<string, RecordedPart>();
    for (const e of own) {
      const p = e.action === action && params.includes(String(e.params)) ? part(e, name) : null;
      if (!p) continue;
      parts.delete(p.id);
      parts.set(p.id, p);
    }
    return [...parts.values()];
  };
  const confirmed = confirmations ? latest('proposal.confirm-holder', CONFIRMED_AS_NEW_HOLDER, [approved[0]!]) : [];
  const decided = own.findLast((e) => typeof e.action === 'string' && Object.hasOwn(DECISIONS, e.action));
  return [
    ...(created ? [part(created, 'proposed')] : []),
    ...latest('proposal.approve', 'approved', approved),
    ...confirmed,
    ...(decided ? [part(decided, DECISIONS[decided.action as string]!)] : []),
  ].filter((p) => p !== null);
}

/** Whether any of these entries records a new holder's confirmation of this proposal. */
export const recordsConfirmation = (entries: PartEntry[], proposalId: string) =>
  entries.some((e) => e.action === 'proposal.confirm-holder' && about(e, 'proposal', proposalId));

/** What a `custody.begin` entry's params hash binds (custody-service.ts deal): the token, t, the holders in order. */
export interface CustodyBegun {
  token: { serial: string; label: string };
  threshold: number;
  holders: string[];
  pinBits: number;
  pinAlphabet: string;
  replaces?: string;
}

/** The share holders of a custody, as its signed `custody.begin` entry records them: all at the time of that entry. */
export function custodyParts(begin: { seq: number; time: string }, begun: CustodyBegun): RecordedPart[] {
  return begun.holders.map((id) => ({ id, part: HOLDS_A_SHARE, at: begin.time, seq: begin.seq }));
}

export const HOLDS_A_SHARE = 'holds a share';
export const CONFIRMED_AS_NEW_HOLDER = 'confirmed as new holder';
export const MARKED_COMPROMISED = 'marked the key compromised';
