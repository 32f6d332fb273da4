import PDFDocument from 'pdfkit';

/**
 * A plain Markdown document (headings, bullets, paragraphs: what the practice statement draft
 * uses) as a PDF with page numbers, for the organisation to print and mark up.
 */
export function renderMarkdownPdf(markdown: string, footer: string): Promise<Buffer> {
  const doc = new PDFDocument({ size: 'A4', margins: { top: 56, bottom: 72, left: 56, right: 56 }, bufferPages: true });
  const chunks: Buffer[] = [];
  doc.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<Buffer>((resolve) => doc.on('end', () => resolve(Buffer.concat(chunks))));
  const text = (value: string) => value.replace(/[^\x20-\x7E\u00A0-\u00FF\u2019\u201C\u201D\u2013\u2014\u2022]/g, '?');
  for (const line of markdown.split('\n')) {
    if (line.startsWith('# ')) doc.font('Helvetica-Bold').fontSize(18).text(text(line.slice(2))).moveDown(0.4);
    else if (line.startsWith('## ')) doc.moveDown(0.6).font('Helvetica-Bold').fontSize(13).text(text(line.slice(3)));
    else if (line.startsWith('- ')) doc.font('Helvetica').fontSize(10).list([text(line.slice(2))], { bulletRadius: 2 });
    else if (line.trim().length > 0) doc.font('Helvetica').fontSize(10).text(text(line));
    else doc.moveDown(0.3);
  }
  const range = doc.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i += 1) {
    doc.switchToPage(i);
    doc.page.margins.bottom = 0;
    doc.font('Helvetica').fontSize(7).text(text(`${footer} · page ${i + 1} of ${range.count}`), doc.page.margins.left, doc.page.height - 50, { lineBreak: false });
  }
  doc.end();
  return done;
}
