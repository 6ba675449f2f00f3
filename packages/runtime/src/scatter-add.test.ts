import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { scatterAddSegments } from './scatter-add.js';

describe('scatter-add UnsortedSegmentSum', () => {
  it('matches a direct sum per segment, dropping out-of-range ids', () => {
    const values = Float32Array.from({ length: 5 * 3 }, (_, i) => i + 1);
    const ids = Int32Array.from([2, 0, 2, 7, -1]);
    const out = scatterAddSegments(values, ids, 4, 3);
    expect(Array.from(out)).toEqual([4, 5, 6, 0, 0, 0, 1 + 7, 2 + 8, 3 + 9, 0, 0, 0]);
  });

  it('gives the gradient of tf.gather that a dense one-hot matmul gives', async () => {
    await initBackend({ backend: 'cpu' });
    const table = tf.randomNormal([50, 8], 0, 1, 'float32', 1);
    const ids = tf.tensor1d([3, 7, 3, 49, 0, 3], 'int32');
    const upstream = tf.randomNormal([6, 8], 0, 1, 'float32', 2);
    const viaGather = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), upstream)))(table);
    const viaOneHot = tf.grad((t: tf.Tensor) =>
      tf.sum(tf.mul(tf.matMul(tf.oneHot(ids, 50).toFloat(), t as tf.Tensor2D), upstream)),
    )(table);
    const [a, b] = await Promise.all([viaGather.data(), viaOneHot.data()]);
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i]!, 5);
    tf.dispose([table, ids, upstream, viaGather, viaOneHot]);
  });
});
