/** Main-process diagnostics. Callers pass codes and paths, never PINs, shares or key bytes. */
export interface Log {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const consoleLog: Log = {
  info: (message, fields) => console.info(`[custos] ${message}`, fields ?? ''),
  warn: (message, fields) => console.warn(`[custos] ${message}`, fields ?? ''),
  error: (message, fields) => console.error(`[custos] ${message}`, fields ?? ''),
};

export const silentLog: Log = { info: () => {}, warn: () => {}, error: () => {} };
