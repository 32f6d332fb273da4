import type { Migration } from '../migrate';

/**
 * A backup set the quorum retired (no longer restorable), and each holder's signed confirmation that
 * their card is destroyed. Rows are signed by the audit key with the seq of the entry that recorded
 * them; the retirement's audit entry (append-only) also stands on its own, so deleting a row does not
 * make a set restorable again.
 */
export const backupRetirement: Migration = {
  version: 18,
  name: 'backup-retirement',
  up(db) {
    db.exec(`
      CREATE TABLE backup_retirements (
        set_id TEXT PRIMARY KEY NOT NULL REFERENCES backups (set_id),
        proposal_id TEXT NOT NULL REFERENCES proposals (id),
        reason TEXT NOT NULL,
        retired_at TEXT NOT NULL,
        state_seq INTEGER,
        state_sig BLOB
      ) STRICT;
      CREATE TABLE card_destructions (
        set_id TEXT NOT NULL REFERENCES backups (set_id),
        share_index INTEGER NOT NULL,
        holder_id TEXT NOT NULL REFERENCES custodians (id),
        destroyed_at TEXT NOT NULL,
        state_seq INTEGER,
        state_sig BLOB,
        PRIMARY KEY (set_id, share_index)
      ) STRICT;
    `);
  },
};
