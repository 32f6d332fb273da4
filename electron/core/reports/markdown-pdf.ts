import PDFDocument from 'pdfkit';
import { collectPdf, endWithFooters, winAnsi } from '../pdf';

/**
 * A plain Markdown document (headings, bullets, paragraphs: what the practice statement draft
 * uses) as a PDF with page numbers, for the organisation to print and mark up.
 */
export function renderMarkdownPdf(markdown: string, footer: string): Promise<Buffer> {
  const doc = new PDFDocument({ size: 'A4', margins: { top: 56, bottom: 72, left: 56, right: 56 }, bufferPages: true });
  const done = collectPdf(doc);
  const text = winAnsi;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('# '))
      doc
        .font('Helvetica-Bold')
        .fontSize(18)
        .text(text(line.slice(2)))
        .moveDown(0.4);
    else if (line.startsWith('## '))
      doc
        .moveDown(0.6)
        .font('Helvetica-Bold')
        .fontSize(13)
        .text(text(line.slice(3)));
    else if (line.startsWith('- '))
      doc
        .font('Helvetica')
        .fontSize(10)
        .list([text(line.slice(2))], { bulletRadius: 2 });
    else if (line.trim().length > 0) doc.font('Helvetica').fontSize(10).text(text(line));
    else doc.moveDown(0.3);
  }
  endWithFooters(doc, footer);
  return done;
}
