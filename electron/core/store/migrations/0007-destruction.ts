import type { Migration } from '../migrate';

export const destruction: Migration = {
  version: 7,
  name: 'destruction',
  up(db) {
    db.exec(`
      CREATE TABLE destruction_schedules (
        id INTEGER PRIMARY KEY,
        key_id TEXT NOT NULL REFERENCES keys (id),
        proposal_id TEXT NOT NULL REFERENCES proposals (id),
        scheduled_at TEXT NOT NULL,
        not_before TEXT NOT NULL,            -- the end of the waiting period
        state TEXT NOT NULL CHECK (state IN ('waiting', 'cancelled', 'destroyed')),
        closed_at TEXT,
        closed_by_proposal TEXT REFERENCES proposals (id),
        proof TEXT                           -- JSON: objects destroyed and the search that found none left
      ) STRICT;
      CREATE UNIQUE INDEX destruction_one_waiting ON destruction_schedules (key_id) WHERE state = 'waiting';
    `);
  },
};
