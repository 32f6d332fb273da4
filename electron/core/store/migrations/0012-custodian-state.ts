import type { Migration } from '../migrate';

/**
 * A custodian's security state (roles, lockout, failures, last TOTP step, name, sealed secret)
 * is signed by the audit key together with the seq of the audit entry that recorded it, so a
 * database writer can neither forge a state nor roll one back. Rows from before this version
 * have no signature yet: the core signs them once, at the first start after the upgrade.
 */
export const custodianState: Migration = {
  version: 12,
  name: 'custodian-state',
  up(db) {
    db.exec(`
      ALTER TABLE custodians ADD COLUMN state_seq INTEGER;   -- the audit entry that recorded this state
      ALTER TABLE custodians ADD COLUMN state_sig BLOB;      -- Ed25519 by the audit key over the canonical state
    `);
  },
};
