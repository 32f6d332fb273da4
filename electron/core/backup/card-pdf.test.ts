import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fingerprintInGroups } from '../../../shared/backups';
import { tempDataDir } from '../testing/softhsm-fixture';
import { renderCardPdf } from './card-pdf';
import type { PrintableCard } from './backup-service';
import { decodeCard, encodeCard, qrPayload, type ShareCard } from './share-card';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dataDir: dir, cleanup } = tempDataDir('custos-pdf-')));
afterEach(() => cleanup());

/** A card for `share`, printed as Custos prints it, and what pdftotext and pdfinfo read from it. */
async function printed(
  share: ShareCard,
  facts: Pick<PrintableCard, 'holder' | 'token' | 'keys' | 'setFingerprint'> & { rehearsal?: boolean },
): Promise<{ file: string; text: string; extracted: string; pages: string }> {
  const text = encodeCard(share);
  const { setId, threshold, holders, index } = share;
  const pdf = await renderCardPdf({
    setId,
    threshold,
    holders,
    index,
    rehearsal: false,
    ...facts,
    createdAt: '2026-12-02T21:51:13.123Z',
    text,
    qr: qrPayload(text),
  });
  const file = join(dir, `card-${index}.pdf`);
  writeFileSync(file, pdf);
  const extracted = execFileSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
  return {
    file,
    text,
    extracted,
    get pages() {
      return execFileSync('pdfinfo', [file], { encoding: 'utf8' });
    },
  };
}

describe('the printable share card', () => {
  it('says what to file it by, has a line to sign for receipt, and its text and QR code read back (pdftotext, zbarimg)', async () => {
    const share = {
      setId: randomBytes(16).toString('hex'),
      threshold: 2,
      holders: 3,
      index: 3,
      share: randomBytes(33),
    };
    const keys = [
      {
        id: randomBytes(16).toString('hex'),
        label: 'payments-signing',
        algorithm: 'EC-P256',
        kcv: null,
        fingerprint: 'ab'.repeat(32),
      },
      {
        id: randomBytes(16).toString('hex'),
        label: 'Zahlungsschlüssel',
        algorithm: 'AES-256',
        kcv: '1a2b3c',
        fingerprint: null,
      },
    ];
    const setFingerprint = randomBytes(32).toString('hex');
    const { file, text, extracted, pages } = await printed(share, {
      holder: { id: 'c', name: 'Marie Curie' },
      token: { serial: '6c3e7f0a12', label: 'vault-a' },
      keys,
      setFingerprint,
    });
    expect(extracted).toContain('Holder: Marie Curie');
    expect(extracted).toContain('Share: 3 of 3 (2 needed)');
    expect(extracted).toContain('Any 2 cards of this set restore the backup');
    expect(extracted).toContain('Backup made: 2026-12-02 21:51 UTC');
    expect(extracted).toContain('Token: vault-a (serial 6c3e7f0a12)');
    expect(extracted).toContain(`payments-signing (EC P-256), CKA_ID ${keys[0]!.id}, SHA-256 ${'ab'.repeat(8)}…`);
    expect(extracted).toContain(`Zahlungsschlüssel (AES-256), CKA_ID ${keys[1]!.id}, KCV 1a2b3c`);
    expect(extracted).toContain(share.setId.slice(0, 8));
    // The set fingerprint in groups of four, to read aloud: all of it.
    const groupsOfFour = fingerprintInGroups(setFingerprint);
    expect(extracted.replace(/\s+/g, ' ')).toContain(groupsOfFour);
    expect(extracted).toMatch(/Received by \(signature\) _{10,}\s+Date _{10,}/);
    expect(extracted).toContain('What to do with this card');
    const typed = extracted
      .match(/^\s*([0-9A-Z]{2,5}(-[0-9A-Z]{2,5})+)\s*$/gm)!
      .map((l) => l.trim())
      .join('-');
    expect(typed).toBe(text);
    expect(decodeCard(typed)).toEqual(share);
    expect(pages).toMatch(/Pages:\s+1\n/);

    execFileSync('pdftoppm', ['-r', '150', '-png', '-singlefile', file, join(dir, 'card')]);
    const scanned = execFileSync('zbarimg', ['--raw', '-q', join(dir, 'card.png')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    expect(scanned).toBe(qrPayload(text));
    expect(decodeCard(scanned)).toEqual(share);
  });

  it('a practice card from a rehearsal says REHEARSAL before anything else, on its one page', async () => {
    const share = {
      setId: randomBytes(16).toString('hex'),
      threshold: 2,
      holders: 3,
      index: 1,
      share: randomBytes(33),
    };
    const real = await printed(share, {
      holder: { id: 'a', name: 'Ada' },
      token: { serial: '6c3e7f0a12', label: 'vault-a' },
      keys: [],
      setFingerprint: randomBytes(32).toString('hex'),
    });
    expect(real.extracted).not.toContain('REHEARSAL');
    const practice = await printed(share, {
      holder: { id: 'a', name: 'Ada' },
      token: { serial: '5d2e', label: 'REHEARSAL' },
      keys: [],
      setFingerprint: randomBytes(32).toString('hex'),
      rehearsal: true,
    });
    expect(practice.extracted.trimStart()).toMatch(/^REHEARSAL - a practice card/);
    expect(practice.extracted.replace(/\s+/g, ' ')).toContain('restores nothing real: destroy it after the rehearsal');
    expect(practice.pages).toMatch(/Pages:\s+1\n/);
  });

  it('prints a holder’s name as written in any script the font has, CJK as U+FFFD, in subset fonts', async () => {
    const share = {
      setId: randomBytes(16).toString('hex'),
      threshold: 2,
      holders: 5,
      index: 1,
      share: randomBytes(33),
    };
    const card = (name: string) =>
      printed(share, {
        holder: { id: 'h', name },
        token: { serial: '1', label: 'vault-a' },
        keys: [],
        setFingerprint: randomBytes(32).toString('hex'),
      });
    // "Σωτήρης" after "Γιώργος": a glyph an earlier PDF held only inside an accented letter (ω of ώ) is still read.
    for (const name of ['Ольга Петрова', 'Γιώργος', 'Σωτήρης'])
      expect((await card(name)).extracted).toContain(`Holder: ${name}\n`);
    const latin = await card('Zoë Ñúñez-Łukasz');
    expect(latin.extracted).toContain('Holder: Zoë Ñúñez-Łukasz\n');
    const fonts = execFileSync('pdffonts', [latin.file], { encoding: 'utf8' });
    // name, type, encoding, then emb, sub, uni: embedded, as a subset, with a ToUnicode map.
    expect(fonts).toMatch(/^[A-Z]{6}\+DejaVuSans +CID TrueType +Identity-H +yes +yes +yes /m);
    expect(fonts).toMatch(/^[A-Z]{6}\+DejaVuSans-Bold +CID TrueType +Identity-H +yes +yes +yes /m);
    // Subsets: the whole of DejaVu Sans alone is 740 kB.
    expect(statSync(latin.file).size).toBeLessThan(60_000);
    // pdftotext marks a right-to-left run with embedding controls; the letters are the name's, in its order.
    const arabic = await card('محمد عبد الله');
    expect(arabic.extracted.replace(/[\u202A-\u202E]/g, '').replace(/\u00A0/g, ' ')).toContain(
      'Holder: محمد عبد الله\n',
    );
    // A character the font lacks (CJK) is printed as U+FFFD, never dropped: the name is seen not to be printable.
    const cjk = await card('王小明 (Wang Xiaoming)');
    expect(cjk.extracted).toContain('Holder: \uFFFD\uFFFD\uFFFD (Wang Xiaoming)\n');
  });

  it('stays one page with many keys, naming how many more there are', async () => {
    const share = {
      setId: randomBytes(16).toString('hex'),
      threshold: 3,
      holders: 5,
      index: 1,
      share: randomBytes(33),
    };
    const keys = Array.from({ length: 9 }, (_, i) => ({
      id: randomBytes(16).toString('hex'),
      label: `a rather long key label number ${i + 1} for the payments platform`,
      algorithm: 'RSA-4096',
      kcv: null,
      fingerprint: randomBytes(32).toString('hex'),
    }));
    const { extracted, pages } = await printed(share, {
      holder: { id: 'a', name: 'Ada Lovelace' },
      token: { serial: '1', label: 'vault-b' },
      keys,
      setFingerprint: randomBytes(32).toString('hex'),
    });
    expect(pages).toMatch(/Pages:\s+1\n/);
    expect(extracted).toContain('Keys it covers (9):');
    expect(extracted).toContain('number 6 for');
    expect(extracted).not.toContain('number 7 for');
    expect(extracted).toContain('and 3 more: see the backup list in Custos.');
    expect(extracted).toContain('Received by (signature)');
  });
});
