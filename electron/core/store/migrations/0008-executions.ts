import type { Migration } from '../migrate';

export const executions: Migration = {
  version: 8,
  name: 'executions',
  up(db) {
    db.exec(`
      -- The journal of quorum operations: a row is written (with its audit entry) before the token is
      -- touched and finished with the outcome, so a crash in between is found and reconciled at start.
      CREATE TABLE executions (
        proposal_id TEXT PRIMARY KEY NOT NULL REFERENCES proposals (id),
        started_at TEXT NOT NULL,
        finished_at TEXT
      ) STRICT;
      CREATE INDEX executions_unfinished ON executions (proposal_id) WHERE finished_at IS NULL;
    `);
  },
};
