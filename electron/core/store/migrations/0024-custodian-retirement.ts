import type { Migration } from '../migrate';

/**
 * When a person was retired (left the organisation): their row stays, so the name stays taken and the history
 * readable, but every factor check of theirs is refused. Signed with the rest of the row; null for everyone else,
 * whose signed document leaves it out, so rows signed before this column keep their signatures.
 */
export const custodianRetirement: Migration = {
  version: 24,
  name: 'custodian-retirement',
  up(db) {
    db.exec('ALTER TABLE custodians ADD COLUMN retired_at TEXT;');
  },
};
