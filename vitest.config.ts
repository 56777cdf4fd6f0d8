import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Whole-process tests spawn servers; two cores do not take more at once.
    maxWorkers: 2,
    globalSetup: ['test/globalSetup.ts'],
    // Every file's collected outputs are scanned for planted secrets when it ends.
    setupFiles: ['test/setup/canaries.ts'],
  },
});
