import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createFakeElectron, FakeBrowserWindow } from './testing/fake-electron';

const fake = vi.hoisted(() => ({ current: null as unknown as ReturnType<typeof createFakeElectron> }));
vi.mock('electron', () => ({
  dialog: { showOpenDialog: (...args: unknown[]) => fake.current.module.dialog.showOpenDialog(...args) },
}));

const { backupFileDialog, moduleDialog } = await import('./file-dialogs');

beforeEach(() => {
  fake.current = createFakeElectron();
});

describe('the main-process file dialogs behind the core’s pickers', () => {
  it('asks for a backup file over the window, offering .json files, and answers the chosen path', async () => {
    const window = new FakeBrowserWindow({ webPreferences: {} });
    fake.current.module.dialog.showOpenDialog.mockResolvedValueOnce({
      canceled: false,
      filePaths: ['/media/usb/custos-backup-1.json'],
    });
    expect(await backupFileDialog(() => window as never)()).toBe('/media/usb/custos-backup-1.json');
    expect(fake.current.module.dialog.showOpenDialog).toHaveBeenCalledWith(
      window,
      expect.objectContaining({
        properties: ['openFile', 'dontAddToRecent'],
        filters: [{ name: 'Custos backup file', extensions: ['json'] }],
      }),
    );
  });

  it('answers null when the person cancels, so nothing is read', async () => {
    fake.current.module.dialog.showOpenDialog.mockResolvedValueOnce({ canceled: true, filePaths: ['/ignored.json'] });
    expect(await backupFileDialog(() => null)()).toBeNull();
  });

  it('opens without a parent once the window is gone, and keeps the library filter for the module picker', async () => {
    const window = new FakeBrowserWindow({ webPreferences: {} });
    vi.spyOn(window, 'isDestroyed').mockReturnValue(true);
    fake.current.module.dialog.showOpenDialog.mockResolvedValueOnce({
      canceled: false,
      filePaths: ['/opt/vendor/libvendor-pkcs11.so'],
    });
    expect(await moduleDialog(() => window as never)()).toBe('/opt/vendor/libvendor-pkcs11.so');
    const [only] = fake.current.module.dialog.showOpenDialog.mock.calls.at(-1)!;
    expect(only).toMatchObject({
      filters: expect.arrayContaining([{ name: 'PKCS#11 library', extensions: ['so', 'dylib', 'dll'] }]),
    });
  });
});
