import type { Migration } from '../migrate';

/**
 * How strong a custody's PINs are, in bits: a token that caps PINs (opencryptoki and many
 * smartcards at 8 characters) gives far less than the 190 bits of Custos's 32-character PINs, and
 * custodians, reports and the analyzer say so; and the characters they are drawn from (a PIV
 * card takes digits only). Signed with the rest of the custody record.
 */
export const custodyPinBits: Migration = {
  version: 14,
  name: 'custody-pin-bits',
  up(db) {
    db.exec('ALTER TABLE custody ADD COLUMN pin_bits INTEGER; ALTER TABLE custody ADD COLUMN pin_alphabet TEXT;');
  },
};
