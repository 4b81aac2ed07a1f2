import { defineConfig } from 'vitest/config';

// The store runs chDB queries on libuv worker threads; test workers (forked from this process)
// inherit a pool large enough that a long query cannot starve the others.
process.env['UV_THREADPOOL_SIZE'] ??= '64';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // The broker and the engine are shared; files run one after another on 2 cores.
          fileParallelism: false,
        },
      },
    ],
  },
});
