import type { Migration } from '../migrate';
import { appendOnly } from './0002-audit-log';

/**
 * The stored Merkle tree, re-keyed by the append that completes each node (audit/stored-tree.ts):
 * an append now writes at most one row, at the end of one table, instead of a leaf and its parents
 * at the ends of every level. Leaf hashes are no longer stored; they are hashed from the entries.
 * Nodes above the leaves are copied as they were, faults included, so `audit verify` still names
 * a node someone changed; a row whose nodes are not all there is left out (missing, as before).
 */
export const auditTreeByAppend: Migration = {
  version: 15,
  name: 'audit-tree-by-append',
  up(db) {
    db.exec(`
      CREATE TABLE audit_tree_by_append (
        seq INTEGER PRIMARY KEY NOT NULL,        -- the append (leaf index) that completed these nodes
        hashes BLOB NOT NULL                     -- their hashes, level 1 upwards, 32 bytes each
      ) STRICT;
      INSERT INTO audit_tree_by_append (seq, hashes)
        SELECT ((idx + 1) << level) - 1 AS seq, unhex(group_concat(hex(hash), '' ORDER BY level))
        FROM audit_tree WHERE level > 0
        GROUP BY seq
        -- Levels 1..n all present, and n is the number of nodes this seq completes (its trailing one bits).
        HAVING min(level) = 1 AND max(level) = count(*)
          AND (seq + 1) % (1 << count(*)) = 0 AND (seq + 1) % (1 << (count(*) + 1)) <> 0
        ORDER BY seq;
      DROP TABLE audit_tree;
      ALTER TABLE audit_tree_by_append RENAME TO audit_tree;
      ${appendOnly('audit_tree')}
    `);
  },
};
