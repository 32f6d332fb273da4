import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDataDir } from '../testing/softhsm-fixture';
import { renderCardPdf } from './card-pdf';
import { decodeCard, encodeCard, qrPayload } from './share-card';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dataDir: dir, cleanup } = tempDataDir('custos-pdf-')));
afterEach(() => cleanup());

describe('the printable share card', () => {
  it('carries holder, set and share as text (pdftotext), and its QR code decodes back to the share (zbarimg)', async () => {
    const share = {
      setId: randomBytes(16).toString('hex'),
      threshold: 2,
      holders: 3,
      index: 3,
      share: randomBytes(33),
    };
    const text = encodeCard(share);
    const pdf = await renderCardPdf({
      setId: share.setId,
      index: 3,
      threshold: 2,
      holders: 3,
      holder: { id: 'c', name: 'Marie Curie' },
      text,
      qr: qrPayload(text),
    });
    const file = join(dir, 'card.pdf');
    writeFileSync(file, pdf);
    const extracted = execFileSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
    expect(extracted).toContain('Holder: Marie Curie');
    expect(extracted).toContain('Card 3 of 3. Any 2 cards');
    expect(extracted).toContain(share.setId.slice(0, 8));
    const typed = extracted
      .match(/^\s*([0-9A-Z]{1,4}(-[0-9A-Z]{1,4})*)\s*$/gm)!
      .map((l) => l.trim())
      .join('-');
    expect(decodeCard(typed)).toEqual(share);
    expect(execFileSync('pdfinfo', [file], { encoding: 'utf8' })).toMatch(/Pages:\s+1\n/);

    execFileSync('pdftoppm', ['-r', '150', '-png', '-singlefile', file, join(dir, 'card')]);
    const scanned = execFileSync('zbarimg', ['--raw', '-q', join(dir, 'card.png')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    expect(scanned).toBe(qrPayload(text));
    expect(decodeCard(scanned)).toEqual(share);
  });
});
