/**
 * Issue #15: where tfjs-node's install step cannot download libtensorflow, `pnpm install` printed a
 * raw ENOTFOUND stack and "Failed" in the middle of the install. scripts/install-tfjs-node.mjs (the
 * root's postinstall) runs that step itself and reports it in one line, and never fails the install.
 * This runs the real script where the download cannot work (no route to its host); where the host
 * resolves, the script would download and build tfjs-node, so the test skips and says why.
 */
import { spawnSync } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bindingBuilt, tfjsNodeDirectory } from '../scripts/tfjs-node-location.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const downloadHost = 'storage.googleapis.com';

const directory = tfjsNodeDirectory(root);
const hostResolves = await lookup(downloadHost).then(
  () => true,
  () => false,
);
const skipReason =
  directory === undefined
    ? '@tensorflow/tfjs-node is not installed (an optional dependency)'
    : bindingBuilt(directory)
      ? 'tfjs-node is built here: the script has nothing to report'
      : hostResolves
        ? `${downloadHost} resolves: the script would download libtensorflow (this test checks the offline report)`
        : undefined;

describe('scripts/install-tfjs-node.mjs where the libtensorflow download fails (issue #15)', () => {
  it.skipIf(skipReason !== undefined)(
    `says so in one line, no stack, and the install goes on${skipReason ? ` — skipped: ${skipReason}` : ''}`,
    () => {
      const result = spawnSync(process.execPath, ['scripts/install-tfjs-node.mjs'], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, DIFFPRUNE_SKIP_TFJS_NODE: '', DIFFPRUNE_TFJS_NODE_TIMEOUT: '120' },
        timeout: 150_000,
      });
      expect(result.status).toBe(0);
      const lines = `${result.stdout}${result.stderr}`.split('\n').filter((line) => line.trim() !== '');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^diffprune: @tensorflow\/tfjs-node is not available: the libtensorflow download failed \([A-Z_]+\)\. The apps use the native backend instead/,
      );
      expect(lines[0]).toContain('node scripts/install-tfjs-node.mjs');
      expect(lines[0]).not.toMatch(/\n\s+at |Failed/);
    },
    160_000,
  );
});
