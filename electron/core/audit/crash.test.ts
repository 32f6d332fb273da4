import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from '../canonical-json';
import { Settings } from '../settings/settings';
import { openAudit } from '../testing/audit-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { verifyStoredLog } from './verify-store';

let dataDir: string;
let cleanup: () => void;
beforeEach(() => ({ dataDir, cleanup } = tempDataDir()));
afterEach(() => cleanup());

/** Runs the appender in its own process and kills it with SIGKILL once it has written `after` entries. */
function appendThenKill(after: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(__dirname, '../testing/append-until-killed.ts'), dataDir],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let written = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      written = Math.max(written, ...chunk.toString().trim().split('\n').map(Number));
      if (written >= after) child.kill('SIGKILL');
    });
    child.on('exit', (_code, signal) =>
      signal === 'SIGKILL' ? resolve() : reject(new Error(`appender exited without being killed (${signal ?? _code})`)),
    );
  });
}

describe('a crash in the middle of appending', () => {
  it('leaves a log that verifies, with the last state change and its entry together', async () => {
    openAudit(dataDir).close(); // provision the audit token first
    for (const after of [40, 90, 150]) {
      await appendThenKill(after);
      const opened = openAudit(dataDir);
      try {
        const verdict = await verifyStoredLog(opened.store);
        expect(verdict, `after killing at ≥${after}`).toMatchObject({ ok: true });
        const selected = new Settings(opened.store).get('token.selected')!;
        const last = JSON.parse(opened.audit.log().entry(opened.audit.log().size() - 1).entry) as { params: string };
        // The last change that committed is exactly the last entry: never one without the other.
        expect(last.params).toBe(sha256Hex(canonicalJson(selected)));
      } finally {
        opened.close();
      }
    }
  }, 120_000);
});

describe('a crash in the first start, while the audit token is set up', () => {
  it('sets it up again at the next start (before: refused for good, “the database may have been replaced”)', async () => {
    // Killed as the new log timestamps its first entry: the PIN is stored and the token holds the audit key, but
    // nothing is committed. Found by killing `custos status` on an empty data directory at each of its writes.
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(__dirname, '../testing/open-until-killed.ts'), dataDir, '2'],
      { encoding: 'utf8' },
    );
    expect(child.signal).toBe('SIGKILL');
    expect(existsSync(join(dataDir, 'audit-token.pin'))).toBe(true);
    const opened = openAudit(dataDir);
    try {
      expect(opened.audit.status()).toMatchObject({ state: 'ready' });
      expect(await verifyStoredLog(opened.store)).toMatchObject({ ok: true });
    } finally {
      opened.close();
    }
    // And the installation keeps opening as any other: the setup is not begun again.
    const again = openAudit(dataDir);
    try {
      expect(again.audit.status()).toMatchObject({ state: 'ready' });
      expect(JSON.parse(again.audit.log().entry(0).entry)).toMatchObject({ action: 'audit.key.create' });
    } finally {
      again.close();
    }
  }, 60_000);
});
