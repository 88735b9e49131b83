import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.int.test.ts', 'test/**/*.browser.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        // One engine, one service at a time: a second service would see (and claim) the first one's containers.
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 120_000,
          globalSetup: ['test/support/requireEngine.ts'],
        },
      },
      {
        // Pages opened in Debian's Chromium (scripts/install-deps.sh browser); no engine needed.
        test: {
          name: 'browser',
          include: ['test/**/*.browser.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
