import { createRequire } from 'node:module';
import { initBackend } from '@diffprune/runtime';
import { setTestBackendLoaders } from '@diffprune/runtime/test';

// Tests run on the backend a user would get (DIFFPRUNE_BACKEND overrides). tfjs-node is an optional
// dependency of the apps, so it is resolved from there.
const requireFromApp = createRequire(new URL('./apps/trainer/package.json', import.meta.url));
// The native backend's buffer pool fills recycled arrays with NaN under test, so a kernel that relies
// on zeroed output fails instead of passing by luck (DIFFPRUNE_NATIVE_POOL=on|off overrides).
process.env.DIFFPRUNE_NATIVE_POOL ??= 'poison';
// @diffprune/native resolves to its source through the vitest alias (its addon is in packages/native/build).
const loaders = {
  loadTfjsNode: async () => requireFromApp('@tensorflow/tfjs-node'),
  loadNative: () => import('@diffprune/native'),
};
// The same loaders for describeEachBackend (@diffprune/runtime/test), which runs the fixture parities on
// every backend available in the process.
setTestBackendLoaders(loaders);
await initBackend(loaders);
