import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Unit tests run against each package's src (no build needed): package names resolve to sources.
// Every workspace package is found here (packages/*, apps/*), so a new package needs no edit.
const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

const workspaceDirectories = ['packages', 'apps'].flatMap((group) =>
  readdirSync(source(`./${group}`))
    .map((name) => `${group}/${name}`)
    .filter((directory) => existsSync(source(`./${directory}/package.json`)))
    .sort(),
);

const packageName = (directory: string): string =>
  (JSON.parse(readFileSync(source(`./${directory}/package.json`), 'utf8')) as { name: string }).name;

// `@diffprune/x/test` before `@diffprune/x`: aliases match by prefix, first match wins.
const alias = Object.fromEntries(
  workspaceDirectories.flatMap((directory) => {
    const name = packageName(directory);
    const entries: [string, string][] = [];
    if (existsSync(source(`./${directory}/src/test/index.ts`))) {
      entries.push([`${name}/test`, source(`./${directory}/src/test/index.ts`)]);
    }
    if (existsSync(source(`./${directory}/src/index.ts`))) {
      entries.push([name, source(`./${directory}/src/index.ts`)]);
    }
    return entries;
  }),
);

const project = (directory: string) => ({
  extends: true as const,
  test: {
    name: packageName(directory),
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
      ...workspaceDirectories.map(project),
      // Repository checks (the README's commands, the layer rule): not a package.
      { extends: true as const, test: { name: 'tools', root: source('./tools'), include: ['**/*.test.ts'] } },
    ],
  },
});
