import type { Migration } from '../migrate';

/**
 * Keys, destruction schedules and custody records carry authority (a key's state and token, the
 * end of a waiting period, a custody's threshold): like custodians (0012), each row is signed by
 * the audit key together with the seq of the audit entry that recorded it. Rows from before this
 * version are signed once, at the first start after the upgrade.
 */
export const recordState: Migration = {
  version: 13,
  name: 'record-state',
  up(db) {
    db.exec(`
      ALTER TABLE keys ADD COLUMN state_seq INTEGER;
      ALTER TABLE keys ADD COLUMN state_sig BLOB;
      ALTER TABLE destruction_schedules ADD COLUMN state_seq INTEGER;
      ALTER TABLE destruction_schedules ADD COLUMN state_sig BLOB;
      ALTER TABLE custody ADD COLUMN state_seq INTEGER;
      ALTER TABLE custody ADD COLUMN state_sig BLOB;
    `);
  },
};
