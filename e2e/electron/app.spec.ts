import { _electron as electron, expect, test } from '@playwright/test';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { initSoftHsmToken, tempDataDir } from '../../electron/core/testing/softhsm-fixture';
import { electronBinary } from './electron-binary';

const binary = electronBinary();
if (!binary.path) console.log(`[electron] skipped: ${binary.reason}`);

test.describe('Custos in Electron', () => {
  test.skip(binary.path === null, binary.reason);

  test('opens the window and shows the SoftHSM2 token with its serial', async () => {
    const { dataDir, cleanup } = tempDataDir('custos-electron-');
    const token = initSoftHsmToken(dataDir, 'electron-rehearsal');
    const main = join(__dirname, '../../out/main/index.js');
    expect(existsSync(main)).toBe(true);
    const app = await electron.launch({
      executablePath: binary.path!,
      args: [main, '--no-sandbox'],
      env: { ...process.env, CUSTOS_DATA_DIR: dataDir } as Record<string, string>,
    });
    try {
      const window = await app.firstWindow();
      await expect(window.getByRole('row').filter({ hasText: token.serial })).toContainText('electron-rehearsal');
      expect(await window.evaluate(() => typeof (globalThis as { require?: unknown }).require)).toBe('undefined');
    } finally {
      await app.close();
      cleanup();
    }
  });
});
