import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeCard, encodeCard, qrPayload } from './share-card';

const card = () => ({
  setId: randomBytes(16).toString('hex'),
  threshold: 2,
  holders: 3,
  index: 2,
  share: randomBytes(33),
});

describe('share cards', () => {
  it('read back exactly, typed in any case, with or without dashes, or pasted from the QR code', () => {
    const original = card();
    const text = encodeCard(original);
    expect(text).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{1,4})+$/);
    for (const typed of [text, text.toLowerCase(), text.replace(/-/g, ' '), qrPayload(text)])
      expect(decodeCard(typed)).toEqual(original);
    // O for 0 and I or L for 1 are what people misread; they read as meant.
    expect(decodeCard(text.replace(/0/g, 'O').replace(/1/g, 'l'))).toEqual(original);
  });

  it('catches every single-character typo and every swap of two neighbouring groups', () => {
    const text = encodeCard(card());
    const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    const positions = [...text].map((c, i) => (c === '-' ? -1 : i)).filter((i) => i >= 0);
    for (const i of positions) {
      const wrong = alphabet[(alphabet.indexOf(text[i]!) + 7) % 32]!;
      expect(() => decodeCard(text.slice(0, i) + wrong + text.slice(i + 1)), `position ${i}`).toThrow(
        expect.objectContaining({ code: 'SHARE_TYPO' }),
      );
    }
    const groups = text.split('-');
    [groups[3], groups[4]] = [groups[4]!, groups[3]!];
    if (groups[3] !== groups[4])
      expect(() => decodeCard(groups.join('-'))).toThrow(expect.objectContaining({ code: 'SHARE_TYPO' }));
    expect(() => decodeCard(text.slice(0, -5))).toThrow(expect.objectContaining({ code: 'SHARE_TYPO' }));
    expect(() => decodeCard(`${text}U`)).toThrow(
      expect.objectContaining({ code: 'SHARE_TYPO', message: expect.stringContaining('“U”') }),
    );
  });
});
