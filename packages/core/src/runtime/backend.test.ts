import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { BackendError, InvalidArgumentError } from '../errors.js';
import type { DiffpruneEvent } from '../events.js';
import { initBackend } from './backend.js';

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
});
