import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { adamStep, clipByGlobalNorm, createAdamState, disposeAdamState, linearDecay } from './optimizer.js';

describe('adamStep', () => {
  it('matches a scalar re-derivation of Adam over several steps, without leaking', () => {
    const params = { p: tf.tensor1d([1, -2, 0.5]) };
    const state = createAdamState(params);
    const gradients = [
      [0.1, -0.3, 2],
      [0.2, 0.1, -1],
      [-0.5, 0.4, 0.3],
    ];
    const reference = [1, -2, 0.5];
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    const before = tf.memory().numTensors;
    gradients.forEach((g, t) => {
      const grads = { p: tf.tensor1d(g) };
      adamStep(params, grads, state, 0.01, { betas: [0.9, 0.999], epsilon: 1e-8 });
      tf.dispose(grads.p);
      for (let i = 0; i < 3; i++) {
        m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
        v[i] = 0.999 * v[i]! + 0.001 * g[i]! ** 2;
        const mHat = m[i]! / (1 - 0.9 ** (t + 1));
        const vHat = v[i]! / (1 - 0.999 ** (t + 1));
        reference[i] = reference[i]! - (0.01 * mHat) / (Math.sqrt(vHat) + 1e-8);
      }
    });
    expect(tf.memory().numTensors).toBe(before);
    const found = params.p.dataSync();
    for (let i = 0; i < 3; i++) expect(found[i]).toBeCloseTo(reference[i]!, 6);
    disposeAdamState(state);
    params.p.dispose();
  });
});

describe('clipByGlobalNorm', () => {
  it('scales to the max norm only when above it', () => {
    const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor1d([4]) };
    expect(clipByGlobalNorm(grads, 1)).toBeCloseTo(5, 6);
    expect(Array.from(grads.a.dataSync())[0]).toBeCloseTo(3 / (5 + 1e-6), 6);
    expect(Array.from(grads.b.dataSync())[0]).toBeCloseTo(4 / (5 + 1e-6), 6);
    const small = { a: tf.tensor1d([0.3, 0.4]) };
    clipByGlobalNorm(small, 1);
    expect(Array.from(small.a.dataSync())).toEqual([Math.fround(0.3), Math.fround(0.4)]);
    tf.dispose([grads.a, grads.b, small.a]);
  });

  it('decays linearly to zero', () => {
    expect(linearDecay(1, 0, 10)).toBe(1);
    expect(linearDecay(1, 5, 10)).toBe(0.5);
    expect(linearDecay(1, 10, 10)).toBe(0);
  });
});

describe('adamStep with a fused kernel', () => {
  it('gives the same update through the backend kernel as through tfjs ops, where the backend has one', () => {
    const fused = tf.getKernel('DiffpruneAdam', tf.getBackend()) !== undefined;
    if (!fused) {
      console.warn(`skipping: backend ${tf.getBackend()} has no DiffpruneAdam kernel`);
      return;
    }
    const run = (unregister: boolean) => {
      const saved = tf.getKernel('DiffpruneAdam', tf.getBackend())!;
      if (unregister) tf.unregisterKernel('DiffpruneAdam', tf.getBackend());
      const params = { p: tf.tensor1d([1, -2, 0.5, 3]) };
      const state = createAdamState(params);
      for (const g of [
        [0.1, -0.3, 2, 0],
        [0.2, 0.1, -1, 5],
      ]) {
        const grads = { p: tf.tensor1d(g) };
        adamStep(params, grads, state, 0.01, { betas: [0.9, 0.999], epsilon: 1e-8 });
        tf.dispose(grads.p);
      }
      if (unregister) tf.registerKernel(saved);
      const out = [
        Array.from(params.p.dataSync()),
        Array.from(state.m.p!.dataSync()),
        Array.from(state.v.p!.dataSync()),
      ];
      disposeAdamState(state);
      params.p.dispose();
      return out;
    };
    const [withKernel, withOps] = [run(false), run(true)];
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 4; j++) expect(withKernel[i]![j]).toBeCloseTo(withOps[i]![j]!, 6);
  });
});
