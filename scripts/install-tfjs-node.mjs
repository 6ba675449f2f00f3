#!/usr/bin/env node
// Runs @tensorflow/tfjs-node's own install step (it downloads libtensorflow) and reports the outcome
// in one line. pnpm does not run that step itself (`ignoredBuiltDependencies`): on a machine without
// access to the download it printed a raw ENOTFOUND stack and "Failed" in the middle of every
// install. Where the download works, tfjs-node is built here and `initBackend()` prefers it; where it
// fails, the apps use the `native` backend and this script says so.
//
//   node scripts/install-tfjs-node.mjs          what `pnpm install` runs (postinstall)
//   DIFFPRUNE_SKIP_TFJS_NODE=1                  skip the attempt
//   DIFFPRUNE_TFJS_NODE_TIMEOUT=600             seconds the download may take (default 600)
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bindingBuilt, tfjsNodeDirectory } from './tfjs-node-location.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (text) => console.log(`diffprune: ${text}`);

/** The one useful line of a failed install's output: its error code or last error line. */
function reasonOf(output) {
  const code = /\bcode: '([A-Z_]+)'/.exec(output)?.[1];
  if (code) return `the libtensorflow download failed (${code})`;
  const error = output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /error/i.test(line))
    .at(-1);
  return error ? `its install step failed: ${error.slice(0, 160)}` : 'its install step failed';
}

async function main() {
  if (process.env.DIFFPRUNE_SKIP_TFJS_NODE === '1') return;
  const directory = tfjsNodeDirectory(root);
  if (directory === undefined || bindingBuilt(directory)) return;
  const timeoutSeconds = Number(process.env.DIFFPRUNE_TFJS_NODE_TIMEOUT ?? 600);
  const child = spawn(process.execPath, ['scripts/install.js'], { cwd: directory, stdio: 'pipe' });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutSeconds * 1000);
  const exitCode = await new Promise((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  if (exitCode === 0 && bindingBuilt(directory)) {
    say('@tensorflow/tfjs-node is built: the apps use the tensorflow backend.');
    return;
  }
  const reason = exitCode === null ? `the download took over ${timeoutSeconds} s` : reasonOf(output);
  say(
    `@tensorflow/tfjs-node is not available: ${reason}. The apps use the native backend instead ` +
      '(or wasm/cpu). To retry where the download works: node scripts/install-tfjs-node.mjs',
  );
}

// An install never fails because of this optional step.
main().catch((error) => say(`skipped the tfjs-node install step (${error?.message ?? error})`));
