import type { Migration } from '../migrate';

export const witnesses: Migration = {
  version: 11,
  name: 'witnesses',
  up(db) {
    db.exec(`
      -- Witness sign-offs: a person who watched a ceremony says so; carried into its report.
      CREATE TABLE witnesses (
        id INTEGER PRIMARY KEY,
        ceremony_id TEXT NOT NULL,          -- a proposal id, or a custody id
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        signed_at TEXT NOT NULL
      ) STRICT;
      CREATE INDEX witnesses_ceremony ON witnesses (ceremony_id);
    `);
  },
};
