import * as tf from '@tensorflow/tfjs-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe } from 'vitest';
import {
  type BackendName,
  backendNames,
  type InitBackendOptions,
  initBackend,
  shortMessage,
  tfjsNodeFailure,
} from '../backend.js';

/**
 * Run a test suite on every backend the runtime can choose in this process, so that parity with a
 * fixture is checked on `native`, `wasm` and `cpu` (and `tensorflow` where tfjs-node loads), not only
 * on the one `initBackend()` picked.
 */

/** How optional backends are loaded: the same loaders the process passed to `initBackend`. */
export type TestBackendLoaders = Pick<InitBackendOptions, 'loadTfjsNode' | 'loadNative'>;

let loaders: TestBackendLoaders = {};

/**
 * Sets how `tensorflow` (tfjs-node) and `native` (`@diffprune/native`) are loaded by
 * `availableBackends` and `describeEachBackend`. Call it in the test setup with the loaders given to
 * `initBackend`: core depends on neither package, so without loaders both are reported unavailable.
 */
export function setTestBackendLoaders(options: TestBackendLoaders): void {
  loaders = { ...options };
}

/** The loaders set by `setTestBackendLoaders` (to restore them after changing them). */
export function testBackendLoaders(): TestBackendLoaders {
  return { ...loaders };
}

export interface BackendAvailability {
  backend: BackendName;
  available: boolean;
  /** Why it is unavailable (empty when it is available). */
  reason: string;
}

const probes: Record<BackendName, () => Promise<string | undefined>> = {
  tensorflow: async () => {
    if (!loaders.loadTfjsNode) return 'no tfjs-node loader was set (setTestBackendLoaders)';
    try {
      await loaders.loadTfjsNode();
    } catch (error) {
      return tfjsNodeFailure(error);
    }
    return tf.findBackendFactory('tensorflow') ? undefined : '@tensorflow/tfjs-node registered no backend';
  },
  native: async () => {
    if (!loaders.loadNative) return 'no @diffprune/native loader was set (setTestBackendLoaders)';
    try {
      // Registers the backend (idempotent) without making it active: fails where the addon is not built.
      (await loaders.loadNative()).registerNativeBackend({});
      return undefined;
    } catch (error) {
      return `@diffprune/native did not load (${shortMessage(error)})`;
    }
  },
  wasm: async () => {
    try {
      await import('@tensorflow/tfjs-backend-wasm');
      return undefined;
    } catch (error) {
      return `@tensorflow/tfjs-backend-wasm did not load (${shortMessage(error)})`;
    }
  },
  cpu: async () => undefined,
};

/**
 * Which of `backends` (default: every backend the runtime knows, fastest first) can be started in
 * this process, and why the others cannot. Loading is tried, not starting: a backend that loads but
 * then fails to start is a test failure, not a skip.
 */
export async function availableBackends(
  backends: readonly BackendName[] = backendNames,
): Promise<BackendAvailability[]> {
  const found: BackendAvailability[] = [];
  for (const backend of backends) {
    const reason = await probes[backend]();
    found.push({ backend, available: reason === undefined, reason: reason ?? '' });
  }
  return found;
}

export interface DescribeEachBackendOptions {
  /** The backends to run on (default: all the runtime knows, fastest first). */
  backends?: readonly BackendName[];
}

const assertActive = (backend: BackendName, when: string): void => {
  const active = tf.getBackend();
  if (active !== backend) {
    throw new Error(`describeEachBackend: expected the ${backend} backend ${when}, found ${active}`);
  }
};

/**
 * `describe(title)` with one nested block per backend: `body(backend)` registers the tests, and runs
 * with that backend active — started by `initBackend({ backend })` (the runtime's own path, kernels
 * included) in a `beforeAll` that comes before the body's hooks, and checked before and after every
 * test. Afterwards the previously active backend is restored the same way. Unavailable backends are
 * registered as skipped blocks whose title (and a line on stderr) says why.
 * `describeEachBackend.skipIf(condition)(…)` skips the whole block without loading any backend (for
 * tests whose fixtures are absent; they say why themselves).
 *
 * Load the tensors a test needs in the body's own `beforeAll`, so that they live on the backend under
 * test, and dispose them in its `afterAll`: `tf.memory().numTensors` counts every backend's tensors,
 * so leak checks inside a test stay meaningful.
 */
export function describeEachBackend(
  title: string,
  body: (backend: BackendName) => void,
  options: DescribeEachBackendOptions = {},
): void {
  describe(title, async () => {
    for (const { backend, available, reason } of await availableBackends(options.backends)) {
      if (!available) {
        process.stderr.write(`skipping "${title}" on ${backend}: ${reason}\n`);
        const short = reason.length > 100 ? `${reason.slice(0, 99)}…` : reason;
        describe.skip(`on ${backend} (skipped: ${short})`, () => body(backend));
        continue;
      }
      describe(`on ${backend}`, () => {
        let previous: string | undefined;
        beforeAll(async () => {
          previous = tf.getBackend();
          const info = await initBackend({ ...loaders, backend });
          if (info.backend !== backend) {
            throw new Error(`initBackend({ backend: '${backend}' }) started ${info.backend}`);
          }
          assertActive(backend, 'after initBackend');
        });
        afterAll(async () => {
          if (previous === undefined) return;
          // Through initBackend where it can, so that `activeBackend()` says the same again.
          if ((backendNames as readonly string[]).includes(previous)) {
            await initBackend({ ...loaders, backend: previous as BackendName });
          } else {
            await tf.setBackend(previous);
          }
        });
        beforeEach(() => assertActive(backend, 'before the test'));
        afterEach(() => assertActive(backend, 'after the test'));
        body(backend);
      });
    }
  });
}

/** `describeEachBackend`, skipped as a whole (every backend's tests listed as skipped) when `condition`. */
describeEachBackend.skipIf =
  (condition: boolean) =>
  (title: string, body: (backend: BackendName) => void, options: DescribeEachBackendOptions = {}): void => {
    if (!condition) {
      describeEachBackend(title, body, options);
      return;
    }
    describe.skip(title, () => {
      for (const backend of options.backends ?? backendNames) describe(`on ${backend}`, () => body(backend));
    });
  };
