/**
 * How a person's name reads on paper, so that two names a reader cannot tell apart are treated as one: enrolment
 * refuses the second, and a ceremony script's lint names it.
 */
/** Latin letters that Cyrillic and Greek letters print as. */
const LOOK_ALIKES: Record<string, string> = Object.fromEntries(
  [
    ['АВЕКМНОРСТХІЈЅҮ', 'ABEKMHOPCTXIJSY'],
    ['аеорсхуіјѕԁԛԝӏ', 'aeopcxyijsdqwl'],
    ['ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ', 'ABEZHIKMNOPTYX'],
    ['οικρνυ', 'oikpvu'],
  ].flatMap(([from, to]) => [...from!].map((c, i) => [c, to![i]!])),
);

/**
 * A name as it prints: compatibility forms folded, look-alike letters as the Latin ones, invisible ones dropped, a run
 * of spaces as one (two spaces between names are not seen on paper).
 */
export function printsAs(name: string): string {
  return [...name.normalize('NFKC')]
    .map((c) => LOOK_ALIKES[c] ?? c)
    .join('')
    .replace(/\p{Cf}/gu, '')
    .replace(/\s+/gu, ' ')
    .trim();
}

/** A name as a reader takes it: as it prints, case ignored (a script names people for readers). */
export function readsAs(name: string): string {
  return printsAs(name).toLowerCase();
}
