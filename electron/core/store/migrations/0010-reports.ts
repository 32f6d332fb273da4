import type { Migration } from '../migrate';

export const reports: Migration = {
  version: 10,
  name: 'reports',
  up(db) {
    db.exec(`
      -- Signed reports, kept as signed (they hold no secret) so they can be listed and exported again.
      CREATE TABLE reports (
        id TEXT PRIMARY KEY NOT NULL,
        type TEXT NOT NULL,
        ceremony_id TEXT,                 -- the proposal, for ceremony reports
        created_at TEXT NOT NULL,
        sha256 TEXT NOT NULL,             -- of json
        json TEXT NOT NULL,               -- RFC 8785 canonical JSON, exactly the signed bytes
        signature BLOB NOT NULL           -- Ed25519 by the audit key
      ) STRICT;
      CREATE INDEX reports_ceremony ON reports (ceremony_id);
    `);
  },
};
