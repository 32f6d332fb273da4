import PDFDocument from 'pdfkit';
import QRCode from 'qrcode';
import { collectPdf } from '../pdf';
import type { PrintableCard } from './backup-service';

const GROUPS_PER_LINE = 6;

/**
 * One holder's share card as a one-page PDF: who holds it, which backup it belongs to, the share
 * as short groups to type and as a QR code to scan, and what to do with it. Drawn with PDFKit's
 * built-in fonts, so nothing is fetched or embedded from outside.
 */
export function renderCardPdf(card: PrintableCard): Promise<Buffer> {
  const doc = new PDFDocument({
    size: 'A4',
    margin: 56,
    info: {
      Title: `Custos share card ${card.index} of ${card.holders}`,
      Author: 'Custos',
      Subject: `Backup set ${card.setId}`,
    },
  });
  const done = collectPdf(doc);

  doc.font('Helvetica-Bold').fontSize(20).text('Custos backup share card');
  doc.moveDown(0.5).font('Helvetica').fontSize(12);
  doc.text(`Holder: ${card.holder.name}`);
  doc.text(
    `Card ${card.index} of ${card.holders}. Any ${card.threshold} cards of this set restore the backup; fewer reveal nothing.`,
  );
  doc.text(`Backup set: ${card.setId.match(/.{8}/g)!.join(' ')}`);
  doc.moveDown();

  doc.font('Helvetica-Bold').text('Share (type exactly; dashes and case do not matter):');
  const groups = card.text.split('-');
  doc.font('Courier-Bold').fontSize(15);
  for (let i = 0; i < groups.length; i += GROUPS_PER_LINE) doc.text(groups.slice(i, i + GROUPS_PER_LINE).join('-'));
  doc.moveDown();

  drawQr(doc, card.qr, doc.x, doc.y, 170);
  doc.y += 185;
  doc
    .font('Helvetica')
    .fontSize(11)
    .list(
      [
        'Keep this card apart from the backup file and from the other holders’ cards, somewhere only you can reach.',
        'Custos checks each card the moment it is entered: a typo, a card from another backup, a wrong or repeated card is named at once and nothing is used.',
        'Check your card from time to time (in Custos: Ceremonies, then Check a share card); the check is recorded and rebuilds nothing.',
        'Never photograph, scan or type this card anywhere but into Custos during a restore or a check.',
      ],
      { bulletRadius: 2 },
    );
  doc.end();
  return done;
}

/** The QR code as filled squares (no raster image), so it prints sharply at any size. */
function drawQr(doc: PDFKit.PDFDocument, payload: string, x: number, y: number, size: number): void {
  const { modules } = QRCode.create(payload, { errorCorrectionLevel: 'M' });
  const quiet = 4;
  const cell = size / (modules.size + quiet * 2);
  for (let row = 0; row < modules.size; row += 1) {
    for (let col = 0; col < modules.size; col += 1) {
      if (modules.get(row, col)) doc.rect(x + (col + quiet) * cell, y + (row + quiet) * cell, cell, cell);
    }
  }
  doc.fill('black');
}
