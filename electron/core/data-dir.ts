import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const APP_NAME = 'Custos';

/** The database's file name inside a data directory. */
export const DATABASE_FILE = 'custos.db';

/**
 * Where the CLI keeps its state when neither `--data-dir` nor CUSTOS_DATA_DIR is given.
 * It matches Electron's `app.getPath('userData')` for this app name, so the CLI and the
 * desktop app find the same database by default.
 */
export function defaultDataDir(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), APP_NAME);
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', APP_NAME);
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), APP_NAME);
}

export function resolveDataDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env.CUSTOS_DATA_DIR ?? defaultDataDir(env));
}
