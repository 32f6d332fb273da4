import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as fontkit from 'fontkit';
import PDFDocument from 'pdfkit';

/** What share cards, reports and the practice statement have in common as PDFKit documents. */

/** The document's bytes, once it is ended. Call before drawing: PDFKit streams as it goes. */
export function collectPdf(doc: PDFKit.PDFDocument): Promise<Buffer> {
  const chunks: Buffer[] = [];
  doc.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise<Buffer>((resolve) => doc.on('end', () => resolve(Buffer.concat(chunks))));
}

/**
 * The fonts every Custos PDF draws its text in, embedded as subsets (only the glyphs used), with a ToUnicode map
 * so that the text can be searched and copied: DejaVu Sans (Latin, Greek, Cyrillic, Arabic, Hebrew and more) and
 * DejaVu Sans Mono for what is printed line for line. The share groups and fingerprints, ASCII only, stay in
 * PDFKit's built-in Courier.
 */
export const FONT = { sans: 'DejaVuSans', bold: 'DejaVuSans-Bold', mono: 'DejaVuSansMono' } as const;
export type FontName = (typeof FONT)[keyof typeof FONT];

/** What is printed for a character the font has no glyph for (CJK, for one): seen, never silently dropped. */
export const MISSING_GLYPH = '\uFFFD';

interface LoadedFont {
  bytes: Buffer;
  /** Parsed once, only to ask which characters it has. */
  glyphs: fontkit.Font;
}
let loaded: Map<FontName, LoadedFont> | undefined;

/**
 * The fonts' files, from the `dejavu-fonts-ttf` package (licence in its LICENSE): found by Node's resolution from
 * the source tree (tsx, vitest), from the build (out/main) and from the packaged app (inside its asar).
 */
function fonts(): Map<FontName, LoadedFont> {
  if (!loaded) {
    const dir = join(dirname(createRequire(__filename).resolve('dejavu-fonts-ttf/package.json')), 'ttf');
    loaded = new Map(
      Object.values(FONT).map((name) => {
        const bytes = readFileSync(join(dir, `${name}.ttf`));
        return [name, { bytes, glyphs: fontkit.create(bytes) }];
      }),
    );
  }
  return loaded;
}

/** A PDFKit document with Custos's fonts registered and DejaVu Sans selected. */
export function newPdf(options: PDFKit.PDFDocumentOptions): PDFKit.PDFDocument {
  const doc = new PDFDocument(options);
  // Each document parses its own copy: a fontkit font caches a glyph with the characters it was first drawn for,
  // so one shared across documents could leave a glyph out of a later document's ToUnicode map (text lost to
  // pdftotext and copying) when an earlier one had reached it as part of an accented letter.
  for (const [name, font] of fonts()) doc.registerFont(name, font.bytes);
  return doc.font(FONT.sans);
}

const RTL_LETTER = '[\\u0590-\\u08FF\\uFB1D-\\uFDFF\\uFE70-\\uFEFF]';
const RTL_WORDS = new RegExp(`${RTL_LETTER}+(?: +${RTL_LETTER}+)+`, 'g');

/**
 * User text as `font` can print it: a character it has no glyph for becomes MISSING_GLYPH. PDFKit lays out each
 * word alone and the font engine puts a right-to-left word's letters right to left (Arabic joined), so the spaces
 * between right-to-left words are made no-break: the words of a name then also read right to left. Line breaks
 * are kept. There is no further bidirectional reordering (docs/reports.md).
 */
export function printable(value: string, font: FontName = FONT.sans): string {
  const { glyphs } = fonts().get(font)!;
  let out = '';
  for (const char of value) {
    const code = char.codePointAt(0)!;
    out += code === 0x0a || glyphs.hasGlyphForCodePoint(code) ? char : MISSING_GLYPH;
  }
  return out.replace(RTL_WORDS, (words) => words.replace(/ /g, '\u00A0'));
}

/** DejaVu Sans Mono's glyphs are 1233/2048 em wide: the size at which the longest line fits the width unbroken. */
const MONO_EM = 1233 / 2048;

/**
 * Text that must be copied or compared exactly (a checkpoint, a PEM key, a ceremony script), in DejaVu Sans
 * Mono, one printed line per line of text: the size shrinks so that no line wraps.
 */
export function monospaceBlock(doc: PDFKit.PDFDocument, value: string, maxSize = 8): void {
  const lines = value.replace(/\n$/, '').split('\n');
  const width = doc.page.width - doc.page.margins.left - doc.page.margins.right;
  const longest = Math.max(1, ...lines.map((line) => line.length));
  // A little under the exact fit, so rounding never wraps a line.
  const size = Math.min(maxSize, Math.floor((width / (longest * MONO_EM)) * 9.8) / 10);
  doc.font(FONT.mono).fontSize(size);
  // Kept on one page, so that it can be read and copied as one piece.
  const height = lines.length * doc.currentLineHeight(true);
  const room = doc.page.height - doc.page.margins.bottom - doc.y;
  if (height > room && height <= doc.page.height - doc.page.margins.top - doc.page.margins.bottom) doc.addPage();
  doc.x = doc.page.margins.left;
  for (const line of lines) doc.text(printable(line, FONT.mono) || ' ');
}

/** "<footer> · page i of n" at the foot of every page (the document must buffer its pages), then ends it. */
export function endWithFooters(doc: PDFKit.PDFDocument, footer: string, banner?: string): void {
  const range = doc.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i += 1) {
    doc.switchToPage(i);
    doc.page.margins.bottom = 0;
    // A banner no page can be printed without (a rehearsal's report says so on every page).
    if (banner)
      doc
        .font(FONT.bold)
        .fontSize(11)
        .fillColor('#b00020')
        .text(printable(banner), doc.page.margins.left, 24, { lineBreak: false })
        .fillColor('black');
    doc
      .font(FONT.sans)
      .fontSize(7)
      .text(printable(`${footer} · page ${i + 1} of ${range.count}`), doc.page.margins.left, doc.page.height - 50, {
        lineBreak: false,
      });
  }
  doc.end();
}
