import { randomInt } from 'node:crypto';
import type pkcs11js from 'pkcs11js';

/** 62 letters and digits: typeable on any token keypad or driver, never a shell metacharacter. */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** 248 = 4 × 62: bytes at or above it are dropped, so every character is equally likely. */
const LIMIT = 248;
const PREFERRED_LENGTH = 32;

/** A PIN length the token accepts: 32 characters (190 bits) when it can, else its maximum. */
export function pinLength(minPinLength: number, maxPinLength: number): number {
  return Math.max(minPinLength, Math.min(PREFERRED_LENGTH, maxPinLength));
}

/**
 * Draws a PIN from the token's own RNG (C_GenerateRandom), unbiased by rejection sampling.
 * Returned as a Buffer so the caller can overwrite it when done.
 */
export function drawPin(lib: pkcs11js.PKCS11, session: Buffer, length: number): Buffer {
  const pin = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const random = lib.C_GenerateRandom(session, Buffer.alloc(length * 2));
    for (const byte of random) {
      if (byte >= LIMIT || filled === length) continue;
      pin[filled++] = ALPHABET.charCodeAt(byte % 62);
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
export function throwawayPin(length: number): Buffer {
  const pin = Buffer.alloc(length);
  for (let i = 0; i < length; i++) pin[i] = ALPHABET.charCodeAt(randomInt(62));
  return pin;
}
