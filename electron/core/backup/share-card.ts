import { createHash, createHmac } from 'node:crypto';
import { CustosError } from '../errors';

/**
 * A share card: one holder's share of a backup's KEK, in a form people can print, keep and type.
 * Payload: version ‖ backup set id (16) ‖ t ‖ n ‖ index ‖ share bytes, then a 4-byte checksum
 * of all of it, so any typo is caught (a wrong character survives with odds of 1 in 4 billion).
 * Text: Crockford base32 — case-insensitive, and O/I/L read as 0/1/1 — in groups of four.
 */
export const CARD_VERSION = 1;
export const QR_PREFIX = 'custos-share:';
const CHECKSUM_BYTES = 4;
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export interface ShareCard {
  setId: string;
  threshold: number;
  holders: number;
  /** 1-based position of this share. */
  index: number;
  share: Buffer;
}

function checksum(payload: Buffer): Buffer {
  return createHash('sha256').update('custos/share-card/v1\n').update(payload).digest().subarray(0, CHECKSUM_BYTES);
}

function payloadOf(card: ShareCard): Buffer {
  return Buffer.concat([
    Buffer.from([CARD_VERSION]),
    Buffer.from(card.setId, 'hex'),
    Buffer.from([card.threshold, card.holders, card.index]),
    card.share,
  ]);
}

export function encodeCard(card: ShareCard): string {
  const payload = payloadOf(card);
  const text = base32(Buffer.concat([payload, checksum(payload)]));
  payload.fill(0);
  return text.match(/.{1,4}/g)!.join('-');
}

/** The QR code carries the same text with a prefix, so a pasted scan and a typed card read alike. */
export const qrPayload = (text: string) => `${QR_PREFIX}${text}`;

/** Reads a typed or pasted card; a typo fails the checksum and is named as such (SHARE_TYPO). */
export function decodeCard(text: string): ShareCard {
  const cleaned = text
    .trim()
    .replace(new RegExp(`^${QR_PREFIX}`, 'i'), '')
    .toUpperCase()
    .replace(/[\s-]/g, '')
    .replace(/O/g, '0')
    .replace(/[IL]/g, '1');
  const bad = [...cleaned].find((c) => !ALPHABET.includes(c));
  if (bad !== undefined)
    throw new CustosError('SHARE_TYPO', `“${bad}” cannot appear on a share card: check that character.`, [
      'Type the card again exactly as printed; dashes and spaces do not matter.',
    ]);
  const bytes = unbase32(cleaned);
  // The last character carries padding bits: a typo there must not slip past as "the same bytes".
  const refuse = (message: string, remedy: string[] = []): never => {
    bytes.fill(0);
    throw new CustosError('SHARE_TYPO', message, remedy);
  };
  if (base32(bytes) !== cleaned)
    refuse('The last group of this card has a typo.', ['Compare the last group with the printed card.']);
  if (bytes.length < 1 + 16 + 3 + 2 + CHECKSUM_BYTES)
    refuse('This card is too short: a group is missing.', ['Compare the number of groups with the printed card.']);
  const payload = bytes.subarray(0, bytes.length - CHECKSUM_BYTES);
  if (!checksum(payload).equals(bytes.subarray(bytes.length - CHECKSUM_BYTES)))
    refuse('This card has a typo: its checksum does not match.', [
      'Compare each group with the printed card; nothing was used.',
    ]);
  if (payload[0] !== CARD_VERSION)
    refuse(`This card has format version ${payload[0]}; this Custos reads version ${CARD_VERSION}.`);
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

function base32(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

function unbase32(text: string): Buffer {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of text) {
    value = (value << 5) | ALPHABET.indexOf(char);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
    value &= (1 << bits) - 1;
  }
  return Buffer.from(out);
}
