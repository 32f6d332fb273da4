import type { Io } from '../cli-support';
import { runCli } from '../cli';

/** Runs the CLI on a data directory as a person at a terminal would (no standard input), keeping what it printed. */
export async function runCustos(dataDir: string, args: readonly string[], io: Partial<Io> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(
    ['--data-dir', dataDir, ...args],
    { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env: {}, ...io },
    'test',
  );
  return {
    code,
    stdout,
    stderr,
    json: <T = unknown>() => JSON.parse(stdout) as { ok: boolean; value: T; error: { code: string; message: string } },
  };
}
