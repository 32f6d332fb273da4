import type { Migration } from '../migrate';

/**
 * Key families (SP 800-57 rotation): a successor names the family's first key, its version and the
 * key it replaces; the replaced key names its successor and how its post-operational limits hold
 * ('token': the token refuses it sign/encrypt/wrap; 'custos': the token would not change the key,
 * so only Custos refuses). Signed with the rest of the key's record; null for keys never rotated,
 * whose signed document leaves them out, so records signed before this version keep their signatures.
 */
export const keyFamilies: Migration = {
  version: 19,
  name: 'key-families',
  up(db) {
    db.exec(`
      ALTER TABLE keys ADD COLUMN family TEXT;
      ALTER TABLE keys ADD COLUMN version INTEGER;
      ALTER TABLE keys ADD COLUMN previous TEXT;
      ALTER TABLE keys ADD COLUMN rotated_to TEXT;
      ALTER TABLE keys ADD COLUMN post_operational TEXT CHECK (post_operational IN ('token', 'custos'));
    `);
  },
};
