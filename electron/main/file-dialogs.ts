import { dialog, type BrowserWindow, type OpenDialogOptions } from 'electron';

const moduleOptions: OpenDialogOptions = {
  title: 'Choose the PKCS#11 library',
  buttonLabel: 'Use this library',
  properties: ['openFile', 'dontAddToRecent'],
  filters: [
    { name: 'PKCS#11 library', extensions: ['so', 'dylib', 'dll'] },
    // Versioned Linux libraries (libfoo.so.1) do not match an extension filter.
    { name: 'All files', extensions: ['*'] },
  ],
};

const backupFileOptions: OpenDialogOptions = {
  title: 'Choose the backup file to import',
  buttonLabel: 'Import this file',
  properties: ['openFile', 'dontAddToRecent'],
  filters: [{ name: 'Custos backup file', extensions: ['json'] }],
};

/**
 * The core's "pick a module path": a main-process file dialog over the window, so the path a
 * security officer loads is the one they chose, never a string the renderer sent.
 */
export function moduleDialog(window: () => BrowserWindow | null): () => Promise<string | null> {
  return openFileDialog(window, moduleOptions);
}

/** The core's "pick a backup file to import", for the same reason: the renderer never names the file read. */
export function backupFileDialog(window: () => BrowserWindow | null): () => Promise<string | null> {
  return openFileDialog(window, backupFileOptions);
}

/** One file chosen in a dialog over the window (or alone when it is gone); null when cancelled. */
function openFileDialog(window: () => BrowserWindow | null, options: OpenDialogOptions): () => Promise<string | null> {
  return async () => {
    const parent = window();
    const result =
      parent && !parent.isDestroyed()
        ? await dialog.showOpenDialog(parent, options)
        : await dialog.showOpenDialog(options);
    return result.canceled ? null : (result.filePaths[0] ?? null);
  };
}
