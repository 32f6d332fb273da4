import { afterEach, beforeEach, expect, it } from 'vitest';
import { asDatabaseWriter, openAudit } from '../testing/audit-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';

/**
 * Review: someone with the database file alone deletes every checkpoint but the first. The token's anchor still
 * matches the entries, so the log opens, and the open check now verifies every entry's signature, on the main thread,
 * at every open (about 13,000 a second): a million-entry log takes over a minute to open, each time.
 */
let dataDir: string;
let cleanup: () => void;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => cleanup());
const operator = { type: 'operator', id: 'test' } as const;

it('deleting all checkpoints but the first is refused (AUDIT_ROLLBACK), not an open that verifies the whole log', { timeout: 300_000 }, () => {
  const N = 20_000;
  let opened = openAudit(dataDir);
  for (let k = 0; k < 4; k++) {
    opened.store.transaction(() => {
      for (let i = 0; i < N / 4; i++) opened.audit.record({ actor: operator, action: 'token.list' });
    });
    opened.audit.checkpoint('review');
  }
  opened.close();
  let t = performance.now();
  opened = openAudit(dataDir);
  const clean = performance.now() - t;
  expect(opened.audit.status().state).not.toBe('unavailable');
  opened.close();
  let deleted = 0;
  asDatabaseWriter(dataDir, (db) => {
    deleted = db.prepare('DELETE FROM audit_checkpoints WHERE id > (SELECT min(id) FROM audit_checkpoints)').run().changes;
  });
  expect(deleted).toBeGreaterThan(0);
  t = performance.now();
  opened = openAudit(dataDir);
  const after = performance.now() - t;
  const status = opened.audit.status();
  opened.close();
  console.log(`open of ${N} entries: clean ${clean.toFixed(0)} ms; checkpoints deleted ${after.toFixed(0)} ms; state ${JSON.stringify(status).slice(0, 200)}`);
  // BREAK if the log opened (state not unavailable) and `after` is far above `clean`.
  expect(status).toMatchObject({ state: 'unavailable', code: 'AUDIT_ROLLBACK' });
});
