import { InvalidArgumentError, ShapeMismatchError } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { sumNonzero } from './expected-l0.js';
import { expectedL0, expectedL0Penalty, groupExpectedL0, probabilityNonzero, sampleGate } from './index.js';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const logAlphaValues = [-3, -1.2, 0, 0.4, 2.5, 5, 9];

const read = (fn: () => tf.Tensor): number[] => {
  const before = tf.memory().numTensors;
  const t = fn();
  const values = Array.from(t.dataSync());
  t.dispose();
  expect(tf.memory().numTensors).toBe(before);
  return values;
};

describe('probabilityNonzero and expectedL0', () => {
  it('are σ(logα − β·log(−l/r)) and its sum, for default and asymmetric limits', () => {
    const a = tf.tensor1d(logAlphaValues);
    for (const options of [
      undefined,
      { beta: 2 / 3, limits: [-0.1, 1.1] as const },
      { beta: 1.5, limits: [-0.3, 2] as const },
    ]) {
      const beta = options?.beta ?? 1;
      const [l, r] = options?.limits ?? [-1.5, 1.5];
      const shift = beta * Math.log(-l / r);
      const p = read(() => probabilityNonzero(a, options));
      const total = read(() => expectedL0(a, options))[0]!;
      const expected = logAlphaValues.map((x) => sigmoid(x - shift));
      p.forEach((value, i) => {
        expect(value).toBeCloseTo(expected[i]!, 6);
      });
      expect(total).toBeCloseTo(
        expected.reduce((s, x) => s + x, 0),
        5,
      );
    }
    a.dispose();
  });

  it('P(z ≠ 0) equals the frequency of nonzero sampled gates', () => {
    const samples = 100_000;
    const values = [-1, 0.5, 3];
    const frequencies = read(() =>
      tf.tidy(() => {
        const a = tf.mul(tf.ones([values.length, samples]), tf.tensor2d(values, [values.length, 1]));
        const z = sampleGate(a, { seed: 77, beta: 0.8, limits: [-0.2, 1.4] });
        return tf.mean(tf.cast(tf.greater(z, 0), 'float32'), 1);
      }),
    );
    const p = read(() =>
      tf.tidy(() => probabilityNonzero(tf.tensor1d(values), { beta: 0.8, limits: [-0.2, 1.4] })),
    );
    frequencies.forEach((f, i) => {
      expect(Math.abs(f - p[i]!)).toBeLessThan(5 * Math.sqrt((p[i]! * (1 - p[i]!)) / samples));
    });
  });

  it('d expectedL0 / dlogα = σ(1 − σ), matching autograd and finite differences', () => {
    const a = tf.tensor1d(logAlphaValues);
    const options = { beta: 0.7, limits: [-0.4, 1.6] as const };
    const shift = 0.7 * Math.log(0.4 / 1.6);
    const gradient = read(() => tf.grad((x: tf.Tensor) => expectedL0(x, options))(a));
    gradient.forEach((g, i) => {
      const s = sigmoid(logAlphaValues[i]! - shift);
      expect(g).toBeCloseTo(s * (1 - s), 6);
    });
    const h = 1e-2;
    logAlphaValues.forEach((_, i) => {
      const bump = (delta: number) =>
        read(() =>
          tf.tidy(() =>
            expectedL0(tf.add(a, tf.oneHot([i], logAlphaValues.length).reshape([-1]).mul(delta)), options),
          ),
        )[0]!;
      expect((bump(h) - bump(-h)) / (2 * h)).toBeCloseTo(gradient[i]!, 3);
    });
    a.dispose();
  });
});

describe('the expected-L0 op: kernels and the tfjs-ops fallback agree', () => {
  it('values and gradients, with and without a shift', () => {
    const a = tf.tidy(() => tf.randomNormal([3000], 1, 3, 'float32', 8));
    for (const shift of [0, Math.log(0.4 / 1.6)]) {
      const gate = { beta: 1, left: -0.4, right: 1.6, shift };
      const [kernel, ops] = [true, false].map((useKernels) => {
        const before = tf.memory().numTensors;
        const value = sumNonzero(a, gate, useKernels);
        const gradient = tf.grad((x: tf.Tensor) => sumNonzero(x, gate, useKernels))(a);
        const out = { value: value.dataSync()[0]!, gradient: Array.from(gradient.dataSync()) };
        tf.dispose([value, gradient]);
        expect(tf.memory().numTensors).toBe(before);
        return out;
      });
      const values = a.dataSync();
      let expected = 0;
      for (const x of values) expected += sigmoid(x - shift);
      expect(kernel!.value).toBeCloseTo(expected, 2);
      expect(ops!.value).toBeCloseTo(expected, 2);
      kernel!.gradient.forEach((g, i) => {
        const s = sigmoid(values[i]! - shift);
        expect(Math.abs(g - s * (1 - s))).toBeLessThan(1e-6);
        expect(Math.abs(ops!.gradient[i]! - s * (1 - s))).toBeLessThan(1e-6);
      });
    }
    a.dispose();
  });
});

describe('group penalties', () => {
  const elements = [-1, 0.5, 2, 4];
  const group = 1.5;

  it("sum (authors' code, default) is Σσ_i + σ_g; product (paper) is Σσ_i·σ_g; both differentiable", () => {
    const a = tf.tensor1d(elements);
    const g = tf.tensor1d([group]);
    const s = elements.map(sigmoid);
    const sg = sigmoid(group);
    const sumSigma = s.reduce((x, y) => x + y, 0);
    expect(read(() => groupExpectedL0(a, g))[0]).toBeCloseTo(sumSigma + sg, 5);
    expect(read(() => groupExpectedL0(a, g, { groupPenalty: 'sum' }))[0]).toBeCloseTo(sumSigma + sg, 5);
    expect(read(() => groupExpectedL0(a, g, { groupPenalty: 'product' }))[0]).toBeCloseTo(sumSigma * sg, 5);

    const gradients = (mode: 'sum' | 'product') => {
      const before = tf.memory().numTensors;
      const [da, dg] = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
        groupExpectedL0(x, y, { groupPenalty: mode }),
      )([a, g]);
      const out = [Array.from(da!.dataSync()), Array.from(dg!.dataSync())];
      tf.dispose([da!, dg!]);
      expect(tf.memory().numTensors).toBe(before);
      return out;
    };
    const [sumDa, sumDg] = gradients('sum');
    const [productDa, productDg] = gradients('product');
    s.forEach((si, i) => {
      expect(sumDa![i]).toBeCloseTo(si * (1 - si), 6);
      expect(productDa![i]).toBeCloseTo(si * (1 - si) * sg, 6);
    });
    expect(sumDg![0]).toBeCloseTo(sg * (1 - sg), 6);
    expect(productDg![0]).toBeCloseTo(sg * (1 - sg) * sumSigma, 6);
    tf.dispose([a, g]);
  });

  it('expectedL0Penalty sums per-tensor terms; tensors without a group gate are unstructured', () => {
    const a = tf.tensor1d(elements);
    const b = tf.tensor2d([
      [0.3, -2],
      [7, 1],
    ]);
    const g = tf.tensor1d([group]);
    const sA = elements.map(sigmoid).reduce((x, y) => x + y, 0);
    const sB = [0.3, -2, 7, 1].map(sigmoid).reduce((x, y) => x + y, 0);
    const sg = sigmoid(group);
    const tensors = [{ logAlpha: a, groupLogAlpha: g }, { logAlpha: b }];
    expect(read(() => expectedL0Penalty(tensors))[0]).toBeCloseTo(sA + sg + sB, 5);
    expect(read(() => expectedL0Penalty(tensors, { groupPenalty: 'product' }))[0]).toBeCloseTo(
      sA * sg + sB,
      5,
    );
    expect(read(() => expectedL0Penalty([]))[0]).toBe(0);
    tf.dispose([a, b, g]);
  });

  it('validates inputs', () => {
    const a = tf.tensor1d(elements);
    const two = tf.tensor1d([1, 2]);
    const one = tf.tensor1d([1]);
    const before = tf.memory().numTensors;
    expect(() => groupExpectedL0(a, two)).toThrow(ShapeMismatchError);
    expect(() => groupExpectedL0(a, two)).toThrow(/groupLogAlpha must have shape \[1\]; found \[2\]/);
    expect(() => groupExpectedL0(a, one, { groupPenalty: 'mean' as never })).toThrow(
      /groupPenalty must be one of "sum", "product"; found "mean"/,
    );
    expect(() => expectedL0(a, { limits: [-1, 0.5] })).toThrow(InvalidArgumentError);
    expect(() => expectedL0Penalty([{ logAlpha: a, groupLogAlpha: two }])).toThrow(
      /tensors\[0\]\.groupLogAlpha/,
    );
    expect(() => expectedL0Penalty([{ logAlpha: undefined as never }])).toThrow(
      /tensors\[0\]\.logAlpha must be a tf\.Tensor/,
    );
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, two, one]);
  });
});
