import type { Migration } from '../migrate';

export const backups: Migration = {
  version: 9,
  name: 'backups',
  up(db) {
    db.exec(`
      -- Backup sets: the signed manifest holds the wrapped keys (useless without t share cards),
      -- the share commitments and the KEK check value. The shares themselves are never stored.
      CREATE TABLE backups (
        set_id TEXT PRIMARY KEY NOT NULL,
        token_serial TEXT NOT NULL,
        token_label TEXT NOT NULL,
        created_at TEXT NOT NULL,
        proposal_id TEXT REFERENCES proposals (id),  -- null when imported from a file
        manifest TEXT NOT NULL,                      -- RFC 8785 canonical JSON, exactly as signed
        signature BLOB NOT NULL,                     -- Ed25519 by this installation's audit key
        verified_at TEXT                             -- when every blob was unwrapped in the token and matched
      ) STRICT;
      CREATE TABLE backup_keys (
        set_id TEXT NOT NULL REFERENCES backups (set_id),
        key_id TEXT NOT NULL,
        PRIMARY KEY (set_id, key_id)
      ) STRICT;
      -- Share health checks: a holder confirmed their card still matches the manifest.
      CREATE TABLE share_checks (
        id INTEGER PRIMARY KEY,
        set_id TEXT NOT NULL REFERENCES backups (set_id),
        share_index INTEGER NOT NULL,
        checked_at TEXT NOT NULL
      ) STRICT;
    `);
  },
};
