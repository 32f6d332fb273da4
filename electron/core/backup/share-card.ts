import { createHash, createHmac } from 'node:crypto';
import {
  GROUPS_ON_A_CARD,
  QR_PREFIX,
  SET_FINGERPRINT_TYPED,
  SHARE_FIELD,
  checkCardGroups,
  fromBase32,
  offsetOfDigest,
  toBase32,
  typoSentence,
  withCheckCharacters,
} from '../../../shared/share-card-text';
import { CustosError } from '../errors';

/**
 * A share card: one holder's share of a backup's KEK, in a form people can print, keep and type.
 * Payload: version ‖ backup set id (16) ‖ t ‖ n ‖ index ‖ share bytes, then a 4-byte checksum
 * of all of it, so any typo is caught (a wrong character survives with odds of 1 in 4 billion).
 * Text: Crockford base32 (shared/share-card-text.ts). Version 2, written since issue 14, adds a
 * check character to every group of four so that a typo names its group; version 1 cards are
 * still read.
 */
export const CARD_VERSION = 2;
const CHECKSUM_BYTES = 4;
const MIN_PAYLOAD = 1 + 16 + 3 + 2;

export interface ShareCard {
  setId: string;
  threshold: number;
  holders: number;
  /** 1-based position of this share. */
  index: number;
  share: Buffer;
}

function checksum(version: number, payload: Buffer): Buffer {
  return createHash('sha256')
    .update(`custos/share-card/v${version}\n`)
    .update(payload)
    .digest()
    .subarray(0, CHECKSUM_BYTES);
}

const groupOffset = (key: string) => offsetOfDigest(createHash('sha256').update(key).digest());

function payloadOf(card: ShareCard, version: number): Buffer {
  return Buffer.concat([
    Buffer.from([version]),
    Buffer.from(card.setId, 'hex'),
    Buffer.from([card.threshold, card.holders, card.index]),
    card.share,
  ]);
}

export function encodeCard(card: ShareCard): string {
  return withCheckCharacters(payloadText(card, CARD_VERSION), groupOffset);
}

/** A card as printed before issue 14: groups of four, the whole-card checksum only. Kept to test reading them. */
export function encodeCardV1(card: ShareCard): string {
  return payloadText(card, 1)
    .match(/.{1,4}/g)!
    .join('-');
}

function payloadText(card: ShareCard, version: number): string {
  const payload = payloadOf(card, version);
  const text = toBase32(Buffer.concat([payload, checksum(version, payload)]));
  payload.fill(0);
  return text;
}

/** The QR code carries the same text with a prefix, so a pasted scan and a typed card read alike. */
export const qrPayload = (text: string) => `${QR_PREFIX}${text}`;

/**
 * Reads a typed or pasted card (version 2 or 1). A typo fails SHARE_TYPO, named by its group on a
 * version-2 card ("group 8 of 23 (line 2, 3rd group) has a typo"); the message never repeats what was typed.
 */
export function decodeCard(text: string): ShareCard {
  const groups = checkCardGroups(text, groupOffset);
  if (groups.outcome === 'bad-character')
    throw new CustosError('SHARE_TYPO', `“${groups.character}” cannot appear on a share card: check that character.`, [
      'Type the card again exactly as printed; dashes and spaces do not matter.',
    ]);
  if (groups.outcome === 'set-fingerprint') throw new CustosError('SHARE_TYPO', SET_FINGERPRINT_TYPED, [SHARE_FIELD]);
  if (groups.outcome !== 'checked') throw new Error('every group offset is computed here');
  // A card has 23 groups however many were typed: the holder counts on the printed one.
  const total = Math.max(groups.groups.length, GROUPS_ON_A_CARD);
  const compare = (what: string) => [`Compare ${what} with the printed card; nothing was used.`];
  if (groups.typos.length > 0)
    throw new CustosError('SHARE_TYPO', typoSentence(groups.typos, total), compare('that group'));
  const bytes = Buffer.from(fromBase32(groups.data));
  const refuse = (message: string, remedy: string[]): never => {
    bytes.fill(0);
    throw new CustosError('SHARE_TYPO', message, remedy);
  };
  // The last character carries padding bits: a typo there must not slip past as "the same bytes".
  if (toBase32(bytes) !== groups.data)
    refuse(
      groups.version === 2 ? typoSentence([groups.groups.length], total) : 'The last group of this card has a typo.',
      compare('the last group'),
    );
  if (bytes.length < MIN_PAYLOAD + CHECKSUM_BYTES)
    refuse('This card is too short: a group is missing.', ['Compare the number of groups with the printed card.']);
  const payload = bytes.subarray(0, bytes.length - CHECKSUM_BYTES);
  const version = payload[0]!;
  if (version !== 1 && version !== CARD_VERSION)
    refuse(`This card reads as format version ${version}; this Custos reads versions 1 and ${CARD_VERSION}.`, [
      'Check the first groups of the card; a newer Custos may be needed.',
    ]);
  if (version !== groups.version)
    refuse(
      `This card is laid out as version ${groups.version} but says version ${version}: the first group has a typo.`,
      compare('the first group'),
    );
  if (!checksum(version, payload).equals(bytes.subarray(bytes.length - CHECKSUM_BYTES)))
    refuse(
      version === 2
        ? `Every group of this card reads correctly, but its checksum does not match: two groups may be swapped, one left out, or one taken from another card (${groups.groups.length} groups typed).`
        : 'This card has a typo: its checksum does not match.',
      compare('each group, in order,'),
    );
  const card = {
    setId: payload.subarray(1, 17).toString('hex'),
    threshold: payload[17]!,
    holders: payload[18]!,
    index: payload[19]!,
    share: Buffer.from(payload.subarray(20)),
  };
  bytes.fill(0);
  return card;
}

/** What the signed manifest holds per share: a wrong or swapped share is named on entry. */
export function shareCommitment(setId: string, index: number, share: Uint8Array): string {
  return createHash('sha256').update(`custos/kek-share/v1/${setId}/${index}\n`).update(share).digest('hex');
}

/** Confirms a rebuilt KEK before it is used, without revealing anything about it. */
export function kekCheck(setId: string, kek: Uint8Array): string {
  return createHmac('sha256', kek).update(`custos/kek-check/v1/${setId}`).digest('hex');
}
