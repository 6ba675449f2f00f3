// Where @tensorflow/tfjs-node is installed and whether its binding is built: shared by
// scripts/install-tfjs-node.mjs (the postinstall) and tools/install-tfjs-node.test.ts.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** tfjs-node's package directory as one of the apps resolves it (an optional dependency), else undefined. */
export function tfjsNodeDirectory(root) {
  for (const app of ['apps/trainer', 'apps/bench']) {
    try {
      const require = createRequire(join(root, app, 'package.json'));
      return dirname(require.resolve('@tensorflow/tfjs-node/package.json'));
    } catch {}
  }
  return undefined;
}

/** Whether tfjs-node's install step has built its native binding (lib/<napi-vN>/tfjs_binding.node). */
export function bindingBuilt(directory) {
  const lib = join(directory, 'lib');
  if (!existsSync(lib)) return false;
  return readdirSync(lib).some((entry) => existsSync(join(lib, entry, 'tfjs_binding.node')));
}
