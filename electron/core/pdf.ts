/** What share cards, reports and the practice statement have in common as PDFKit documents. */

/** The document's bytes, once it is ended. Call before drawing: PDFKit streams as it goes. */
export function collectPdf(doc: PDFKit.PDFDocument): Promise<Buffer> {
  const chunks: Buffer[] = [];
  doc.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise<Buffer>((resolve) => doc.on('end', () => resolve(Buffer.concat(chunks))));
}

/** PDFKit's built-in fonts speak WinAnsi: anything else is shown as "?" rather than garbled. */
export function winAnsi(value: string): string {
  return value.replace(/[^\x20-\x7E\u00A0-\u00FF\u2019\u201C\u201D\u2013\u2014\u2022]/g, '?');
}

/** "<footer> · page i of n" at the foot of every page (the document must buffer its pages), then ends it. */
export function endWithFooters(doc: PDFKit.PDFDocument, footer: string): void {
  const range = doc.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i += 1) {
    doc.switchToPage(i);
    doc.page.margins.bottom = 0;
    doc.font('Helvetica').fontSize(7).text(winAnsi(`${footer} · page ${i + 1} of ${range.count}`), doc.page.margins.left, doc.page.height - 50, { lineBreak: false });
  }
  doc.end();
}
