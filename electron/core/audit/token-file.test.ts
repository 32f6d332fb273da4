import { readdirSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { softHsmPaths } from '../hsm/softhsm';
import { openAudit } from '../testing/audit-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { verifyStoredLog } from './verify-store';

let dataDir: string;
let cleanup: () => void;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => cleanup());

/** The audit token's token.object: the only token in a fresh installation's own SoftHSM2 store. */
function auditTokenFile(): string {
  const { tokenDir } = softHsmPaths(dataDir);
  const folders = readdirSync(tokenDir);
  expect(folders).toHaveLength(1);
  return join(tokenDir, folders[0]!, 'token.object');
}

describe('the audit token’s file, cut off while SoftHSM2 rewrote it', () => {
  it('is brought back from the copy taken at the last start, and that is recorded (before: the log was lost)', async () => {
    openAudit(dataDir).close();
    const file = auditTokenFile();
    const whole = readFileSync(file);
    // SoftHSM2 truncates the file, then writes it, at every login: a process killed between the two leaves this.
    for (const cut of [0, Math.floor(whole.length / 2)]) {
      truncateSync(file, cut);
      const opened = openAudit(dataDir);
      try {
        expect(opened.audit.status()).toMatchObject({ state: 'ready' });
        expect(await verifyStoredLog(opened.store)).toMatchObject({ ok: true });
        const last = opened.store
          .all<{ action: string }>({ text: 'SELECT action FROM audit_entries ORDER BY seq', params: [] } as never)
          .map((r) => r.action);
        expect(last).toContain('audit.token.file-restored');
      } finally {
        opened.close();
      }
      expect(statSync(file).size).toBeGreaterThanOrEqual(whole.length);
    }
  });
});
