import type { Migration } from '../migrate';

export const keys: Migration = {
  version: 6,
  name: 'keys',
  up(db) {
    db.exec(`
      CREATE TABLE keys (
        id TEXT PRIMARY KEY NOT NULL,          -- hex of CKA_ID, which links the key's objects in the token
        custody_id TEXT NOT NULL REFERENCES custody (id),
        token_serial TEXT NOT NULL,
        token_label TEXT NOT NULL,
        label TEXT NOT NULL,
        algorithm TEXT NOT NULL,
        usage TEXT NOT NULL,
        backupable INTEGER NOT NULL CHECK (backupable IN (0, 1)),
        state TEXT NOT NULL CHECK (state IN ('pre-activation', 'active', 'suspended', 'deactivated', 'compromised', 'destroyed')),
        created_at TEXT NOT NULL,
        cryptoperiod_days INTEGER NOT NULL,
        expires_at TEXT NOT NULL,
        public_key BLOB,                       -- SubjectPublicKeyInfo DER, for key pairs
        kcv TEXT,                              -- key check value, for AES keys that may encrypt
        fingerprint TEXT NOT NULL,             -- SHA-256 of the SPKI, or of the KCV
        proposal_id TEXT NOT NULL REFERENCES proposals (id)
      ) STRICT;
    `);
  },
};
