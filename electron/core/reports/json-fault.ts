const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const HEX = /^[0-9a-fA-F]$/;

/**
 * Where text stops being JSON (RFC 8259): the offset of the first character that cannot stand there, text.length when
 * it ends early, or null when it is JSON. V8's JSON.parse message quotes the text around the fault instead, and a file
 * handed to a verifier may hold what must not be shown.
 */
export function jsonFaultOffset(text: string): number | null {
  let i = 0;
  const stack: string[] = [];
  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const string = (): boolean => {
    if (text[i] !== '"') return false;
    i++;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return true;
      }
      if (c < 0x20) return false;
      if (c !== 0x5c) i++;
      else if (text[i + 1] === 'u') {
        i += 2;
        for (const end = i + 4; i < end; i++) if (!HEX.test(text[i] ?? '')) return false;
      } else if (text[i + 1] !== undefined && '"\\/bfnrt'.includes(text[i + 1]!)) i += 2;
      else {
        i++;
        return false;
      }
    }
    return false;
  };
  const key = (): boolean => {
    if (!string()) return false;
    space();
    if (text[i] !== ':') return false;
    i++;
    space();
    return true;
  };
  const scalar = (): boolean => {
    if (text[i] === '"') return string();
    const word = ['true', 'false', 'null'].find((w) => w[0] === text[i]);
    if (word) {
      for (const letter of word) {
        if (text[i] !== letter) return false;
        i++;
      }
      return true;
    }
    NUMBER.lastIndex = i;
    const number = NUMBER.exec(text);
    if (number) i += number[0].length;
    return number !== null;
  };
  space();
  // A stack, not recursion: a file of a million '[' must not overflow the call stack.
  for (;;) {
    const open = text[i];
    if (open === '[' || open === '{') {
      i++;
      space();
      if (text[i] !== (open === '[' ? ']' : '}')) {
        stack.push(open);
        if (open === '{' && !key()) return i;
        continue;
      }
      i++;
    } else if (!scalar()) return i;
    for (;;) {
      space();
      const inside = stack.at(-1);
      if (inside === undefined) return i === text.length ? null : i;
      if (text[i] === (inside === '[' ? ']' : '}')) {
        i++;
        stack.pop();
        continue;
      }
      if (text[i] !== ',') return i;
      i++;
      space();
      if (inside === '{' && !key()) return i;
      break;
    }
  }
}

/** Why a file is not JSON, by its name and the fault's place alone: never a character of what it holds. */
export function notJsonProblem(name: string, text: string): string {
  const at = jsonFaultOffset(text);
  if (at === null) return `${name} is not JSON`;
  if (at >= text.length) return `${name} is not JSON: it ends early (after ${text.length} characters)`;
  let line = 1;
  let lineStart = 0;
  for (let n = text.indexOf('\n'); n !== -1 && n < at; n = text.indexOf('\n', n + 1)) {
    line++;
    lineStart = n + 1;
  }
  return `${name} is not JSON: line ${line}, column ${at - lineStart + 1} (character ${at + 1})`;
}
