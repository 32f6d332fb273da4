import Database from 'better-sqlite3';

/**
 * What a writer of the database file can do to an index without touching its table, as with the sqlite3 CLI: build a
 * second index that files the given rows under another value, swap the two indexes' b-trees in the schema (the SQL
 * text stays as Custos made it) and drop the second one. Every index keeps its entry count, so a quick check passes;
 * each lookup through these indexes no longer finds the rows.
 */
export function hideFromIndexes(
  databaseFile: string,
  table: string,
  /** The rows, by their INTEGER PRIMARY KEY column (an index expression may not name rowid). */
  rows: { key: string; values: readonly number[] },
  indexes: readonly { name: string; columns: readonly string[] }[],
): void {
  const where = `${rows.key} IN (${rows.values.map((id) => Math.trunc(id)).join(', ')})`;
  for (const { name, columns } of indexes) {
    const [first, ...rest] = columns;
    let db = new Database(databaseFile);
    db.exec(
      `CREATE INDEX hidden_copy ON ${table} ((CASE WHEN ${where} THEN 'elsewhere' ELSE ${first} END)` +
        `${rest.map((c) => `, ${c}`).join('')})`,
    );
    const root = (index: string) =>
      (db.prepare('SELECT rootpage FROM sqlite_schema WHERE name = ?').get(index) as { rootpage: number }).rootpage;
    const [original, copy] = [root(name), root('hidden_copy')];
    db.unsafeMode(true);
    db.pragma('writable_schema = ON');
    const point = db.prepare('UPDATE sqlite_schema SET rootpage = ? WHERE name = ?');
    point.run(copy, name);
    point.run(original, 'hidden_copy');
    db.pragma('writable_schema = OFF');
    db.close();
    // A new connection reads the swapped schema; dropping the copy frees the original b-tree's pages.
    db = new Database(databaseFile);
    db.exec('DROP INDEX hidden_copy');
    db.close();
  }
}

/** SQLite's own quick check of the file, which counts index entries but does not compare them with the table. */
export function quickCheck(databaseFile: string): string {
  const db = new Database(databaseFile, { readonly: true });
  try {
    return String(db.pragma('quick_check', { simple: true }));
  } finally {
    db.close();
  }
}
