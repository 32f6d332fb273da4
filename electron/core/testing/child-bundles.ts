import { buildSync } from 'esbuild';
import { join } from 'node:path';

/**
 * The processes the tests start (the rehearsal process, the CLI at a terminal), bundled once per vitest run into
 * out/test/ with the same esbuild that tsx uses. A child started through tsx compiles its imports at every start
 * (about 1.7 s here); the bundle starts in about 0.3 s. Built from the source at the start of every run (and again at
 * every rerun in watch mode), so a child never runs older code than the test beside it.
 */
const ROOT = join(__dirname, '../../..');
const OUT = join(ROOT, 'out/test');

/** The bundled entries, by what they are: the paths the tests fork. */
export const CHILD = {
  // Named as in out/main: the bundled CLI forks the rehearsal process beside it, as the built CLI does.
  rehearsal: join(OUT, 'rehearsal.js'),
  cli: join(OUT, 'cli.js'),
} as const;

const SOURCE: Record<keyof typeof CHILD, string> = {
  rehearsal: 'electron/rehearsal/entry.ts',
  cli: 'electron/cli/main.ts',
};

function bundle(): void {
  for (const [name, outfile] of Object.entries(CHILD)) {
    buildSync({
      absWorkingDir: ROOT,
      entryPoints: [SOURCE[name as keyof typeof CHILD]],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      // Native modules and every other package load from node_modules, as in the built app.
      packages: 'external',
      sourcemap: 'inline',
      logLevel: 'error',
    });
  }
}

/** vitest globalSetup: bundle now, and again before a rerun in watch mode. */
export default function setup(project: { onTestsRerun?: (callback: () => void) => void }): void {
  bundle();
  project.onTestsRerun?.(bundle);
}
