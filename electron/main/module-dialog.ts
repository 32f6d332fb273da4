import { dialog, type BrowserWindow, type OpenDialogOptions } from 'electron';

const options: OpenDialogOptions = {
  title: 'Choose the PKCS#11 library',
  buttonLabel: 'Use this library',
  properties: ['openFile', 'dontAddToRecent'],
  filters: [
    { name: 'PKCS#11 library', extensions: ['so', 'dylib', 'dll'] },
    // Versioned Linux libraries (libfoo.so.1) do not match an extension filter.
    { name: 'All files', extensions: ['*'] },
  ],
};

/**
 * The core's "pick a module path": a main-process file dialog over the window, so the path a
 * security officer loads is the one they chose, never a string the renderer sent.
 */
export function moduleDialog(window: () => BrowserWindow | null): () => Promise<string | null> {
  return async () => {
    const parent = window();
    const result = parent && !parent.isDestroyed() ? await dialog.showOpenDialog(parent, options) : await dialog.showOpenDialog(options);
    return result.canceled ? null : (result.filePaths[0] ?? null);
  };
}
