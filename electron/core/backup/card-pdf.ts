import QRCode from 'qrcode';
import { fingerprintInGroups, shareCardWords as words } from '../../../shared/backups';
import { GROUPS_PER_LINE } from '../../../shared/share-card-text';
import { collectPdf, FONT, newPdf, printable } from '../pdf';
import type { PrintableCard } from './backup-service';

/** Keys listed by name on the card; a larger set says how many more (the backup list names them all). */
const KEYS_ON_CARD = 6;
const QR_SIZE = 150;

/**
 * One holder's share card as a one-page PDF to file and sign for: when the set was made, from
 * which token, the keys it covers and the set's fingerprint; who holds it and which share it is;
 * the share as short groups to type and as a QR code to scan; a line to sign for receipt; and
 * what to do with it. Names and labels print in any script DejaVu Sans covers (see printable); the share's
 * groups and the fingerprint, ASCII only, in PDFKit's built-in Courier.
 */
export function renderCardPdf(card: PrintableCard): Promise<Buffer> {
  const doc = newPdf({
    size: 'A4',
    margin: 50,
    info: {
      Title: `Custos share card ${card.index} of ${card.holders}`,
      Author: 'Custos',
      Subject: `Backup set ${card.setId}`,
    },
  });
  const done = collectPdf(doc);
  const left = doc.page.margins.left;
  const width = doc.page.width - left - doc.page.margins.right;
  const field = (label: string, value: string) =>
    doc.font(FONT.bold).text(`${label}: `, { continued: true }).font(FONT.sans).text(printable(value));

  if (card.rehearsal) rehearsalBand(doc);
  doc.font(FONT.bold).fontSize(20).text('Custos backup share card');
  doc.moveDown(0.4).fontSize(11);
  field('Holder', card.holder.name);
  field('Share', words.share(card));
  doc.font(FONT.sans).text(`Any ${card.threshold} cards of this set restore the backup; fewer reveal nothing.`);
  field('Backup made', words.made(card));
  field('Token', words.token(card));
  doc.font(FONT.bold).text(`Keys it covers (${card.keys.length}):`);
  // A key's line (label, id, fingerprint) fits the width unbroken in DejaVu Sans, wider than Helvetica.
  doc.font(FONT.sans).fontSize(8.5);
  for (const key of card.keys.slice(0, KEYS_ON_CARD)) doc.text(printable(`• ${words.key(key)}`), { indent: 8 });
  if (card.keys.length > KEYS_ON_CARD)
    doc.text(`• and ${card.keys.length - KEYS_ON_CARD} more: see the backup list in Custos.`, { indent: 8 });
  doc.fontSize(11);
  field('Backup set', card.setId.match(/.{8}/g)!.join(' '));
  // The label bold and what it is in regular weight: on one line in DejaVu Sans, wider than Helvetica.
  doc.font(FONT.bold).text('Set fingerprint ', { continued: true });
  doc.font(FONT.sans).fontSize(10).text('(SHA-256 of the signed manifest; the same on every card of this set):');
  const fingerprint = fingerprintInGroups(card.setFingerprint).split(' ');
  doc.font('Courier-Bold').fontSize(12);
  for (let i = 0; i < fingerprint.length; i += 8) doc.text(fingerprint.slice(i, i + 8).join(' '), { indent: 8 });
  doc.moveDown(0.6);

  doc.font(FONT.bold).fontSize(11).text('Share (type exactly; dashes, spaces and case do not matter):');
  const top = doc.y + 4;
  const groups = card.text.split('-');
  doc.font('Courier-Bold').fontSize(15);
  doc.y = top;
  for (let i = 0; i < groups.length; i += GROUPS_PER_LINE)
    doc.text(groups.slice(i, i + GROUPS_PER_LINE).join('-'), left, doc.y, { lineGap: 4 });
  drawQr(doc, card.qr, left + width - QR_SIZE, top - 10, QR_SIZE);
  doc.x = left;
  doc.y = Math.max(doc.y, top - 10 + QR_SIZE) + 8;

  doc.font(FONT.bold).fontSize(11).text(words.receipt, left, doc.y, { width });
  doc.moveDown(0.8);
  doc.font(FONT.bold).text('What to do with this card');
  doc
    .font(FONT.sans)
    .fontSize(9.5)
    .list(
      words.instructions.map((line) => printable(line)),
      { bulletRadius: 2, width },
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

/** A practice card from a rehearsal says so before anything else, so it is never filed as a real one. */
function rehearsalBand(doc: PDFKit.PDFDocument): void {
  doc
    .font(FONT.bold)
    .fontSize(16)
    .text(
      'REHEARSAL - a practice card from a scratch token. It restores nothing real: destroy it after the rehearsal.',
    );
  doc.moveDown(0.5);
}
