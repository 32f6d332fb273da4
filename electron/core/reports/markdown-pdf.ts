import { collectPdf, endWithFooters, FONT, newPdf, printable } from '../pdf';

/** A decision left to the organisation (`**[ORGANISATION TO DECIDE: …]**`) is printed bold, coloured, underlined. */
const DECIDE = /^\[ORGANISATION TO DECIDE\b/;
const DECIDE_COLOUR = '#9a3412';
const RULE = '#9ca3af';
const BODY = 10;

/**
 * The small Markdown the core writes (headings, bullets, paragraphs, tables, **bold**, `code`) as
 * a PDF with page numbers, for the organisation to print and mark up.
 */
export function renderMarkdownPdf(markdown: string, footer: string): Promise<Buffer> {
  const doc = newPdf({ size: 'A4', margins: { top: 56, bottom: 72, left: 56, right: 56 }, bufferPages: true });
  const done = collectPdf(doc);
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i]!;
    if (line.startsWith('|')) {
      const rows: string[] = [];
      while (i < lines.length && lines[i]!.startsWith('|')) rows.push(lines[i++]!);
      i -= 1;
      drawTable(doc, rows);
    } else if (line.startsWith('# ')) {
      doc
        .font(FONT.bold)
        .fontSize(18)
        .text(printable(line.slice(2)))
        .moveDown(0.4);
    } else if (line.startsWith('## ')) {
      // A heading is never left alone at the foot of a page.
      if (doc.y > doc.page.height - doc.page.margins.bottom - 60) doc.addPage();
      doc
        .moveDown(0.6)
        .font(FONT.bold)
        .fontSize(13)
        .text(printable(line.slice(3)))
        .moveDown(0.2);
    } else if (line.startsWith('- ')) {
      // The bullet goes where its text starts: on the next page when not even two lines fit here.
      doc.font(FONT.sans).fontSize(BODY);
      if (doc.y + 2 * doc.currentLineHeight(true) > doc.page.height - doc.page.margins.bottom) doc.addPage();
      const y = doc.y;
      doc
        .font(FONT.sans)
        .fontSize(BODY)
        .text('•', doc.page.margins.left + 4, y, { lineBreak: false });
      doc.y = y;
      inlineText(doc, line.slice(2), doc.page.margins.left + 16);
    } else if (line.trim().length > 0) inlineText(doc, line, doc.page.margins.left);
    else doc.moveDown(0.3);
  }
  endWithFooters(doc, footer);
  return done;
}

type Span = { text: string; bold: boolean; code: boolean; decide: boolean };

function spans(text: string): Span[] {
  return text
    .split(/(\*\*[^*]+\*\*|`[^`]+`)/)
    .filter((part) => part.length > 0)
    .map((part) => {
      if (part.startsWith('**') && part.endsWith('**') && part.length > 4) {
        const inner = part.slice(2, -2);
        return { text: inner, bold: true, code: false, decide: DECIDE.test(inner) };
      }
      if (part.startsWith('`') && part.endsWith('`') && part.length > 2)
        return { text: part.slice(1, -1), bold: false, code: true, decide: false };
      return { text: part, bold: false, code: false, decide: false };
    });
}

/** A paragraph of mixed spans from `left` to the right margin, wrapping back to `left`. */
function inlineText(doc: PDFKit.PDFDocument, text: string, left: number): void {
  const width = doc.page.width - doc.page.margins.right - left;
  const parts = spans(text);
  doc.x = left;
  parts.forEach((span, i) => {
    const font = span.code ? FONT.mono : span.bold ? FONT.bold : FONT.sans;
    doc
      .font(font)
      .fontSize(BODY)
      .fillColor(span.decide ? DECIDE_COLOUR : 'black');
    // Underlined on every line it wraps to, so a decision stands out even in a grey-scale print.
    doc.text(printable(span.text, font), { width, continued: i < parts.length - 1, underline: span.decide });
  });
  doc.fillColor('black');
  doc.x = doc.page.margins.left;
}

/** A Markdown table (header, separator, rows) as ruled rows, columns sized by their longest text. */
function drawTable(doc: PDFKit.PDFDocument, rows: string[]): void {
  const cells = rows
    .filter((row) => !/^\|(\s*:?-+:?\s*\|)+\s*$/.test(row))
    .map((row) =>
      row
        .replace(/^\|/, '')
        .replace(/\|$/, '')
        .split('|')
        .map((cell) => printable(cell.trim().replace(/\*\*/g, '').replace(/`/g, ''))),
    );
  if (cells.length === 0) return;
  const left = doc.page.margins.left;
  const total = doc.page.width - doc.page.margins.right - left;
  const columns = cells[0]!.length;
  doc.font(FONT.sans).fontSize(8.5);
  const natural = Array.from({ length: columns }, (_, c) =>
    Math.max(...cells.map((row) => doc.widthOfString(row[c] ?? '') + 8), 30),
  );
  const sum = natural.reduce((a, b) => a + b, 0);
  // Columns that fit keep their width; only the wide ones share what is left.
  const fair = total / columns;
  const narrow = natural.filter((w) => w <= fair).reduce((a, b) => a + b, 0);
  const wide = natural.filter((w) => w > fair).reduce((a, b) => a + b, 0);
  const widths = natural.map((w) => (sum <= total ? (w * total) / sum : w <= fair ? w : (w * (total - narrow)) / wide));
  doc.moveDown(0.2);
  cells.forEach((row, r) => {
    doc.font(r === 0 ? FONT.bold : FONT.sans).fontSize(8.5);
    const height = Math.max(...row.map((cell, c) => doc.heightOfString(cell, { width: widths[c]! - 6 }))) + 6;
    if (doc.y + height > doc.page.height - doc.page.margins.bottom) doc.addPage();
    const top = doc.y;
    let x = left;
    row.forEach((cell, c) => {
      doc.text(cell, x + 3, top + 3, { width: widths[c]! - 6 });
      x += widths[c]!;
    });
    doc
      .moveTo(left, top + height)
      .lineTo(left + total, top + height)
      .lineWidth(r === 0 ? 0.8 : 0.3)
      .strokeColor(RULE)
      .stroke();
    doc.y = top + height;
  });
  doc.x = left;
  doc.moveDown(0.4);
}
