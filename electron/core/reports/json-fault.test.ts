import { randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { jsonFaultOffset, notJsonProblem } from './json-fault';

const SAMPLE = JSON.stringify({
  kind: 'custos-report',
  n: [0, -1.5e3, 12, true, false, null],
  text: 'quote " backslash \\ tab \t unicode \u00e9 \ud83d\ude00',
  nested: { a: [[], {}, [{ b: '' }]] },
});

describe('where text stops being JSON', () => {
  it('agrees with JSON.parse on whether text is JSON, and on the place when V8 names one (or one before)', () => {
    const pieces = ['{', '}', '[', ']', ',', ':', '"', '\\', '\n', ' ', '0', '-', 'e', '.', 'tru', 'x', '\u0001'];
    const texts = [SAMPLE, '', ' ', '01', '1.', '-', '"\\u12"', '[1,]', '{"a":1,}', '{"a" 1}', '[1 2]', 'nul', '{}x'];
    for (let n = 0; n < 3000; n++) {
      const at = randomInt(SAMPLE.length + 1);
      const cut = randomInt(3);
      const piece = pieces[randomInt(pieces.length)]!;
      texts.push(SAMPLE.slice(0, at) + (cut === 0 ? piece : '') + SAMPLE.slice(at + (cut === 2 ? 0 : 1)));
    }
    for (const text of texts) {
      let parsed = true;
      let v8: number | null = null;
      try {
        JSON.parse(text);
      } catch (error) {
        parsed = false;
        const place = /at position (\d+)/.exec((error as Error).message);
        v8 = place ? Number(place[1]) : null;
      }
      const offset = jsonFaultOffset(text);
      expect({ text, parsed: offset === null }).toEqual({ text, parsed });
      // At V8's place or just before it: "1." is refused at the dot, where V8 waits for the digit after it.
      if (v8 !== null) expect({ text, near: v8 - offset! }).toEqual({ text, near: expect.toBeOneOf([0, 1]) });
    }
  });

  it('names the file and the place, never what the file holds', () => {
    expect(notJsonProblem('report.json', '{\n  "a": secret-passphrase-here }')).toBe(
      'report.json is not JSON: line 2, column 8 (character 10)',
    );
    expect(notJsonProblem('report.json', '{"a": "never ends')).toBe(
      'report.json is not JSON: it ends early (after 17 characters)',
    );
  });

  it('takes a file nested a million deep without overflowing the stack', () => {
    expect(jsonFaultOffset('['.repeat(1_000_000))).toBe(1_000_000);
  });
});
