import { canonicalJson, sha256Hex } from '../canonical-json';
import type { PartEntry } from './participant-record';

/** A card of a backup set released to a person, as a signed `backup.card.release` entry records it. */
export interface CardRelease {
  id: string;
  /** The card its params hash names among the set's; null when they name none of them. */
  index: number | null;
  at: string;
  seq: number;
}

/**
 * The first release to each person of a card of this set, as its successful signed entries (in log order) record it:
 * who (the actor, who proved both factors), which card (params: the SHA-256 of `{ index }`), when and which entry.
 * A backup report's card holders are made from this, and `report verify` makes it again from the entries it carries.
 */
export function cardReleaseParts(entries: PartEntry[], setId: string, holders: string[]): CardRelease[] {
  const indexOf = new Map(holders.map((_, i) => [sha256Hex(canonicalJson({ index: i + 1 })), i + 1]));
  const released = new Map<string, CardRelease>();
  for (const e of entries) {
    const id = e.actor?.id;
    const ok =
      e.action === 'backup.card.release' &&
      e.object?.type === 'backup' &&
      e.object.id === setId &&
      e.result?.status === 'ok' &&
      typeof id === 'string' &&
      typeof e.time === 'string' &&
      typeof e.seq === 'number';
    if (!ok || released.has(id)) continue;
    released.set(id, { id, index: indexOf.get(String(e.params)) ?? null, at: e.time as string, seq: e.seq as number });
  }
  return [...released.values()];
}

/** When Custos forgot a set's cards (custodians confirmed every card collected), as its signed entry records it. */
export interface CardsForgotten {
  at: string;
  seq: number;
}

/**
 * The first successful signed `backup.cards.forget` entry of this set (the router records it, its params the
 * request `{ setId }`), or null when none is among these entries: from then on no card of the set can be released.
 */
export function cardsForgotten(entries: PartEntry[], setId: string): CardsForgotten | null {
  const e = entries.find(
    (e) =>
      e.action === 'backup.cards.forget' &&
      e.object?.type === 'backup' &&
      e.object.id === setId &&
      e.result?.status === 'ok' &&
      e.params === sha256Hex(canonicalJson({ setId })) &&
      typeof e.time === 'string' &&
      typeof e.seq === 'number',
  );
  return e ? { at: e.time as string, seq: e.seq as number } : null;
}
