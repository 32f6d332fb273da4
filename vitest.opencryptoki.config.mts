import { defineConfig } from 'vitest/config';

/**
 * The token suite on opencryptoki's software token. Its store and daemon are machine-wide, so these
 * files run one at a time, each in its own process, each from a freshly reset token
 * (electron/core/testing/opencryptoki-fixture.ts).
 */
export default defineConfig({
  test: {
    include: ['electron/**/*.opencryptoki.test.ts'],
    pool: 'forks',
    fileParallelism: false,
    // Each file starts pkcsslotd on a fresh store; the daemon is stopped when the run ends.
    globalSetup: ['electron/core/testing/opencryptoki-teardown.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
