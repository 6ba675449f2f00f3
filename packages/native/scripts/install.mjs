// Builds the Node-API addon with node-gyp at install time. The native fast path is optional: where
// the build fails (no C++ toolchain, no Node headers), this prints one line and exits 0, and the
// runtime falls back to another backend. `--strict` (the build:addon script) fails loudly instead.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDirectory = join(dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');

if (process.env.DIFFPRUNE_SKIP_NATIVE_BUILD) {
  console.log(
    '@diffprune/native: build skipped (DIFFPRUNE_SKIP_NATIVE_BUILD); the native fast path is unavailable',
  );
  process.exit(0);
}

// Every `pnpm install` in the workspace runs this script: keep a build that is newer than its
// sources (a rebuild deletes build/ first, under the feet of running processes).
const addon = join(packageDirectory, 'build', 'Release', 'diffprune_native.node');
const sources = [
  'binding.gyp',
  ...readdirSync(join(packageDirectory, 'csrc')).map((name) => join('csrc', name)),
];
const newestSource = Math.max(...sources.map((name) => statSync(join(packageDirectory, name)).mtimeMs));
if (!strict && existsSync(addon) && statSync(addon).mtimeMs > newestSource) process.exit(0);

const args = ['rebuild', '--release'];
// Offline machines: use the headers of the running Node when they are installed beside it
// (Debian's nodejs, official tarballs), instead of letting node-gyp download them.
const prefix = join(dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}

// node-gyp: the one npm or pnpm puts on PATH for lifecycle scripts, else npm's bundled copy.
const candidates = [['node-gyp', args]];
if (process.env.npm_config_node_gyp)
  candidates.push([process.execPath, [process.env.npm_config_node_gyp, ...args]]);
const npmGyp = join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
if (existsSync(npmGyp)) candidates.push([process.execPath, [npmGyp, ...args]]);

let failure = 'node-gyp was not found';
for (const [command, commandArgs] of candidates) {
  const result = spawnSync(command, commandArgs, {
    cwd: packageDirectory,
    stdio: strict ? 'inherit' : ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  if (result.error?.code === 'ENOENT') continue;
  if (result.status === 0) process.exit(0);
  const lines = (result.stderr ?? '').split('\n').filter((line) => /error/i.test(line));
  failure = lines[0]?.trim() || `node-gyp exited with ${result.status ?? result.signal}`;
  break;
}
console.log(
  `@diffprune/native: the native fast path is unavailable (build failed: ${failure.slice(0, 160)})`,
);
process.exit(strict ? 1 : 0);
