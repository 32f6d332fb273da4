/** What share cards, reports and the practice statement have in common as PDFKit documents. */

/** The document's bytes, once it is ended. Call before drawing: PDFKit streams as it goes. */
export function collectPdf(doc: PDFKit.PDFDocument): Promise<Buffer> {
  const chunks: Buffer[] = [];
  doc.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise<Buffer>((resolve) => doc.on('end', () => resolve(Buffer.concat(chunks))));
}

/**
 * PDFKit's built-in fonts speak WinAnsi: "‖" (concatenation in hash formulas) is printed as "||",
 * anything else outside WinAnsi as "?" rather than garbled. Line breaks are kept.
 */
export function winAnsi(value: string): string {
  const printable = /[^\n\x20-\x7E\u00A0-\u00FF\u2019\u201C\u201D\u2013\u2014\u2022\u2026]/g;
  return value.replace(/\u2016/g, '||').replace(printable, '?');
}

/** Courier's glyphs are 0.6 em wide: the size at which the longest line fits the width unbroken. */
const COURIER_EM = 0.6;

/**
 * Text that must be copied or compared exactly (a checkpoint, a PEM key), in Courier, one printed
 * line per line of text: the size shrinks so that no line wraps.
 */
export function monospaceBlock(doc: PDFKit.PDFDocument, value: string, maxSize = 8): void {
  const lines = value.replace(/\n$/, '').split('\n');
  const width = doc.page.width - doc.page.margins.left - doc.page.margins.right;
  const longest = Math.max(1, ...lines.map((line) => line.length));
  // A little under the exact fit, so rounding never wraps a line.
  const size = Math.min(maxSize, Math.floor((width / (longest * COURIER_EM)) * 9.8) / 10);
  doc.font('Courier').fontSize(size);
  // Kept on one page, so that it can be read and copied as one piece.
  const height = lines.length * doc.currentLineHeight(true);
  const room = doc.page.height - doc.page.margins.bottom - doc.y;
  if (height > room && height <= doc.page.height - doc.page.margins.top - doc.page.margins.bottom) doc.addPage();
  doc.x = doc.page.margins.left;
  for (const line of lines) doc.text(winAnsi(line) || ' ');
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
        .font('Helvetica-Bold')
        .fontSize(11)
        .fillColor('#b00020')
        .text(winAnsi(banner), doc.page.margins.left, 24, { lineBreak: false })
        .fillColor('black');
    doc
      .font('Helvetica')
      .fontSize(7)
      .text(winAnsi(`${footer} · page ${i + 1} of ${range.count}`), doc.page.margins.left, doc.page.height - 50, {
        lineBreak: false,
      });
  }
  doc.end();
}
