import { dropoutMask } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { additiveAttentionMask, dropout, gelu, layerNorm, linear, multiHeadAttention } from './ops.js';

/** erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): an independent closed form. */
const erf = (x: number) => {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-x * x);
  return x >= 0 ? y : -y;
};
const geluClosedForm = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));

describe('ops', () => {
  it('gelu matches the erf closed form, and its gradient matches finite differences', async () => {
    const xs = [-6, -3, -1.5, -0.5, -1e-3, 0, 0.3, 1, 2.5, 7];
    const x = tf.tensor1d(xs);
    const y = await gelu(x).data();
    for (const [i, v] of xs.entries()) expect(y[i]).toBeCloseTo(geluClosedForm(v), 5);
    const grad = await tf
      .grad((t: tf.Tensor) => tf.sum(gelu(t)))(x)
      .data();
    const h = 1e-3;
    for (const [i, v] of xs.entries())
      expect(grad[i]).toBeCloseTo((geluClosedForm(v + h) - geluClosedForm(v - h)) / (2 * h), 4);
    x.dispose();
  });

  it('layerNorm normalises the last axis with biased variance, then scales and shifts', async () => {
    const rows = [
      [1, 2, 3, 4],
      [-2, 0, 0, 10],
    ];
    const gamma = [1, 2, 0.5, -1];
    const beta = [0, 1, -1, 0.25];
    const out = (await layerNorm(
      tf.tensor2d(rows),
      tf.tensor1d(gamma),
      tf.tensor1d(beta),
      1e-12,
    ).array()) as number[][];
    rows.forEach((row, r) => {
      const mean = row.reduce((a, b) => a + b, 0) / row.length;
      const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / row.length;
      for (const [i, v] of row.entries())
        expect(out[r]![i]).toBeCloseTo(((v - mean) / Math.sqrt(variance)) * gamma[i]! + beta[i]!, 5);
    });
  });

  it('linear uses the [out, in] weight layout over any leading axes', async () => {
    const x = tf.tensor3d([[[1, 2, 3]], [[0, -1, 2]]]); // [2, 1, 3]
    const weight = tf.tensor2d([
      [1, 0, 0],
      [0.5, 1, -1],
    ]); // [2 out, 3 in]
    const y = (await linear(x, weight, tf.tensor1d([10, 20])).array()) as number[][][];
    expect(y).toEqual([[[11, 19.5]], [[10, 17]]]);
    expect(() => linear(x, tf.zeros([2, 4]), undefined)).toThrow(/linear: weight must have shape/);
  });

  it('attention ignores masked keys exactly and matches a hand computation', async () => {
    // One head, length 3, the last position padded; values differ so that leaking would show.
    const q = tf.tensor3d([
      [
        [1, 0],
        [0, 1],
        [1, 1],
      ],
    ]);
    const k = tf.tensor3d([
      [
        [1, 0],
        [0, 1],
        [5, 5],
      ],
    ]);
    const v = tf.tensor3d([
      [
        [1, 2],
        [3, 4],
        [100, 100],
      ],
    ]);
    const mask = additiveAttentionMask(tf.tensor2d([[1, 1, 0]], undefined, 'int32'));
    const out = (await multiHeadAttention(q, k, v, mask, 1).array()) as number[][][];
    const scale = 1 / Math.sqrt(2);
    const expected = [
      [1, 0],
      [0, 1],
      [1, 1],
    ].map(([a, b]) => {
      const s = [a! * scale, b! * scale];
      const e = s.map(Math.exp);
      const z = e[0]! + e[1]!;
      return [(e[0]! * 1 + e[1]! * 3) / z, (e[0]! * 2 + e[1]! * 4) / z];
    });
    for (const [i, row] of out[0]!.entries())
      for (const [j, value] of row.entries()) expect(value).toBeCloseTo(expected[i]![j]!, 5);
  });

  it('dropout keeps about 1 − rate, scales by 1/(1 − rate), and is fixed by its seed', async () => {
    const x = tf.ones([200, 100]);
    const a = await dropout(x, 0.1, 42).data();
    const b = await dropout(x, 0.1, 42).data();
    const c = await dropout(x, 0.1, 43).data();
    const kept = Array.from(a).filter((v) => v !== 0);
    expect(kept.length / a.length).toBeGreaterThan(0.88);
    expect(kept.length / a.length).toBeLessThan(0.92);
    expect(kept.every((v) => Math.abs(v - 1 / 0.9) < 1e-6)).toBe(true);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    expect(dropout(x, 0, 1)).toBe(x);
    // The mask is core's counter-based one (the same on every backend).
    const y = tf.randomNormal([30, 70], 0, 1, 'float32', 3);
    const [dropped, masked] = await Promise.all([
      dropout(y, 0.3, 11).data(),
      tf.mul(y, dropoutMask(y.shape, 0.3, 11)).data(),
    ]);
    expect(Array.from(dropped)).toEqual(Array.from(masked));
  });

  it('leaks nothing inside tidy', () => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = tf.randomNormal([2, 3, 8]);
      gelu(x);
      layerNorm(x, tf.ones([8]), tf.zeros([8]), 1e-12);
      tf.grad((t: tf.Tensor) => tf.sum(gelu(t)))(x);
    });
    expect(tf.memory().numTensors).toBe(before);
  });
});

/** The plain composites (tfjs autograd through every op): the second implementation of the fused ops. */
const reference = {
  linear: (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
    tf.add(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D, false, true), b),
  layerNorm: (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, r: tf.Tensor) => {
    const s = tf.add(x, r);
    const centred = tf.sub(s, tf.mean(s, -1, true));
    const normalised = tf.mul(centred, tf.rsqrt(tf.add(tf.mean(tf.square(centred), -1, true), 1e-12)));
    return tf.add(tf.mul(normalised, g), b);
  },
  attention: (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, mask: tf.Tensor, heads: number) => {
    const [batch, length, hidden] = q.shape as [number, number, number];
    const split = (t: tf.Tensor) =>
      tf.transpose(tf.reshape(t, [batch, length, heads, hidden / heads]), [0, 2, 1, 3]);
    const scores = tf.add(
      tf.div(tf.matMul(split(q), split(k), false, true), Math.sqrt(hidden / heads)),
      mask,
    );
    const context = tf.matMul(tf.softmax(scores, -1), split(v));
    return tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [batch, length, hidden]);
  },
};

const expectClose = async (found: tf.Tensor[], expected: tf.Tensor[], digits = 4) => {
  expect(found.length).toBe(expected.length);
  for (const [i, f] of found.entries()) {
    expect(f.shape).toEqual(expected[i]!.shape);
    const [a, b] = [await f.data(), await expected[i]!.data()];
    for (let j = 0; j < a.length; j++) expect(a[j]).toBeCloseTo(b[j]!, digits);
  }
};

describe('hand-written gradients agree with autograd through the composites', () => {
  const dy = (shape: number[]) => tf.randomNormal(shape, 0, 1, 'float32', 9);

  it('linear', async () => {
    const [x, w, b] = [
      tf.randomNormal([5, 3], 0, 1, 'float32', 1),
      tf.randomNormal([4, 3], 0, 1, 'float32', 2),
      tf.randomNormal([4], 0, 1, 'float32', 3),
    ];
    const up = dy([5, 4]);
    const f = (impl: (...t: tf.Tensor[]) => tf.Tensor) =>
      tf.grads((...t: tf.Tensor[]) => tf.sum(tf.mul(impl(...t), up)))([x, w, b]);
    await expectClose([linear(x, w, b)], [reference.linear(x, w, b)]);
    await expectClose(
      f((a, c, d) => linear(a!, c!, d!)),
      f((a, c, d) => reference.linear(a!, c!, d!)),
    );
  });

  it('layerNorm with and without a residual, over a rank-3 input', async () => {
    const shape = [2, 3, 6];
    const [x, r] = [tf.randomNormal(shape, 1, 2, 'float32', 4), tf.randomNormal(shape, 0, 1, 'float32', 5)];
    const [g, b] = [tf.randomNormal([6], 1, 0.5, 'float32', 6), tf.randomNormal([6], 0, 0.5, 'float32', 7)];
    const up = dy(shape);
    const loss =
      (impl: (...t: tf.Tensor[]) => tf.Tensor) =>
      (...t: tf.Tensor[]) =>
        tf.sum(tf.mul(impl(...t), up));
    await expectClose(
      tf.grads(loss((a, c, d, e) => layerNorm(a!, c!, d!, 1e-12, e)))([x, g, b, r]),
      tf.grads(loss((a, c, d, e) => reference.layerNorm(a!, c!, d!, e!)))([x, g, b, r]),
    );
    await expectClose([layerNorm(x, g, b, 1e-12)], [reference.layerNorm(x, g, b, tf.zerosLike(x))]);
  });

  it('attention with a padding mask (values and gradients of q, k, v)', async () => {
    const shape = [2, 4, 6];
    const [q, k, v] = [1, 2, 3].map((s) => tf.randomNormal(shape, 0, 1, 'float32', s));
    const mask = additiveAttentionMask(
      tf.tensor2d(
        [
          [1, 1, 1, 0],
          [1, 1, 0, 0],
        ],
        undefined,
        'int32',
      ),
    );
    const up = dy(shape);
    const loss =
      (impl: (...t: tf.Tensor[]) => tf.Tensor) =>
      (...t: tf.Tensor[]) =>
        tf.sum(tf.mul(impl(...t), up));
    await expectClose(
      [multiHeadAttention(q!, k!, v!, mask, 2)],
      [reference.attention(q!, k!, v!, mask, 2)],
      5,
    );
    await expectClose(
      tf.grads(loss((a, b, c) => multiHeadAttention(a!, b!, c!, mask, 2)))([q!, k!, v!]),
      tf.grads(loss((a, b, c) => reference.attention(a!, b!, c!, mask, 2)))([q!, k!, v!]),
    );
  });

  it('dropout: the gradient is the same scaled mask as the forward', async () => {
    const x = tf.randomNormal([50, 40], 0, 1, 'float32', 8);
    const up = dy([50, 40]);
    const [grad] = tf.grads((t: tf.Tensor) => tf.sum(tf.mul(dropout(t, 0.2, 5), up)))([x]);
    const mask = dropout(tf.onesLike(x), 0.2, 5);
    await expectClose([grad!], [tf.mul(up, mask)], 5);
  });
});
