import type { Migration } from '../migrate';

export const proposals: Migration = {
  version: 5,
  name: 'proposals',
  up(db) {
    db.exec(`
      CREATE TABLE proposals (
        id TEXT PRIMARY KEY NOT NULL,
        custody_id TEXT NOT NULL REFERENCES custody (id),
        body TEXT NOT NULL,               -- RFC 8785 canonical JSON: what approvers approve
        fingerprint TEXT NOT NULL,        -- SHA-256 of body, hex
        requested_by TEXT NOT NULL REFERENCES custodians (id),
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('open', 'executed', 'rejected', 'cancelled', 'expired', 'failed')),
        closed_at TEXT,
        outcome TEXT                      -- JSON result or error code; never a secret
      ) STRICT;
      CREATE INDEX proposals_state ON proposals (state, expires_at);

      -- Who approved. The shares they unsealed are held in main-process memory only.
      CREATE TABLE approvals (
        proposal_id TEXT NOT NULL REFERENCES proposals (id),
        custodian_id TEXT NOT NULL REFERENCES custodians (id),
        approved_at TEXT NOT NULL,
        PRIMARY KEY (proposal_id, custodian_id)
      ) STRICT;
    `);
  },
};
