/**
 * Mixed-script names in the spirit of Unicode TS #39 (Highly Restrictive): within one name part, letters from more
 * than one script are flagged, since "pаypal.com" with a Cyrillic а (U+0430) reads to approvers as "paypal.com".
 * Common and Inherited (digits, punctuation, combining marks) count for no script; Japanese, Chinese and Korean
 * mixes with Latin are allowed. Certificate subjects (core pki/profile-check.ts) and key labels (core
 * keys/key-labels.ts) use it; it lives here, apart from both, so that neither folder imports the other for it.
 */
const SCRIPTS = [
  'Latin',
  'Greek',
  'Cyrillic',
  'Armenian',
  'Hebrew',
  'Arabic',
  'Syriac',
  'Thaana',
  'Devanagari',
  'Bengali',
  'Gurmukhi',
  'Gujarati',
  'Oriya',
  'Tamil',
  'Telugu',
  'Kannada',
  'Malayalam',
  'Sinhala',
  'Thai',
  'Lao',
  'Tibetan',
  'Myanmar',
  'Georgian',
  'Hangul',
  'Ethiopic',
  'Cherokee',
  'Canadian_Aboriginal',
  'Ogham',
  'Runic',
  'Khmer',
  'Mongolian',
  'Hiragana',
  'Katakana',
  'Bopomofo',
  'Han',
  'Coptic',
  'Glagolitic',
  'Tifinagh',
  'Vai',
  'Lisu',
] as const;
const PATTERNS = SCRIPTS.map((name) => [name, new RegExp(`^\\p{Script_Extensions=${name}}$`, 'u')] as const);
const ALLOWED: readonly (readonly string[])[] = [
  ['Latin', 'Han', 'Hiragana', 'Katakana'],
  ['Latin', 'Han', 'Bopomofo'],
  ['Latin', 'Han', 'Hangul'],
];

function scriptsOf(letter: string): string[] {
  return PATTERNS.filter(([, pattern]) => pattern.test(letter)).map(([name]) => name);
}

const codePoint = (ch: string) => `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/** What reads as another script in the part, e.g. "U+0430 ‘а’ (Cyrillic) among Latin letters"; none when it is one. */
export function mixedScripts(part: string): string[] {
  const letters = [...part].filter((ch) => /\p{L}/u.test(ch)).map((ch) => ({ ch, scripts: scriptsOf(ch) }));
  const known = letters.filter((l) => l.scripts.length > 0);
  const fits = (set: readonly string[]) => known.every((l) => l.scripts.some((s) => set.includes(s)));
  if (SCRIPTS.some((s) => fits([s])) || ALLOWED.some(fits)) return [];
  const counts = new Map<string, number>();
  for (const l of known) for (const s of l.scripts) counts.set(s, (counts.get(s) ?? 0) + 1);
  const main = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
  return [...new Set(known.map((l) => l.ch))]
    .map((ch) => known.find((l) => l.ch === ch)!)
    .filter((l) => !l.scripts.includes(main))
    .map((l) => `${codePoint(l.ch)} ‘${l.ch}’ (${l.scripts.join('/')}) among ${main} letters`);
}

/** A CN that a browser or TLS client would take for a host name: dot-separated labels, no spaces. */
export const looksLikeHostName = (value: string) => /^[^\s.]+(\.[^\s.]+)+$/u.test(value);

/**
 * Text as people (and RFC 4518's preparation) tell it apart: compatibility characters mapped (NFKC) and case folded,
 * so `Payments-Root`, `ｐａｙｍｅｎｔｓ-root` and `payments-root` are one. Key labels and certificate names compare so.
 */
export const caseFolded = (text: string) => text.normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
