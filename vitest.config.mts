import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{shared,electron,renderer,eslint-rules,scripts}/**/*.test.{ts,tsx}'],
    // The opencryptoki token suite shares one machine-wide token: vitest.opencryptoki.config.mts runs it serially.
    exclude: ['**/node_modules/**', '**/*.opencryptoki.test.ts'],
    // One process per file: SoftHSM2 reads its configuration once per process and a PKCS#11
    // library may be initialised only once, so test files must not share a process.
    pool: 'forks',
    testTimeout: 30_000,
  },
});
