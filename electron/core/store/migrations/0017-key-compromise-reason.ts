import type { Migration } from '../migrate';

/**
 * Why a key was marked compromised, in the security officer's words (SP 800-57 §5.3.4): its revocation notice and
 * impact report name it. Signed with the rest of the key's record; null for every other key, whose signed document
 * leaves it out, so records signed before this column keep their signatures.
 */
export const keyCompromiseReason: Migration = {
  version: 17,
  name: 'key-compromise-reason',
  up(db) {
    db.exec('ALTER TABLE keys ADD COLUMN compromise_reason TEXT;');
  },
};
