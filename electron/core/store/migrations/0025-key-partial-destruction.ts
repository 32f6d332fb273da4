import type { Migration } from '../migrate';

/**
 * What a destruction that failed half-way left of a key: which of its objects the token destroyed and which remain
 * (JSON, with the proposal that ran it). Signed with the rest of the key's record; null for every other key, whose
 * signed document leaves it out, so records signed before this column keep their signatures.
 */
export const keyPartialDestruction: Migration = {
  version: 25,
  name: 'key-partial-destruction',
  up(db) {
    db.exec('ALTER TABLE keys ADD COLUMN partly_destroyed TEXT;');
  },
};
