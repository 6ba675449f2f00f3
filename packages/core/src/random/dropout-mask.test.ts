import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { dropoutMaskKernelName } from '../kernel-names.js';
import { fillUniform, uniformAt, uniformKey } from './counter-uniform.js';
import { dropoutMask, fillDropoutMask } from './dropout-mask.js';

/** The mask by its definition, from the uniforms themselves: 1/(1 − rate) where u ≥ rate, else 0. */
const byDefinition = (n: number, seed: number, rate: number, offset = 0): Float32Array =>
  Float32Array.from(fillUniform(new Float32Array(n), uniformKey(seed, 'test'), offset), (u) =>
    u >= rate ? 1 / (1 - rate) : 0,
  );

const fill = (n: number, seed: number, rate: number, offset = 0): Float32Array =>
  fillDropoutMask(new Float32Array(n), uniformKey(seed, 'test'), rate, offset);

describe('fillDropoutMask', () => {
  const rates = [0, 2 ** -30, 0.1, 0.25, 0.5, 0.7, 0.9, 1 - 2 ** -23, 1 - 2 ** -30];

  it('is 1/(1 − rate) where u ≥ rate and 0 elsewhere, for any rate (edge rates included)', () => {
    for (const rate of rates) {
      expect(Array.from(fill(20_000, 7, rate))).toEqual(Array.from(byDefinition(20_000, 7, rate)));
      expect(Array.from(fill(500, 7, rate, 2 ** 32 - 500))).toEqual(
        Array.from(byDefinition(500, 7, rate, 2 ** 32 - 500)),
      );
    }
  });

  it('keeps an entry whose u equals the rate and drops it when the rate is a hair above (the ≥ boundary)', () => {
    const { a, b } = uniformKey(5, 'test');
    for (const i of [0, 3, 100, 4096]) {
      const u = uniformAt(i, a, b);
      for (const rate of [u, u - 2 ** -40, u + 2 ** -40]) {
        expect(Array.from(fill(4097, 5, rate))).toEqual(Array.from(byDefinition(4097, 5, rate)));
        expect(fill(4097, 5, rate)[i]).toBe(rate <= u ? Math.fround(1 / (1 - rate)) : 0);
      }
    }
  });

  it('keeps 1 − rate of the entries (binomial bound) and holds only 0 and 1/(1 − rate) in float32', () => {
    const n = 1 << 20;
    for (const rate of [0.1, 0.5, 0.9]) {
      const mask = fill(n, 2024, rate);
      const scale = Math.fround(1 / (1 - rate));
      let kept = 0;
      let other = 0;
      for (const m of mask) {
        if (m === scale) kept++;
        else if (m !== 0) other++;
      }
      expect(other).toBe(0);
      const p = 1 - rate;
      // Five standard deviations of a Binomial(n, p) fraction.
      expect(Math.abs(kept / n - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / n));
      // E[mask] = 1: inverted dropout keeps the expectation of x·mask equal to x.
      const mean = mask.reduce((s, m) => s + m, 0) / n;
      expect(Math.abs(mean - 1)).toBeLessThan(5 * scale * Math.sqrt((p * (1 - p)) / n));
    }
  });

  it('rate 0 keeps every entry with scale 1', () => {
    expect(fill(1000, 3, 0).every((m) => m === 1)).toBe(true);
  });

  it('is fixed by its seed: the same seed gives the same mask, another seed another mask', () => {
    const a = fill(10_000, 42, 0.1);
    expect(Array.from(fill(10_000, 42, 0.1))).toEqual(Array.from(a));
    const b = fill(10_000, 43, 0.1);
    let differ = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differ++;
    // Independent masks differ in 2·rate·(1 − rate) = 18 % of the entries.
    expect(differ / a.length).toBeGreaterThan(0.15);
    expect(differ / a.length).toBeLessThan(0.21);
  });
});

describe('dropoutMask', () => {
  const check = async (backend: string) => {
    const previous = tf.getBackend();
    await tf.setBackend(backend);
    try {
      const before = tf.memory().numTensors;
      for (const [shape, rate, seed] of [
        [[3, 5, 7], 0.1, 1],
        [[64, 128], 0.5, 2 ** 32 - 1],
        [[1000], 0.9, 0],
        [[0, 4], 0.1, 5],
        [[], 0.3, 9],
      ] as const) {
        const mask = dropoutMask(shape, rate, seed);
        expect(mask.shape).toEqual(shape);
        expect(mask.dtype).toBe('float32');
        const size = shape.reduce((n: number, d: number) => n * d, 1);
        expect(Array.from(await mask.data())).toEqual(Array.from(byDefinition(size, seed, rate)));
        mask.dispose();
      }
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      await tf.setBackend(previous);
    }
  };

  it(`equals the mask by definition on the test backend (its own ${dropoutMaskKernelName} where registered)`, async () => {
    await check(tf.getBackend());
  });

  it('equals it on tfjs cpu (no kernel registered: filled in JS)', async () => {
    expect(tf.getKernel(dropoutMaskKernelName, 'cpu')).toBeUndefined();
    await check('cpu');
  });

  it('rejects a bad shape, rate or seed, naming the op and the value', () => {
    const cases: [readonly number[], number, number, RegExp][] = [
      [[2, 2.5], 0.1, 1, /dropoutMask: shape must be an array of non-negative integers; found \[2,2\.5\]/],
      [[2, -1], 0.1, 1, /dropoutMask: shape must be/],
      [[2 ** 20, 2 ** 13], 0.1, 1, /dropoutMask: shape must be at most 2\^32 elements/],
      [[2], 1, 1, /dropoutMask: rate must be a number in \[0, 1\); found 1/],
      [[2], -0.1, 1, /dropoutMask: rate must be a number in \[0, 1\); found -0\.1/],
      [[2], Number.NaN, 1, /dropoutMask: rate must be a number in \[0, 1\)/],
      [[2], 0.1, -1, /dropoutMask: seed must be an integer in \[0, 2\^32\); found -1/],
      [[2], 0.1, 2 ** 32, /dropoutMask: seed must be an integer/],
    ];
    for (const [shape, rate, seed, message] of cases) {
      expect(() => dropoutMask(shape, rate, seed)).toThrow(InvalidArgumentError);
      expect(() => dropoutMask(shape, rate, seed)).toThrow(message);
    }
  });
});
