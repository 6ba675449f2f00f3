/**
 * Every command the root README shows must work as written on a machine with only Node.js and npm:
 * each starts with `npx --yes pnpm@<version>` (or `npx pnpm`, the repository's own pnpm after the
 * install), names a script or subcommand that exists and only flags that subcommand knows; the quick
 * ones are run for real. (Issue: the README said "Node + npm only" and then showed `pnpm …`.)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type ReadmeCommand, readmeCommands, splitPnpmCommand } from './readme-commands.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const rootPackage = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  packageManager: string;
};
const pinned = rootPackage.packageManager.replace(/^pnpm@/, '');
const shared = join(root, '..', 'shared');

/** The CLI entry of the scripts that run an app from source. */
const cliOfScript: Record<string, { entry: string; prefix: string[] }> = {
  diffprune: { entry: 'apps/trainer/src/cli.ts', prefix: [] },
  'diffprune-bench': { entry: 'apps/bench/src/cli.ts', prefix: [] },
  bench: { entry: 'apps/bench/src/cli.ts', prefix: ['run'] },
};

function runCli(entry: string, args: readonly string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(root, entry), ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

const helpCache = new Map<string, string>();
function helpOf(entry: string, subcommand: readonly string[]): string {
  const key = [entry, ...subcommand].join(' ');
  let text = helpCache.get(key);
  if (text === undefined) {
    const result = runCli(entry, [...subcommand, '--help']);
    expect(result.status, `${key} --help: ${result.stderr}`).toBe(0);
    text = result.stdout;
    helpCache.set(key, text);
  }
  return text;
}

const commands = readmeCommands(readme);

describe('readmeCommands (the parser this test relies on)', () => {
  it('joins continuation lines, splits on &&, drops comments and keeps the block it came from', () => {
    const text = [
      'x',
      '```sh',
      'npx pnpm a --b 1 \\',
      '  --c 2   # a comment',
      'npx --yes pnpm@1.2.3 install && npx --yes pnpm@1.2.3 test',
      '```',
      '```ts',
      'npx pnpm not-a-command',
      '```',
    ].join('\n');
    expect(readmeCommands(text).map((c) => c.text)).toEqual([
      'npx pnpm a --b 1 --c 2',
      'npx --yes pnpm@1.2.3 install',
      'npx --yes pnpm@1.2.3 test',
    ]);
  });
  it('splits a pnpm command into pnpm flags, script and arguments', () => {
    expect(splitPnpmCommand('npx --yes pnpm@1.2.3 --silent diffprune-bench step --size tiny')).toEqual({
      pnpm: '1.2.3',
      filter: undefined,
      script: 'diffprune-bench',
      args: ['step', '--size', 'tiny'],
    });
    expect(splitPnpmCommand('npx pnpm --filter web dev')).toMatchObject({ filter: 'web', script: 'dev' });
    expect(splitPnpmCommand('pnpm test')).toBeUndefined();
  });
});

describe('the README’s commands', () => {
  it('shows commands at all', () => {
    expect(commands.length).toBeGreaterThan(10);
  });

  it('marks the test command that .ci/run runs verbatim, first: install, then the tests', () => {
    const marker = readme.indexOf('<!-- .ci/run runs the next block verbatim');
    expect(marker).toBeGreaterThan(0);
    const block = readmeCommands(readme.slice(marker)).filter((c) => c.line === 2 || c.line === 3);
    expect(block.map((c) => splitPnpmCommand(c.text)?.script)).toEqual(['install', 'test']);
    expect(readFileSync(join(root, '.ci', 'run'), 'utf8')).toContain(
      '.ci\\/run runs the next block verbatim',
    );
  });

  it.each(commands.map((c) => [c.text, c] as const))('%s runs with Node.js and npm only', (_, command) => {
    const parts = splitPnpmCommand(command.text);
    expect(parts, 'start with `npx --yes pnpm@<version>` or `npx pnpm`').toBeDefined();
    if (!parts) return;
    if (parts.pnpm !== undefined) expect(parts.pnpm).toBe(pinned);
    if (parts.filter !== undefined) {
      checkFilteredScript(parts.filter, parts.script);
      return;
    }
    if (['install', 'i'].includes(parts.script)) return;
    expect(Object.keys(rootPackage.scripts), `a root script named ${parts.script}`).toContain(parts.script);
    const cli = cliOfScript[parts.script];
    if (cli) checkCliFlags(cli, parts.args, command);
  });
});

function checkFilteredScript(filter: string, script: string): void {
  // pnpm --filter takes a package name or a directory's name.
  const manifests = ['apps', 'packages'].flatMap((group) =>
    readdirSync(join(root, group))
      .map((name) => join(root, group, name, 'package.json'))
      .filter((path) => existsSync(path))
      .map((path) => ({ directory: basename(dirname(path)), ...readJson(path) })),
  );
  const manifest = manifests.find((m) => m.name === filter || m.directory === filter);
  expect(manifest, `a workspace package named ${filter}`).toBeDefined();
  expect(Object.keys(manifest?.scripts ?? {}), `a script ${script} in ${filter}`).toContain(script);
}

function readJson(path: string): { name?: string; scripts?: Record<string, string> } {
  return JSON.parse(readFileSync(path, 'utf8'));
}

function checkCliFlags(
  cli: { entry: string; prefix: string[] },
  args: readonly string[],
  command: ReadmeCommand,
): void {
  const words = [...cli.prefix];
  for (const arg of args) {
    if (arg.startsWith('-')) break;
    words.push(arg);
  }
  // Positional arguments (paths) follow the subcommand words; --help shows which words are commands.
  let subcommand = words;
  while (subcommand.length > 0 && runCli(cli.entry, [...subcommand, '--help']).status !== 0) {
    subcommand = subcommand.slice(0, -1);
  }
  const help = helpOf(cli.entry, subcommand);
  for (const flag of args.filter((arg) => arg.startsWith('--'))) {
    const name = flag.split('=')[0] as string;
    expect(help, `${command.text}: ${subcommand.join(' ')} knows ${name}`).toContain(name);
  }
}

describe.skipIf(!existsSync(join(shared, 'data', 'glue')))('the quick README commands, run', () => {
  it('diffprune data lists the GLUE data the README points at', () => {
    const data = commands.find((c) => / diffprune data /.test(`${c.text} `));
    expect(data).toBeDefined();
    const parts = splitPnpmCommand(data?.text ?? '');
    const result = runCli('apps/trainer/src/cli.ts', parts?.args ?? []);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/SST-2\s+train\s+67349/);
  });
});
