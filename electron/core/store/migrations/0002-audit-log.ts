import type { Migration } from '../migrate';

/** Also used by the audit tree's recorded repair, which recreates them after rebuilding. */
export const appendOnly = (table: string) => `
  CREATE TRIGGER ${table}_no_update BEFORE UPDATE ON ${table} BEGIN SELECT RAISE(ABORT, '${table} is append-only'); END;
  CREATE TRIGGER ${table}_no_delete BEFORE DELETE ON ${table} BEGIN SELECT RAISE(ABORT, '${table} is append-only'); END;`;

export const auditLog: Migration = {
  version: 2,
  name: 'audit-log',
  up(db) {
    db.exec(`
      CREATE TABLE audit_keys (
        key_id TEXT PRIMARY KEY NOT NULL,        -- signed-note key ID, hex
        name TEXT NOT NULL,                      -- signed-note key name (the log origin)
        public_key BLOB NOT NULL,                -- raw Ed25519 public key, 32 bytes
        token_serial TEXT NOT NULL,
        token_label TEXT NOT NULL,
        cka_id BLOB NOT NULL,
        created_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE audit_entries (
        seq INTEGER PRIMARY KEY NOT NULL,        -- the Merkle leaf index, from 0
        entry TEXT NOT NULL,                     -- RFC 8785 canonical JSON: the bytes hashed and signed
        signature BLOB NOT NULL,
        key_id TEXT NOT NULL,
        time TEXT GENERATED ALWAYS AS (json_extract(entry, '$.time')) VIRTUAL,
        actor TEXT GENERATED ALWAYS AS (json_extract(entry, '$.actor.id')) VIRTUAL,
        action TEXT GENERATED ALWAYS AS (json_extract(entry, '$.action')) VIRTUAL,
        object TEXT GENERATED ALWAYS AS (json_extract(entry, '$.object.type') || ':' || json_extract(entry, '$.object.id')) VIRTUAL,
        result TEXT GENERATED ALWAYS AS (json_extract(entry, '$.result.status')) VIRTUAL
      ) STRICT;
      CREATE INDEX audit_entries_time ON audit_entries (time);
      CREATE INDEX audit_entries_actor ON audit_entries (actor, seq);
      CREATE INDEX audit_entries_action ON audit_entries (action, seq);
      CREATE INDEX audit_entries_object ON audit_entries (object, seq);
      CREATE INDEX audit_entries_result ON audit_entries (result, seq);

      -- Perfect-subtree hashes of the RFC 6962 tree; level 0 holds the leaf hashes.
      CREATE TABLE audit_tree (
        level INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        hash BLOB NOT NULL,
        PRIMARY KEY (level, idx)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE audit_checkpoints (
        id INTEGER PRIMARY KEY NOT NULL,
        tree_size INTEGER NOT NULL,
        note TEXT NOT NULL,                      -- C2SP checkpoint in a signed note
        reason TEXT NOT NULL,
        created_at TEXT NOT NULL
      ) STRICT;
      ${appendOnly('audit_keys')}
      ${appendOnly('audit_entries')}
      ${appendOnly('audit_tree')}
      ${appendOnly('audit_checkpoints')}
    `);
  },
};
