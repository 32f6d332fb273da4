import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary as commonWords } from '@zxcvbn-ts/language-common';
import { dictionary as englishWords, translations } from '@zxcvbn-ts/language-en';

/**
 * A custodian's passphrase guards their share of the token PIN. A stolen database lets a thief
 * test guesses offline against each sealed record (scrypt, ~0.5 s a guess on one core), so the
 * passphrase is the whole defence. Strength is estimated by zxcvbn-ts with its English and common
 * dictionaries (names, words, common passwords, keyboard walks, dates, repeats, l33t); Custos
 * asks for at least 10^16 estimated guesses: "aaa bbb ccc ddd" (10^13), "Summer2026!!" (10^8)
 * fall short, five words picked at random (dice or a word list) pass with room to spare.
 */
export const MIN_LOG10_GUESSES = 16;

/** Passphrases published as examples are the first ones guessed. */
const PUBLISHED = [
  'correct horse battery staple',
  'correcthorsebatterystaple',
  'the quick brown fox jumps over the lazy dog',
  'custos',
  'custodian',
  'passphrase',
];

/**
 * Characters people put between words. Another separator adds no strength over a space, yet the estimate counts it as
 * a guessed symbol and misses the phrase: "Correct-Horse-Battery-Staple" passed. (l33t symbols such as @ and $ stay.)
 */
const SEPARATORS = /[\s\-_.,/+|:;~*=]+/g;

/**
 * Without separators and with each run of one character as one: zxcvbn prices every run and every gap on its own and
 * multiplies, so "aaa bbb ccc ddd eee fff ggg hhh" (10^29), "1111 2222 3333 4444 5555 6666" and the alphabet spelt
 * out letter by letter passed; compacted they read as the sequences they are ("abcdefgh", "123456").
 */
function compacted(passphrase: string): string {
  return passphrase.replace(SEPARATORS, '').replace(/(.)\1+/gu, '$1');
}

/** The estimate's cost grows with length; a prefix this long already decides. */
const ESTIMATED_PREFIX = 128;

let estimator: ZxcvbnFactory | null = null;
/** Built on first use: its dictionaries take a moment to load. */
function strength(): ZxcvbnFactory {
  estimator ??= new ZxcvbnFactory({
    translations,
    graphs: adjacencyGraphs,
    dictionary: { ...commonWords, ...englishWords, custos: PUBLISHED },
    // The l33t matcher tries this many de-l33ted spellings of the whole passphrase (default 100). With digits in a
    // passphrase of six words that took over a second a check, on main; at 20 every passphrase the tests hold the
    // policy to gets the same verdict, in a fifth of the time.
    l33tMaxSubstitutions: 20,
  });
  return estimator;
}

/** Why a passphrase would be refused, in sentences a person can act on; empty when it is strong enough. */
export function passphraseProblems(passphrase: string, name: string): string[] {
  if (passphrase.length > 1024) return ['Keep it under 1,024 characters.'];
  const problems: string[] = [];
  const nameParts = name
    .trim()
    .toLowerCase()
    .split(/\s+/)
    .filter((part) => part.length >= 3);
  if (nameParts.some((part) => passphrase.toLowerCase().includes(part)))
    problems.push('Do not put your own name in it.');
  // The weakest of the passphrase as typed, with its separators as single spaces, and compacted (each variant estimated
  // once: an estimate of a long passphrase costs tens of milliseconds).
  const [result] = [...new Set([passphrase, passphrase.replace(SEPARATORS, ' ').trim(), compacted(passphrase)])]
    .map((variant) => strength().check(variant.slice(0, ESTIMATED_PREFIX), [name, ...nameParts]))
    .sort((a, b) => a.guessesLog10 - b.guessesLog10);
  if (result && result.guessesLog10 < MIN_LOG10_GUESSES) {
    if (result.feedback.warning) problems.push(result.feedback.warning);
    problems.push(
      `It could be found in about 10^${Math.max(0, Math.floor(result.guessesLog10))} guesses; Custos asks for at least 10^${MIN_LOG10_GUESSES}. Five unrelated words picked at random (dice or a word list) are enough and easy to remember.`,
      ...result.feedback.suggestions,
    );
  }
  return problems;
}
