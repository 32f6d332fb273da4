import { execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openAudit } from '../testing/audit-fixture';
import { tempDataDir } from '../testing/softhsm-fixture';
import { verifyStoredLog } from './verify-store';

// A real full disk: a small tmpfs mounted for the test. Mounting needs root (CI runs as root) allowed to mount (not so
// in an unprivileged container); elsewhere it is skipped.
const root = process.getuid?.() === 0 && canMount();

function canMount(): boolean {
  const probe = mkdtempSync(join(tmpdir(), 'custos-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe]);
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}
let mountPoint: string;
let dataDir: string;
beforeEach(() => {
  if (!root) return;
  mountPoint = mkdtempSync(join(tmpdir(), 'custos-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mountPoint]);
  dataDir = join(mountPoint, 'data');
});
afterEach(() => {
  if (!root) return;
  execFileSync('umount', [mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

/** Writes a file beside the data directory until the disk refuses more. */
function fillDisk(): string {
  const filler = join(mountPoint, 'filler');
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  return filler;
}

describe.skipIf(!root)('a full disk under the data directory', () => {
  it('keeps the log closed saying the disk is full (before: “could not be opened”), and opens once there is room', async () => {
    openAudit(dataDir).close();
    const placeBefore = readFileSync(join(dataDir, 'installation.json'), 'utf8');
    const filler = fillDisk();

    const full = openAudit(dataDir);
    try {
      expect(full.audit.status()).toMatchObject({
        state: 'unavailable',
        code: 'STORE_DISK_FULL',
        message: expect.stringMatching(/The disk holding .*installation\.json is full; nothing was written\./),
        remedy: ['Free space, then run the command again.'],
      });
    } finally {
      full.close();
    }
    // Nothing half-done: the record of where the installation lives is as it was, and no temporary file is left.
    expect(readFileSync(join(dataDir, 'installation.json'), 'utf8')).toBe(placeBefore);
    expect(readdirSync(dataDir).filter((name) => name.endsWith('.tmp'))).toEqual([]);

    rmSync(filler);
    expect(existsSync(filler)).toBe(false);
    const again = openAudit(dataDir);
    try {
      expect(again.audit.status()).toMatchObject({ state: 'ready' });
      expect(await verifyStoredLog(again.store)).toMatchObject({ ok: true });
    } finally {
      again.close();
    }
  });

  it('refuses a checkpoint copy on a full medium, records the refusal and keeps no copy (before: “kept there”)', () => {
    mkdirSync(join(mountPoint, 'media'));
    const copy = join(mountPoint, 'media', 'checkpoint.txt');
    const dir = tempDataDir();
    try {
      openAudit(dir.dataDir).close();
      fillDisk();
      const opened = openAudit(dir.dataDir);
      try {
        const size = opened.audit.log().size();
        expect(() => opened.audit.setAnchorCopy(copy, { type: 'operator', id: 'test' })).toThrow(
          expect.objectContaining({ code: 'STORE_DISK_FULL', message: expect.stringContaining('checkpoint.txt') }),
        );
        expect(existsSync(copy)).toBe(false);
        expect(opened.audit.anchorCopy()).toBeNull();
        expect(opened.audit.log().size()).toBe(size + 1);
        expect(JSON.parse(opened.audit.log().entry(size).entry)).toMatchObject({
          action: 'audit.anchor.copy',
          result: { status: 'refused', code: 'STORE_DISK_FULL' },
        });
      } finally {
        opened.close();
      }
    } finally {
      dir.cleanup();
    }
  });
});
