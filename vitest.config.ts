import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Dawn and the software GL driver are not safe to load twice in one process from parallel workers.
    pool: 'forks',
  },
});
