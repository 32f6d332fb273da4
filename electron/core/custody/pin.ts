import { randomInt } from 'node:crypto';
import type pkcs11js from 'pkcs11js';
import type { PinAlphabet } from '../../../shared/quorum';

/**
 * The characters a PIN is drawn from. PKCS#11 reports no character set, so the operator says so
 * for a token that takes fewer than letters and digits (a PIV card: digits; some smartcards: hex).
 * Default: 62 letters and digits, typeable on any keypad or driver, never a shell metacharacter.
 */
export const PIN_ALPHABETS = {
  alphanumeric: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
  hex: '0123456789ABCDEF',
  digits: '0123456789',
} as const satisfies Record<PinAlphabet, string>;
const PREFERRED_BITS = 190;

/** A PIN length the token accepts: about 190 bits when it can (32 letters and digits), else its maximum. */
export function pinLength(minPinLength: number, maxPinLength: number, alphabet: PinAlphabet = 'alphanumeric'): number {
  const preferred = Math.ceil(PREFERRED_BITS / Math.log2(PIN_ALPHABETS[alphabet].length));
  return Math.max(minPinLength, Math.min(preferred, maxPinLength));
}

/** The strength of a random PIN of this length from this alphabet, in whole bits rounded down. */
export function pinBits(length: number, alphabet: PinAlphabet = 'alphanumeric'): number {
  return Math.floor(length * Math.log2(PIN_ALPHABETS[alphabet].length));
}

/**
 * Draws a PIN from the token's own RNG (C_GenerateRandom), unbiased by rejection sampling.
 * Returned as a Buffer so the caller can overwrite it when done.
 */
export function drawPin(
  lib: pkcs11js.PKCS11,
  session: Buffer,
  length: number,
  alphabet: PinAlphabet = 'alphanumeric',
): Buffer {
  const characters = PIN_ALPHABETS[alphabet];
  // Bytes at or above the largest multiple of the alphabet's size are dropped: every character is equally likely.
  const limit = 256 - (256 % characters.length);
  const pin = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const random = lib.C_GenerateRandom(session, Buffer.alloc(length * 2));
    for (const byte of random) {
      if (byte >= limit || filled === length) continue;
      pin[filled++] = characters.charCodeAt(byte % characters.length);
    }
    random.fill(0);
  }
  return pin;
}

/**
 * A throwaway first SO PIN for a blank token that takes any (the specification's rule), drawn here
 * because a blank token has no session to draw from. It is replaced by one from the token's RNG
 * before the custody ceremony ends.
 */
export function throwawayPin(length: number, alphabet: PinAlphabet = 'alphanumeric'): Buffer {
  const characters = PIN_ALPHABETS[alphabet];
  const pin = Buffer.alloc(length);
  for (let i = 0; i < length; i++) pin[i] = characters.charCodeAt(randomInt(characters.length));
  return pin;
}
