import type { Migration } from '../migrate';

/**
 * The latest state of every signed record (keys, custodians, custody, schedules, recipients, retirements), as the
 * seq of the audit entry that recorded it, signed by the audit key with each checkpoint and bound to its size. The
 * log's open reads entries a checkpoint covers only through its root, so a record's latest entry found by action and
 * object can be edited away under a checkpoint; these heads say what it was (issue #10, the put-back row).
 */
export const recordHeads: Migration = {
  version: 23,
  name: 'record-heads',
  up(db) {
    db.exec(`
      CREATE TABLE record_heads (
        tree_size INTEGER PRIMARY KEY NOT NULL,  -- the checkpoint it was signed with
        document TEXT NOT NULL,                  -- canonical JSON: origin, size, heads
        signature BLOB NOT NULL                  -- Ed25519 by the audit key over the document
      ) STRICT;
    `);
  },
};
