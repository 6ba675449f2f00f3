import { InvalidArgumentError, ShapeMismatchError } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { combineGroupGate, sampleGate, sampleGroupedGate } from './index.js';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const gate = (a: number, u: number) => Math.min(1, Math.max(0, sigmoid(Math.log(u / (1 - u)) + a) * 3 - 1.5));

describe('group (structured) gates', () => {
  const logAlpha = [-1, 0.3, 1, 2.5, 6];
  const u = [0.5, 0.6, 0.55, 0.2, 0.9];

  it('sampleGroupedGate is z_i·z_g (float64 reference), and equals combineGroupGate of the two gates', () => {
    const before = tf.memory().numTensors;
    const [grouped, combined] = tf.tidy(() => {
      const a = tf.tensor1d(logAlpha);
      const uu = tf.tensor1d(u);
      const g = tf.tensor1d([0.2]);
      const gu = tf.tensor1d([0.58]);
      return [
        Array.from(sampleGroupedGate(a, g, { u: uu, groupU: gu }).dataSync()),
        Array.from(combineGroupGate(sampleGate(a, { u: uu }), sampleGate(g, { u: gu })).dataSync()),
      ];
    });
    expect(tf.memory().numTensors).toBe(before);
    const zg = gate(0.2, 0.58);
    expect(zg).toBeGreaterThan(0);
    expect(zg).toBeLessThan(1);
    logAlpha.forEach((a, i) => {
      expect(grouped![i]).toBeCloseTo(gate(a, u[i]!) * zg, 6);
      expect(combined![i]).toBeCloseTo(grouped![i]!, 7);
    });
  });

  it('is differentiable w.r.t. both logα: d Σ z_i z_g / dlogα_g = Σ z_i · dz_g/dlogα_g', () => {
    const before = tf.memory().numTensors;
    const [da, dg] = tf.tidy(() => {
      const a = tf.tensor1d(logAlpha);
      const uu = tf.tensor1d(u);
      const g = tf.tensor1d([0.2]);
      const gu = tf.tensor1d([0.58]);
      const [ga, gg] = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
        tf.sum(sampleGroupedGate(x, y, { u: uu, groupU: gu })),
      )([a, g]);
      return [Array.from(ga!.dataSync()), Array.from(gg!.dataSync())];
    });
    expect(tf.memory().numTensors).toBe(before);
    const slope = (a: number, ui: number) => {
      const s = sigmoid(Math.log(ui / (1 - ui)) + a);
      const stretched = s * 3 - 1.5;
      return stretched > 0 && stretched < 1 ? 3 * s * (1 - s) : 0;
    };
    const zg = gate(0.2, 0.58);
    logAlpha.forEach((a, i) => {
      expect(da![i]).toBeCloseTo(slope(a, u[i]!) * zg, 5);
    });
    const sumZ = logAlpha.reduce((s, a, i) => s + gate(a, u[i]!), 0);
    expect(dg![0]).toBeCloseTo(sumZ * slope(0.2, 0.58), 5);
  });

  it('draws both noises from a seed, reproducibly', () => {
    tf.tidy(() => {
      const a = tf.tensor1d(logAlpha);
      const g = tf.tensor1d([0.2]);
      const z1 = sampleGroupedGate(a, g, { seed: 5 }).dataSync();
      const z2 = sampleGroupedGate(a, g, { seed: 5 }).dataSync();
      expect(Array.from(z1)).toEqual(Array.from(z2));
    });
  });

  it('validates inputs', () => {
    const a = tf.tensor1d(logAlpha);
    const two = tf.tensor1d([1, 2]);
    const one = tf.tensor1d([0.5]);
    const before = tf.memory().numTensors;
    expect(() => sampleGroupedGate(a, two, { seed: 1 })).toThrow(ShapeMismatchError);
    expect(() => sampleGroupedGate(a, one, { u: a } as never)).toThrow(InvalidArgumentError);
    expect(() => sampleGroupedGate(a, one, { u: a } as never)).toThrow(/either seed, or both u and groupU/);
    expect(() => combineGroupGate(a, two)).toThrow(/groupGate must have shape \[1\]; found \[2\]/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, two, one]);
  });
});
