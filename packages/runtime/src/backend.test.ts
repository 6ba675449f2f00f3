import { BackendError, type DiffpruneEvent, InvalidArgumentError } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { backendNames, initBackend, tfjsNodeFailure, tfjsNodeNotInstalled } from './backend.js';

describe('initBackend', () => {
  const saved = process.env.DIFFPRUNE_BACKEND;
  afterEach(() => {
    if (saved === undefined) delete process.env.DIFFPRUNE_BACKEND;
    else process.env.DIFFPRUNE_BACKEND = saved;
  });

  it('falls back past a tfjs-node that does not load, and says why', async () => {
    delete process.env.DIFFPRUNE_BACKEND;
    const events: DiffpruneEvent[] = [];
    const info = await initBackend({
      loadTfjsNode: async () => {
        throw new Error('libtensorflow.so.2: cannot open shared object file');
      },
      onEvent: (e) => events.push(e),
    });
    expect(info.backend).not.toBe('tensorflow');
    expect(info.reason).toContain('libtensorflow.so.2: cannot open shared object file');
    expect(tf.getBackend()).toBe(info.backend);
    expect(events).toEqual([
      { type: 'backend-select', backend: info.backend, reason: info.reason, fast: info.fast },
    ]);
  });

  it('honours DIFFPRUNE_BACKEND and fails loudly when the forced backend is unavailable', async () => {
    process.env.DIFFPRUNE_BACKEND = 'tensorflow';
    await expect(
      initBackend({ loadTfjsNode: async () => Promise.reject(new Error('nope')) }),
    ).rejects.toThrow(BackendError);
    process.env.DIFFPRUNE_BACKEND = 'cpu';
    expect((await initBackend()).backend).toBe('cpu');
    process.env.DIFFPRUNE_BACKEND = 'gpu';
    await expect(initBackend()).rejects.toThrow(InvalidArgumentError);
  });

  it('forces wasm and cpu from a test, by option and by DIFFPRUNE_BACKEND, and computes on them', async () => {
    for (const backend of ['wasm', 'cpu'] as const) {
      for (const force of ['option', 'environment'] as const) {
        await tf.setBackend(backend === 'wasm' ? 'cpu' : 'wasm'); // start from the other one
        delete process.env.DIFFPRUNE_BACKEND;
        if (force === 'environment') process.env.DIFFPRUNE_BACKEND = backend;
        const info = await initBackend(force === 'option' ? { backend } : {});
        expect(info.backend, force).toBe(backend);
        expect(info.reason, force).toContain('requested');
        expect(info.fast, force).toBe(backend === 'wasm');
        expect(tf.getBackend(), force).toBe(backend);
        const storage = tf.findBackend(backend)!;
        const before = storage.numDataIds();
        const product = tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6], [2, 1]));
        expect(storage.numDataIds()).toBeGreaterThan(before); // stored by the forced backend
        expect(Array.from(await product.data())).toEqual([17, 39]);
        product.dispose();
      }
    }
  });

  // Issue #15: every command printed a ~900-character backend line naming tfjs_binding.node.
  it('says in one short line which backend runs, why, and how to get tfjs-node', async () => {
    delete process.env.DIFFPRUNE_BACKEND;
    // What requiring tfjs-node throws where its libtensorflow download failed (measured offline).
    const missingBinding = new Error(
      'The Node.js native addon module (tfjs_binding.node) can not be found at path: /work/node_modules/.pnpm/' +
        '@tensorflow+tfjs-node@4.22.0/node_modules/@tensorflow/tfjs-node/lib/napi-v8/tfjs_binding.node. \n' +
        "Please run command 'npm rebuild @tensorflow/tfjs-node build-addon-from-source' to rebuild the native addon module.",
    );
    const info = await initBackend({ loadTfjsNode: () => Promise.reject(missingBinding) });
    expect(info.backend).not.toBe('tensorflow');
    expect(info.reason.startsWith(tfjsNodeNotInstalled)).toBe(true);
    expect(info.reason).not.toContain('tfjs_binding.node');
    expect(info.reason).not.toContain('\n');
    // The native backend's addon and kernel list (its `detail`) stay out of the status line.
    expect(info.reason.length).toBeLessThan(200);
    expect(`backend: ${info.backend} — ${info.reason}`.length).toBeLessThan(220);
    expect(tfjsNodeFailure(new Error("Cannot find package '@tensorflow/tfjs-node' imported from x"))).toBe(
      tfjsNodeNotInstalled,
    );
    // Any other failure: its first line, shortened.
    const other = tfjsNodeFailure(new Error(`${'x'.repeat(300)}\nsecond line`));
    expect(other.startsWith('tfjs-node did not load (xxx')).toBe(true);
    expect(other.length).toBeLessThan(120);
  });

  // Issue #15: DIFFPRUNE_BACKEND=natve or `--backend natve` ran on cpu (80× slower) and exited 0.
  it('refuses an unknown backend name, by option or environment, listing the valid names', async () => {
    const before = tf.getBackend();
    for (const force of ['option', 'environment'] as const) {
      delete process.env.DIFFPRUNE_BACKEND;
      if (force === 'environment') process.env.DIFFPRUNE_BACKEND = 'natve';
      const error = await initBackend(force === 'option' ? { backend: 'natve' } : {}).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, force).toBeInstanceOf(InvalidArgumentError);
      const fields = error as InvalidArgumentError;
      expect(fields.argument).toBe(force === 'option' ? 'backend' : 'DIFFPRUNE_BACKEND');
      expect(fields.found).toBe('natve');
      for (const name of ['auto', ...backendNames]) expect(fields.expected).toContain(name);
      expect(tf.getBackend(), force).toBe(before); // nothing was started
    }
    // The aliases of tensorflow are still names, and an option wins over the environment.
    process.env.DIFFPRUNE_BACKEND = 'natve';
    expect((await initBackend({ backend: 'cpu' })).backend).toBe('cpu');
  });
});
