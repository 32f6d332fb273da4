import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{shared,electron,renderer,eslint-rules,scripts}/**/*.test.{ts,tsx}'],
    // The opencryptoki token suite shares one machine-wide token: vitest.opencryptoki.config.mts runs it serially.
    exclude: ['**/node_modules/**', '**/*.opencryptoki.test.ts'],
    // One process per file: SoftHSM2 reads its configuration once per process and a PKCS#11
    // library may be initialised only once, so test files must not share a process.
    pool: 'forks',
    // Two at a time, whatever the core count: most files wait on fsync, scrypt's thread pool or child processes, and
    // vitest's default (cores − 1) ran them one by one on a 2-core CI machine.
    maxWorkers: 2,
    testTimeout: 30_000,
    // Hooks make real tokens and custodians (SoftHSM2 init, scrypt per factor): 10 s, vitest's default, came within a
    // second of failing whole files while a 2-core machine ran two files and a build beside them.
    hookTimeout: 60_000,
    // The rehearsal process and the CLI the tests start, bundled once per run (see the file).
    globalSetup: ['electron/core/testing/child-bundles.ts'],
  },
});
