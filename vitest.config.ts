import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Unit tests run against each package's src (no build needed): package names resolve to sources.
const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const alias = {
  '@diffprune/core/test': source('./packages/core/src/test/index.ts'),
  '@diffprune/core': source('./packages/core/src/index.ts'),
  '@diffprune/hard-concrete': source('./packages/hard-concrete/src/index.ts'),
  '@diffprune/sparse-diff': source('./packages/sparse-diff/src/index.ts'),
  '@diffprune/bert': source('./packages/bert/src/index.ts'),
  '@diffprune/glue': source('./packages/glue/src/index.ts'),
  '@diffprune/datasets': source('./packages/datasets/src/index.ts'),
  '@diffprune/training': source('./packages/training/src/index.ts'),
  '@diffprune/native': source('./packages/native/src/index.ts'),
  '@diffprune/trainer': source('./apps/trainer/src/index.ts'),
};

const project = (directory: string) => ({
  extends: true as const,
  test: {
    name: `@diffprune/${directory.split('/')[1]}`,
    root: source(`./${directory}`),
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
  },
});

export default defineConfig({
  resolve: { alias },
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // In CI a JSON report is written too, so .ci/run can print the plain 'N passed, N failed' line.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: '.vitest-results.json' },
    setupFiles: [source('./vitest.setup.ts')],
    projects: [
      'packages/core',
      'packages/hard-concrete',
      'packages/sparse-diff',
      'packages/bert',
      'packages/datasets',
      'packages/glue',
      'packages/training',
      'packages/native',
      'apps/trainer',
      'apps/bench',
    ].map(project),
  },
});
