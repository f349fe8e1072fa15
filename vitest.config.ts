import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    // GPU tests and the heavier model tests run one file at a time (Dawn does not like concurrent devices)
    fileParallelism: false,
    pool: 'forks',
  },
});
