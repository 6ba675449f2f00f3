import { InvalidArgumentError, ShapeMismatchError } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { gatedDiffParameter, gatedDiffParameterRows, sampleUniform } from './index.js';

const shape = [50, 6];
const data = tf.tidy(() => ({
  base: tf.keep(tf.randomNormal(shape, 0, 1, 'float32', 11)),
  w: tf.keep(tf.randomNormal(shape, 0, 0.5, 'float32', 12)),
  logAlpha: tf.keep(tf.randomNormal(shape, 0.5, 2, 'float32', 13)),
  u: tf.keep(sampleUniform(shape, 14)),
  groupLogAlpha: tf.keep(tf.tensor1d([0.4])),
  groupU: tf.keep(tf.tensor1d([0.45])),
}));
afterAll(() => tf.dispose(Object.values(data)));
const rows = [7, 3, 49, 3, 0, 21]; // with a duplicate

/** θ and the gradients of Σ θ·dy (dy fixed per output row) w.r.t. w, logα, group logα. */
const evaluate = (op: (w: tf.Tensor, a: tf.Tensor, g: tf.Tensor) => tf.Tensor) => {
  const before = tf.memory().numTensors;
  const dy = tf.randomNormal([rows.length, 6], 0, 1, 'float32', 15);
  const theta = op(data.w, data.logAlpha, data.groupLogAlpha);
  const grads = tf.grads((w: tf.Tensor, a: tf.Tensor, g: tf.Tensor) => tf.sum(tf.mul(op(w, a, g), dy)))([
    data.w,
    data.logAlpha,
    data.groupLogAlpha,
  ]);
  const out = {
    shape: theta.shape,
    theta: Array.from(theta.dataSync()),
    grads: grads.map((g) => ({ shape: g.shape, values: Array.from(g.dataSync()) })),
  };
  tf.dispose([dy, theta, ...grads]);
  expect(tf.memory().numTensors).toBe(before);
  return out;
};

describe('gatedDiffParameterRows', () => {
  for (const noise of ['seed', 'u'] as const) {
    it(`equals tf.gather of the full op, values and full-shape gradients (${noise})`, () => {
      const source = noise === 'seed' ? { seed: 14 } : { u: data.u };
      const full = evaluate((w, logAlpha, groupLogAlpha) =>
        tf.tidy(() =>
          tf.gather(
            gatedDiffParameter({
              base: data.base,
              w,
              logAlpha,
              groupLogAlpha,
              groupU: data.groupU,
              ...source,
            }),
            tf.tensor1d(rows, 'int32'),
          ),
        ),
      );
      const partial = evaluate((w, logAlpha, groupLogAlpha) =>
        gatedDiffParameterRows({
          base: data.base,
          w,
          logAlpha,
          groupLogAlpha,
          groupU: data.groupU,
          rows,
          ...source,
        }),
      );
      expect(partial.shape).toEqual([rows.length, 6]);
      expect(partial.theta).toEqual(full.theta);
      partial.grads.forEach((g, i) => {
        expect(g.shape).toEqual(full.grads[i]!.shape);
        g.values.forEach((v, j) => {
          expect(Math.abs(v - full.grads[i]!.values[j]!)).toBeLessThan(1e-6);
        });
      });
      // Rows not asked for get no gradient; a duplicated row gets both contributions.
      const dW = partial.grads[0]!.values;
      expect(dW.slice(6, 12).every((x) => x === 0)).toBe(true); // row 1
      expect(dW.slice(18, 24).some((x) => x !== 0)).toBe(true); // row 3 (twice)
    });
  }

  it('seed noise is the full tensor’s: row r uses u at r·rowSize + j', () => {
    tf.tidy(() => {
      const fullU = sampleUniform(shape, 5);
      const a = gatedDiffParameterRows({ ...data, u: undefined, seed: 5, rows: [2, 9] });
      const b = gatedDiffParameterRows({ ...data, u: fullU, rows: [2, 9] });
      expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    });
  });

  it('validates rows and shapes', () => {
    const before = tf.memory().numTensors;
    const wrong = tf.zeros([50, 5]);
    expect(() => gatedDiffParameterRows({ ...data, rows: [0, 50] })).toThrow(InvalidArgumentError);
    expect(() => gatedDiffParameterRows({ ...data, rows: [0, 50] })).toThrow(
      /rows must be an array of integers in \[0, 50\)/,
    );
    expect(() => gatedDiffParameterRows({ ...data, rows: [1.5] })).toThrow(/rows/);
    expect(() => gatedDiffParameterRows({ ...data, w: wrong, rows: [1] })).toThrow(ShapeMismatchError);
    expect(() => gatedDiffParameterRows({ ...data, seed: 1, rows: [1] })).toThrow(/exactly one of u or seed/);
    wrong.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
