import type { Migration } from '../migrate';

/**
 * Key transport (issue #14 §2). Recipient public keys a security officer recorded as trusted, each
 * row signed by the audit key with the seq of the entry that recorded it (a row a database writer
 * adds or changes is not believed). Packages made or received: the package file's exact bytes and,
 * for packages Custos made, the audit key's detached signature over them; they hold keys only
 * wrapped for a recipient. An imported key's origin is signed beside it.
 */
export const keyTransport: Migration = {
  version: 21,
  name: 'key-transport',
  up(db) {
    db.exec(`
      CREATE TABLE transport_recipients (
        fingerprint TEXT PRIMARY KEY NOT NULL,   -- SHA-256 of the SubjectPublicKeyInfo DER
        label TEXT NOT NULL,
        algorithm TEXT NOT NULL,
        public_key BLOB NOT NULL,                -- SubjectPublicKeyInfo DER
        recorded_by TEXT NOT NULL REFERENCES custodians (id),
        recorded_at TEXT NOT NULL,
        state_seq INTEGER,
        state_sig BLOB
      ) STRICT;
      CREATE TABLE transport_packages (
        sha256 TEXT PRIMARY KEY NOT NULL,        -- of the package file's exact bytes
        id TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('out', 'in')),
        body TEXT NOT NULL,
        signature BLOB,
        recorded_at TEXT NOT NULL,
        proposal_id TEXT REFERENCES proposals (id)
      ) STRICT;
      CREATE TABLE key_origins (
        key_id TEXT PRIMARY KEY NOT NULL REFERENCES keys (id),
        package_sha256 TEXT NOT NULL REFERENCES transport_packages (sha256),
        sender TEXT NOT NULL,
        sender_key_id TEXT NOT NULL,
        unwrapped_with TEXT NOT NULL REFERENCES keys (id),
        proposal_id TEXT NOT NULL REFERENCES proposals (id),
        state_seq INTEGER,
        state_sig BLOB
      ) STRICT;
    `);
  },
};
