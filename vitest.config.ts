import { readFile } from 'node:fs/promises';
import { defineConfig, type Plugin } from 'vitest/config';

// GitHub's workflow parser (test/release/workflow.test.ts) imports its schema
// JSON the way bundlers allow and Node 20 does not, so vite loads it; its
// source maps name files the package does not ship, so they are dropped.
const workflowParser: Plugin = {
  name: 'workflow-parser-without-maps',
  async load(id) {
    if (!/[\\/]@actions[\\/]workflow-parser[\\/].*\.js$/.test(id)) return null;
    const code = await readFile(id, 'utf8');
    return { code: code.replace(/^\/\/# sourceMappingURL=.*$/m, ''), map: null };
  },
};

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [workflowParser],
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.int.test.ts', 'test/**/*.browser.test.ts'],
          testTimeout: 20_000,
          // The resources tests wait on fsyncs, which the integration tests beside them can make slow.
          hookTimeout: 20_000,
          server: { deps: { inline: ['@actions/workflow-parser'] } },
          // The release test starts the service: its root goes with the run, as the integration tests' do.
          globalSetup: ['test/support/tempParent.ts'],
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
          globalSetup: ['test/support/requireEngine.ts', 'test/support/tempParent.ts'],
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
