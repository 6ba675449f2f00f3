import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { activeBackend, tfjsNodeNotInstalled } from '../backend.js';
import {
  availableBackends,
  describeEachBackend,
  setTestBackendLoaders,
  testBackendLoaders,
} from './backends.js';

// The process's backend, chosen by vitest.setup before this file was collected.
const initial = tf.getBackend();
const ran: string[] = [];

// The loaders vitest.setup gave (the apps' tfjs-node and @diffprune/native): the runtime depends on
// neither, so they come from the setup, and a second look at tfjs-node goes through its loader (its JS
// may be installed with no libtensorflow binding, as offline).
const setupLoaders = testBackendLoaders();
const tfjsNodeLoads = await (setupLoaders.loadTfjsNode?.().then(
  () => Boolean(tf.findBackendFactory('tensorflow')),
  () => false,
) ?? false);

describe('availableBackends', () => {
  it('always has cpu and wasm (dependencies of the runtime), and tensorflow exactly where tfjs-node loads', async () => {
    const found = await availableBackends();
    expect(found.map((b) => b.backend)).toEqual(['tensorflow', 'native', 'wasm', 'cpu']);
    const byName = Object.fromEntries(found.map((b) => [b.backend, b]));
    expect(byName.cpu).toEqual({ backend: 'cpu', available: true, reason: '' });
    expect(byName.wasm).toEqual({ backend: 'wasm', available: true, reason: '' });
    expect(byName.tensorflow!.available).toBe(tfjsNodeLoads);
    for (const b of found) expect(b.reason === '').toBe(b.available);
  });

  it('says why a backend is unavailable: no loader set, or the loader failed', async () => {
    setTestBackendLoaders({});
    try {
      expect(await availableBackends(['native', 'tensorflow'])).toEqual([
        {
          backend: 'native',
          available: false,
          reason: expect.stringContaining('no @diffprune/native loader'),
        },
        { backend: 'tensorflow', available: false, reason: expect.stringContaining('no tfjs-node loader') },
      ]);
      setTestBackendLoaders({
        loadTfjsNode: () => Promise.reject(new Error("Cannot find module '@tensorflow/tfjs-node'")),
        loadNative: () => Promise.reject(new Error('addon not built\nsecond line')),
      });
      expect(await availableBackends(['tensorflow', 'native'])).toEqual([
        {
          backend: 'tensorflow',
          available: false,
          reason: tfjsNodeNotInstalled,
        },
        { backend: 'native', available: false, reason: '@diffprune/native did not load (addon not built)' },
      ]);
    } finally {
      setTestBackendLoaders(setupLoaders); // back to vitest.setup's loaders
    }
  });
});

describeEachBackend('describeEachBackend', (backend) => {
  it('runs the body with that backend active, its tensors stored by it', async () => {
    expect(tf.getBackend()).toBe(backend);
    expect(activeBackend()?.backend).toBe(backend);
    const storage = tf.findBackend(backend)!;
    const before = storage.numDataIds();
    // A closed form through a kernel every backend implements: [[1,2],[3,4]]·[[5],[6]] = [[17],[39]].
    const product = tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([5, 6], [2, 1]));
    expect(storage.numDataIds()).toBeGreaterThan(before);
    expect(Array.from(await product.data())).toEqual([17, 39]);
    tf.dispose(product);
    ran.push(backend);
  });
});

describeEachBackend.skipIf(true)('skipped as a whole, as where a fixture is absent', (backend) => {
  it('never runs', () => {
    ran.push(`skipped block on ${backend}`); // would break the count below
  });
});

describe('after describeEachBackend', () => {
  afterAll(() => {
    expect(tf.getBackend()).toBe(initial);
  });

  it('ran once per available backend, fastest first, and restored the process backend', async () => {
    const expected = (await availableBackends()).filter((b) => b.available).map((b) => b.backend);
    expect(ran).toEqual(expected);
    expect(ran).toContain('wasm');
    expect(ran).toContain('cpu');
    expect(tf.getBackend()).toBe(initial);
    expect(activeBackend()?.backend).toBe(initial);
  });
});
