import type { Migration } from '../migrate';

export const custody: Migration = {
  version: 4,
  name: 'custody',
  up(db) {
    db.exec(`
      CREATE TABLE custody (
        id TEXT PRIMARY KEY NOT NULL,
        token_serial TEXT NOT NULL,
        token_label TEXT NOT NULL,
        threshold INTEGER NOT NULL CHECK (threshold >= 2),
        holders INTEGER NOT NULL CHECK (holders >= threshold),
        -- pending: shares are stored but the token may not hold the new PINs yet (journaled
        -- before the token is touched); active: in force; superseded: replaced by a re-deal.
        state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'superseded')),
        created_at TEXT NOT NULL,
        activated_at TEXT
      ) STRICT;
      CREATE INDEX custody_token ON custody (token_serial, token_label, state);

      CREATE TABLE custody_shares (
        custody_id TEXT NOT NULL REFERENCES custody (id),
        custodian_id TEXT NOT NULL REFERENCES custodians (id),
        pin TEXT NOT NULL CHECK (pin IN ('user', 'so')),
        sealed_share BLOB NOT NULL,     -- AES-256-GCM under the custodian's passphrase key
        commitment BLOB NOT NULL,       -- SHA-256 binding the share to its custody, holder and PIN
        PRIMARY KEY (custody_id, custodian_id, pin)
      ) STRICT;
    `);
  },
};
