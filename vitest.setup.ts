import { createRequire } from 'node:module';
import { initBackend } from '@diffprune/core';

// Tests run on the backend a user would get (DIFFPRUNE_BACKEND overrides). tfjs-node is an optional
// dependency of the apps, so it is resolved from there.
const requireFromApp = createRequire(new URL('./apps/trainer/package.json', import.meta.url));
// @diffprune/native resolves to its source through the vitest alias (its addon is in packages/native/build).
await initBackend({
  loadTfjsNode: async () => requireFromApp('@tensorflow/tfjs-node'),
  loadNative: () => import('@diffprune/native'),
});
