import { existsSync } from 'node:fs';
import { dropoutMask, dropoutMaskKernelName, fillDropoutMask, uniformAt, uniformKey } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { addonPath } from './addon.js';
import { nativeAddon, registerNativeBackend } from './backend.js';
import { onBackend, runOn } from './test-helpers.js';

const built = existsSync(addonPath);

/** core's JS fill: the second implementation the compiled kernel must equal bit for bit. */
const reference = (n: number, seed: number, rate: number) =>
  fillDropoutMask(new Float32Array(n), uniformKey(seed, 'test'), rate);

/** Indices where two arrays differ (compared as bits: 0 and −0 or NaNs would not hide). */
const differences = (a: Float32Array, b: Float32Array): number[] => {
  const [x, y] = [
    new Uint32Array(a.buffer, a.byteOffset, a.length),
    new Uint32Array(b.buffer, b.byteOffset, b.length),
  ];
  const out: number[] = [];
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) out.push(i);
  return out;
};

describe.skipIf(!built)('the compiled dropout mask (DiffpruneDropoutMask)', () => {
  beforeAll(async () => {
    await import('@tensorflow/tfjs-backend-cpu');
    tf.env().set('PROD', true);
    registerNativeBackend({ threads: 2 });
  });

  it('equals core’s JS fill bit for bit: odd sizes, edge rates and seeds, 1 and 2 threads', () => {
    const addon = nativeAddon();
    const initial = addon.threads();
    try {
      for (const threads of [1, 2]) {
        addon.setThreads(threads);
        for (const n of [0, 1, 7, 1023, 4097, 33_333, 262_147]) {
          for (const [seed, rate] of [
            [0, 0.1],
            [1, 0],
            [2024, 0.5],
            [0xffffffff, 0.9],
            [77, 2 ** -30],
            [78, 1 - 2 ** -23],
            [79, 0.3333333333],
          ] as const) {
            const out = new Float32Array(n).fill(Number.NaN); // every element must be written
            addon.dropoutMask(out, seed, rate);
            expect(differences(out, reference(n, seed, rate))).toEqual([]);
          }
        }
      }
    } finally {
      addon.setThreads(initial);
    }
  });

  it('keeps an entry whose u equals the rate and drops it when the rate is a hair above (the ≥ boundary)', () => {
    const addon = nativeAddon();
    const { a, b } = uniformKey(5, 'test');
    for (const i of [0, 3, 100, 4096]) {
      const u = uniformAt(i, a, b);
      for (const rate of [u, u - 2 ** -40, u + 2 ** -40]) {
        const out = new Float32Array(4097);
        addon.dropoutMask(out, 5, rate);
        expect(differences(out, reference(4097, 5, rate))).toEqual([]);
        expect(out[i]).toBe(rate <= u ? Math.fround(1 / (1 - rate)) : 0);
      }
    }
  });

  it('rejects a seed that is not a uint32 and a rate outside [0, 1)', () => {
    const addon = nativeAddon();
    const out = new Float32Array(4);
    expect(() => addon.dropoutMask(out, -1, 0.1)).toThrow(/seed is not a uint32/);
    expect(() => addon.dropoutMask(out, 1.5, 0.1)).toThrow(/seed is not a uint32/);
    expect(() => addon.dropoutMask(out, 1, 1)).toThrow(/rate is not in \[0, 1\)/);
    expect(() => addon.dropoutMask(out, 1, Number.NaN)).toThrow(/rate is not in \[0, 1\)/);
  });

  it('is the kernel core’s dropoutMask runs on native, with the same masks as on cpu; no leaks', async () => {
    expect(tf.getKernel(dropoutMaskKernelName, 'native')).toBeDefined();
    const shapes = [
      [32, 64, 128],
      [5, 3],
      [70, 129],
    ];
    // Twice over on native: the second run takes recycled (poisoned, under test) pool arrays.
    const make = () => shapes.map((shape, i) => dropoutMask(shape, 0.1 * (i + 1), 1000 + i));
    const first = await runOn('native', make);
    const second = await runOn('native', make);
    const cpu = await runOn('cpu', make);
    first.forEach((values, i) => {
      expect(differences(values, cpu[i]!)).toEqual([]);
      expect(differences(second[i]!, cpu[i]!)).toEqual([]);
    });
    await onBackend('native', () => {
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const x = tf.ones([64, 128]);
        return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(t, dropoutMask(t.shape, 0.2, 3))))(x);
      }).dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});
