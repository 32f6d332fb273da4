import type { Migration } from '../migrate';

/**
 * Ceremony scripts and their runs (issue #16). A script's exact text, by its SHA-256. A run is the
 * ordered list of its events, each the canonical parameters of one signed audit entry (at the same
 * seq, object `ceremony-run:<id>`): the run's state is read from these and checked against the
 * entries, so a database writer who adds, edits or deletes an event is noticed. Append-only.
 */
export const ceremonyRuns: Migration = {
  version: 22,
  name: 'ceremony-runs',
  up(db) {
    db.exec(`
      CREATE TABLE ceremony_scripts (
        sha256 TEXT PRIMARY KEY NOT NULL,
        text TEXT NOT NULL
      ) STRICT;
      CREATE TABLE ceremony_events (
        seq INTEGER PRIMARY KEY NOT NULL,       -- the seq of the audit entry that recorded it
        run_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL                      -- canonical JSON; its SHA-256 is the entry's params
      ) STRICT;
      CREATE INDEX ceremony_events_run ON ceremony_events (run_id, seq);
      CREATE TRIGGER ceremony_events_no_update BEFORE UPDATE ON ceremony_events
        BEGIN SELECT RAISE(ABORT, 'ceremony_events is append-only'); END;
      CREATE TRIGGER ceremony_events_no_delete BEFORE DELETE ON ceremony_events
        BEGIN SELECT RAISE(ABORT, 'ceremony_events is append-only'); END;
      CREATE TRIGGER ceremony_scripts_no_update BEFORE UPDATE ON ceremony_scripts
        BEGIN SELECT RAISE(ABORT, 'ceremony_scripts is append-only'); END;
    `);
  },
};
