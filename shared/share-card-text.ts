/**
 * How a share card reads as text, shared by the core (which decides) and the renderer (which only
 * helps a holder type it: nothing is sent anywhere until the holder submits the card).
 *
 * Crockford base32: case-insensitive; O reads as 0, I and L as 1. Version 1 cards are groups of
 * four data characters. Version 2 groups add a fifth, a check character over the group's four
 * data characters, its position and (after the first groups, which carry it) the set id, so a
 * typo names its group. SHA-256 of that position key comes from the caller: node:crypto in the
 * core, WebCrypto in the renderer.
 */
export const CARD_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const QR_PREFIX = 'custos-share:';
export const GROUP_DATA_CHARACTERS = 4;
/** Groups per printed line, on the PDF and on the screen; a typo is also named by its line. */
export const GROUPS_PER_LINE = 5;
/**
 * The version-2 groups that carry the format version and the set id (1 + 16 bytes, 28 characters):
 * checked by position alone, since the set id that keys the later groups is read from them.
 */
export const HEADER_GROUPS = 7;
/** Groups on every card Custos makes (57 bytes: a 33-byte share, set id, t, n, index, checksum). */
export const GROUPS_ON_A_CARD = 23;

/** A group's check offset: the first byte of SHA-256 of its key, 0–31. undefined: not hashed yet. */
export type GroupOffset = (key: string) => number | undefined;

export type GroupCheck =
  | { outcome: 'bad-character'; character: string }
  /** 64 hexadecimal digits: the set fingerprint printed on every card, typed instead of the share. */
  | { outcome: 'set-fingerprint' }
  /** The renderer hashes these keys (WebCrypto is asynchronous) and checks again. */
  | { outcome: 'needs-offsets'; keys: string[] }
  | {
      outcome: 'checked';
      version: 1 | 2;
      /** The groups as typed (version 2: each with its check character). */
      groups: string[];
      /** The data characters of every group, in order: what the base32 payload is. */
      data: string;
      /** 1-based numbers of the groups whose check character does not match (version 2 only). */
      typos: number[];
    };

/** The key whose SHA-256 offsets group `position` (1-based): the set id is known only after the header groups. */
export function groupKey(position: number, setId: string | null): string {
  return setId === null ? `custos/share-card/v2/group/${position}` : `custos/share-card/v2/group/${setId}/${position}`;
}

/** The offset a group key's SHA-256 gives: its first byte's low five bits. */
export const offsetOfDigest = (digest: Uint8Array): number => digest[0]! & 31;

/**
 * The check character of a group: Σ wᵢ·dᵢ in GF(32) (weights 2, 4, 8, 16; x⁵+x²+1) plus the
 * position's offset. Linear with distinct weights, so every single wrong character and every
 * swap of two different characters inside a group changes it; the offset ties it to its place.
 */
export function checkCharacter(data: string, offset: number): string {
  let sum = offset;
  [...data].forEach((char, i) => {
    sum ^= gf32Multiply(2 << i, CARD_ALPHABET.indexOf(char));
  });
  return CARD_ALPHABET[sum]!;
}

function gf32Multiply(a: number, b: number): number {
  let product = 0;
  for (let x = a, y = b; y > 0; y >>= 1) {
    if (y & 1) product ^= x;
    x <<= 1;
    if (x & 32) x ^= 0b100101;
  }
  return product;
}

/** The text as a person may have typed or pasted it, in canonical characters; separators become single dashes. */
export function cleanCardText(text: string): string {
  return text
    .trim()
    .replace(new RegExp(`^${QR_PREFIX}`, 'i'), '')
    .toUpperCase()
    .replace(/[\s-]+/g, '-')
    .replace(/^-|-$/g, '')
    .replace(/O/g, '0')
    .replace(/[IL]/g, '1');
}

/**
 * Splits a card into its groups and checks each version-2 group's check character. The version is
 * the group length where the groups are separated (fives or fours), else the second character
 * (version byte 2 reads 8–B there, version 1 reads 4–7) unless the length is whole groups of five.
 */
export function checkCardGroups(text: string, offset: GroupOffset): GroupCheck {
  const cleaned = cleanCardText(text);
  const bad = [...cleaned].find((c) => c !== '-' && !CARD_ALPHABET.includes(c));
  if (bad !== undefined) return { outcome: 'bad-character', character: bad };
  const compact = cleaned.replace(/-/g, '');
  // No card is 64 characters long, let alone all of them hexadecimal digits.
  if (/^[0-9A-F]{64}$/.test(compact)) return { outcome: 'set-fingerprint' };
  const typed = cleaned.split('-');
  const version = versionOf(compact, typed);
  if (version === 1) return { outcome: 'checked', version, groups: chunk(compact, 4), data: compact, typos: [] };
  const groups = typed.length > 1 ? typed : chunk(compact, GROUP_DATA_CHARACTERS + 1);
  const header = groups.slice(0, HEADER_GROUPS);
  const headerTypos = typosIn(header, 0, null, offset);
  if (!Array.isArray(headerTypos)) return headerTypos;
  const data = groups.map(dataOf).join('');
  if (headerTypos.length > 0) return { outcome: 'checked', version, groups, data, typos: headerTypos };
  const bodyTypos = typosIn(groups.slice(HEADER_GROUPS), HEADER_GROUPS, setIdOf(data), offset);
  if (!Array.isArray(bodyTypos)) return bodyTypos;
  return { outcome: 'checked', version, groups, data, typos: bodyTypos };
}

/** Adds the check character to each group of four data characters. */
export function withCheckCharacters(data: string, offset: (key: string) => number): string {
  const groups = chunk(data, GROUP_DATA_CHARACTERS);
  const setId = setIdOf(data);
  return groups
    .map((group, i) => group + checkCharacter(group, offset(groupKey(i + 1, i < HEADER_GROUPS ? null : setId))))
    .join('-');
}

/** Where a group is on the printed card, for a person holding it: “group 8 of 23 (line 2, 3rd group)”. */
export function groupInWords(position: number, total: number): string {
  const line = Math.floor((position - 1) / GROUPS_PER_LINE) + 1;
  const column = ((position - 1) % GROUPS_PER_LINE) + 1;
  return `group ${position} of ${total} (line ${line}, ${ordinal(column)} group)`;
}

/** The sentence for groups whose check character fails; names positions only, never what was typed. */
export function typoSentence(typos: number[], total: number): string {
  const named = typos.slice(0, 3).map((p) => groupInWords(p, total));
  const more = typos.length > 3 ? `, and ${typos.length - 3} more after it` : '';
  const first = named[0]!;
  if (typos.length === 1) return `${first[0]!.toUpperCase()}${first.slice(1)} has a typo.`;
  return `${first[0]!.toUpperCase()}${first.slice(1)} has a typo; so ${typos.length === 2 ? 'does' : 'do'} ${named.slice(1).join(', ')}${more}.`;
}

function versionOf(compact: string, typed: string[]): 1 | 2 {
  if (typed.length > 1) {
    const fives = typed.filter((g) => g.length === GROUP_DATA_CHARACTERS + 1).length;
    const fours = typed.filter((g) => g.length === GROUP_DATA_CHARACTERS).length;
    return fives >= fours ? 2 : 1;
  }
  // Version-2 cards are whole groups of five (33-byte shares): a typo in the version character must not read as 1.
  return '4567'.includes(compact[1] ?? '') && compact.length % (GROUP_DATA_CHARACTERS + 1) !== 0 ? 1 : 2;
}

function typosIn(groups: string[], before: number, setId: string | null, offset: GroupOffset): number[] | GroupCheck {
  const keys = groups.map((_, i) => groupKey(before + i + 1, setId));
  const missing = keys.filter((key) => offset(key) === undefined);
  if (missing.length > 0) return { outcome: 'needs-offsets', keys: missing };
  return groups.flatMap((group, i) => {
    const data = dataOf(group);
    const whole = group.length === GROUP_DATA_CHARACTERS + 1 || (i === groups.length - 1 && group.length >= 2);
    return whole && checkCharacter(data, offset(keys[i]!)!) === group.at(-1) ? [] : [before + i + 1];
  });
}

const dataOf = (group: string) => group.slice(0, -1);

/** The set id (hex) from a card's first 28 data characters: version byte, then 16 bytes. */
function setIdOf(data: string): string {
  return [...fromBase32(data.slice(0, HEADER_GROUPS * GROUP_DATA_CHARACTERS)).subarray(1, 17)]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('');
}

const chunk = (text: string, size: number) => text.match(new RegExp(`.{1,${size}}`, 'g')) ?? [];

const ordinal = (n: number) => `${n}${n === 1 ? 'st' : n === 2 ? 'nd' : n === 3 ? 'rd' : 'th'}`;

export function toBase32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += CARD_ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += CARD_ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

export function fromBase32(text: string): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of text) {
    value = (value << 5) | CARD_ALPHABET.indexOf(char);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
    value &= (1 << bits) - 1;
  }
  return Uint8Array.from(out);
}

/** Said when the set fingerprint is typed where the share goes (the core on submit, the page as it is typed). */
export const SET_FINGERPRINT_TYPED =
  'This is the set fingerprint, the same on every card of the set, not your share: type the groups printed under ' +
  '“Share” instead.';
export const SHARE_FIELD = 'Nothing was used. Type the block printed under “Share” on your card.';
