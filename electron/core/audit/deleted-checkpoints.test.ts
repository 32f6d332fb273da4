import { afterEach, beforeEach, expect, it } from 'vitest';
import { asDatabaseWriter, openAudit } from '../testing/audit-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';

/**
 * Found by review: someone with the database file alone deleted every checkpoint but the first. The token's anchor
 * still matched the entries, so the log opened, and every open then verified every entry since that checkpoint on
 * the main thread (about 13,000 a second: over a minute for a million entries, at each open).
 */
let dataDir: string;
let cleanup: () => void;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => cleanup());
const operator = { type: 'operator', id: 'test' } as const;

it('deleting every checkpoint but the first is refused at the next open (AUDIT_ROLLBACK)', () => {
  const opened = openAudit(dataDir);
  for (let k = 0; k < 3; k++) {
    opened.store.transaction(() => {
      for (let i = 0; i < 200; i++) opened.audit.record({ actor: operator, action: 'token.list' });
    });
    opened.audit.checkpoint('a ceremony ended');
  }
  opened.close();
  let deleted = 0;
  asDatabaseWriter(dataDir, (db) => {
    deleted = db
      .prepare('DELETE FROM audit_checkpoints WHERE id > (SELECT min(id) FROM audit_checkpoints)')
      .run().changes;
  });
  expect(deleted).toBeGreaterThan(0);
  const again = openAudit(dataDir);
  try {
    // Before: it opened ('ready'), the anchor in the token ahead of every checkpoint the database still held.
    expect(again.audit.status()).toMatchObject({ state: 'unavailable', code: 'AUDIT_ROLLBACK' });
  } finally {
    again.close();
  }
});
