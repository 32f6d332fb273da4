import type { Migration } from '../migrate';

export const custodians: Migration = {
  version: 3,
  name: 'custodians',
  up(db) {
    db.exec(`
      CREATE TABLE custodians (
        id TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL UNIQUE,
        roles TEXT NOT NULL,              -- JSON array of custodian, security-officer, auditor
        kdf TEXT NOT NULL,                -- JSON scrypt parameters and salt for this custodian
        sealed_totp BLOB NOT NULL,        -- the TOTP secret, AES-256-GCM under the passphrase key
        last_time_step INTEGER,           -- the last TOTP step accepted; never accepted again
        failures INTEGER NOT NULL DEFAULT 0,
        throttled_until TEXT,
        locked INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1)),
        enrolled_at TEXT NOT NULL
      ) STRICT;
    `);
  },
};
