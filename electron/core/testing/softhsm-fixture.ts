import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareEmbeddedSoftHsm } from '../hsm/softhsm';

/** A fresh data directory per test; removed by the returned cleanup. */
export function tempDataDir(prefix = 'custos-test-'): { dataDir: string; cleanup: () => void } {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  return { dataDir, cleanup: () => rmSync(dataDir, { recursive: true, force: true }) };
}

/** Several installations in one test file: each call a new data directory, all removed by `cleanupAll`. */
export function tempDataDirs(): { newDir: () => string; cleanupAll: () => void } {
  const made: (() => void)[] = [];
  return {
    newDir: () => {
      const { dataDir, cleanup } = tempDataDir();
      made.push(cleanup);
      return dataDir;
    },
    cleanupAll: () => made.splice(0).forEach((cleanup) => cleanup()),
  };
}

/**
 * Initialises a real SoftHSM2 token in the data directory's embedded store, the way a custodian
 * would with the vendor tool, and returns its serial as the token reports it.
 */
export function initSoftHsmToken(
  dataDir: string,
  label: string,
  pins = { so: '87654321', user: '1234' },
): { serial: string; label: string } {
  const { configPath } = prepareEmbeddedSoftHsm(dataDir);
  const env = { ...process.env, SOFTHSM2_CONF: configPath };
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', pins.so, '--pin', pins.user], {
    env,
    stdio: 'pipe',
  });
  const slots = execFileSync('softhsm2-util', ['--show-slots'], { env, encoding: 'utf8' });
  const blocks = slots.split(/\nSlot /);
  const block = blocks.find((b) => new RegExp(`Label:\\s+${label}\\s*$`, 'm').test(b));
  const serial = block?.match(/Serial number:\s+(\S+)/)?.[1];
  if (!serial) throw new Error(`softhsm2-util did not report the serial of ${label}`);
  return { serial, label };
}
