import { InvalidArgumentError, sparseRowDeltaKernelName } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { embedding, firstRow, layerNorm, linear } from './ops.js';
import { rowParameter, rowParameterRead } from './row-parameters.js';

// Per-row ops against a second implementation: each batch row run alone through the plain op with
// its slot's merged tensor.
const random = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);
const maxError = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!;
const slots = Int32Array.from([2, 0, 2, 1, 0]);

/** Row b of the plain op with slot(b)'s values, stacked: [batch, ...]. */
const perRow = (rows: number, f: (b: number) => tf.Tensor) =>
  tf.concat(Array.from({ length: rows }, (_, b) => f(b)));

describe('per-row parameters', () => {
  it('linear: a dense per-row weight and bias (slots of fewer outputs zero-padded) equal each row with its own', () => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = random([5, 4, 6], 1);
      // Slot 1 has 2 outputs (a smaller head), padded to 3.
      const weights = [random([3, 6], 2), random([2, 6], 3), random([3, 6], 4)];
      const biases = [random([3], 5), random([2], 6), random([3], 7)];
      const pad = (t: tf.Tensor) =>
        tf.pad(
          t,
          t.rank === 2
            ? [
                [0, 3 - t.shape[0]!],
                [0, 0],
              ]
            : [[0, 3 - t.shape[0]!]],
        );
      const table = (ts: tf.Tensor[]) =>
        Float32Array.from(tf.concat(ts.map((t) => tf.reshape(pad(t), [-1]))).dataSync());
      const weight = rowParameter(tf.zeros([3, 6]), { kind: 'dense', slots, table: table(weights) });
      const bias = rowParameter(tf.zeros([3]), { kind: 'dense', slots, table: table(biases) });
      const found = linear(x, weight, bias);
      const expected = perRow(5, (b) =>
        linear(tf.slice(x, [b, 0, 0], [1, -1, -1]), pad(weights[slots[b]!]!), pad(biases[slots[b]!]!)),
      );
      expect(found.shape).toEqual([5, 4, 3]);
      expect(maxError(found, expected)).toBeLessThan(1e-5);
      expect(rowParameterRead(weight) && rowParameterRead(bias)).toBe(true);
      // Rank 2 (a pooled [batch, hidden]): one position per row.
      const pooled = tf.reshape(tf.slice(x, [0, 0, 0], [5, 1, 6]), [5, 6]);
      const expectedPooled = perRow(5, (b) =>
        linear(tf.slice(pooled, [b, 0], [1, -1]), pad(weights[slots[b]!]!), pad(biases[slots[b]!]!)),
      );
      expect(maxError(linear(pooled, weight, bias), expectedPooled)).toBeLessThan(1e-5);
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('linear: a sparse per-row weight (base + each slot’s δ) equals each row with its merged weight, kernel or composite', () => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const x = random([5, 4, 6], 21);
      const base = random([3, 6], 22);
      // Slot 0: three entries; slot 1: none (the base); slot 2: every entry of row 1 and one more.
      const deltas = [
        { indices: Uint32Array.of(0, 7, 17), values: Float32Array.of(0.5, -1, 2) },
        undefined,
        {
          indices: Uint32Array.of(6, 7, 8, 9, 10, 11, 14),
          values: Float32Array.of(1, 2, 3, -1, -2, -3, 0.25),
        },
      ];
      const merged = deltas.map((delta) => {
        const values = Float32Array.from(base.dataSync());
        if (delta)
          for (let e = 0; e < delta.indices.length; e++) values[delta.indices[e]!]! += delta.values[e]!;
        return tf.tensor2d(values, [3, 6]);
      });
      const expected = perRow(5, (b) =>
        linear(tf.slice(x, [b, 0, 0], [1, -1, -1]), merged[slots[b]!]!, undefined),
      );
      const run = () => linear(x, rowParameter(tf.clone(base), { kind: 'sparse', slots, deltas }), undefined);
      expect(maxError(run(), expected)).toBeLessThan(1e-5);
      // The composite (the kernel unregistered for the call) answers the same.
      const backend = tf.getBackend();
      const kernel = tf.getKernel(sparseRowDeltaKernelName, backend);
      if (kernel) tf.unregisterKernel(sparseRowDeltaKernelName, backend);
      try {
        expect(maxError(run(), expected)).toBeLessThan(1e-5);
      } finally {
        if (kernel) tf.registerKernel(kernel);
      }
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('layerNorm: per-row γ and β equal each row with its own, with a residual', () => {
    tf.tidy(() => {
      const x = random([5, 3, 8], 11);
      const residual = random([5, 3, 8], 12);
      const gammas = [random([8], 13), random([8], 14), random([8], 15)];
      const betas = [random([8], 16), random([8], 17), random([8], 18)];
      const table = (ts: tf.Tensor[]) => Float32Array.from(tf.concat(ts).dataSync());
      const gamma = rowParameter(tf.ones([8]), { kind: 'dense', slots, table: table(gammas) });
      const beta = rowParameter(tf.zeros([8]), { kind: 'dense', slots, table: table(betas) });
      const found = layerNorm(x, gamma, beta, 1e-12, residual);
      const expected = perRow(5, (b) =>
        layerNorm(
          tf.slice(x, [b, 0, 0], [1, -1, -1]),
          gammas[slots[b]!]!,
          betas[slots[b]!]!,
          1e-12,
          tf.slice(residual, [b, 0, 0], [1, -1, -1]),
        ),
      );
      expect(maxError(found, expected)).toBeLessThan(1e-5);
    });
  });

  it('embedding and firstRow: base + each slot’s sparse δ (any order, repeats add up), ids per row or shared positions', () => {
    tf.tidy(() => {
      const base = random([7, 4], 21);
      const deltas = [
        { indices: Uint32Array.from([27, 10, 1, 9, 10]), values: Float32Array.from([3, 2, 0.5, -1, 0.25]) },
        undefined,
        { indices: Uint32Array.from([0, 3, 20]), values: Float32Array.from([1, 1, -2]) },
      ];
      const merged = deltas.map((d) => {
        const values = Float32Array.from(base.dataSync());
        if (d) for (let e = 0; e < d.indices.length; e++) values[d.indices[e]!]! += d.values[e]!;
        return tf.tensor2d(values, [7, 4]);
      });
      const table = rowParameter(tf.clone(base), { kind: 'sparse', slots, deltas });
      const ids = tf.tensor2d(
        Int32Array.from({ length: 15 }, (_, i) => (i * 3) % 7),
        [5, 3],
        'int32',
      );
      const perRowIds = perRow(5, (b) => tf.gather(merged[slots[b]!]!, tf.slice(ids, [b, 0], [1, -1])));
      expect(maxError(embedding(table, ids), perRowIds)).toBeLessThan(1e-6);
      const positions = tf.tensor1d([0, 2, 5], 'int32');
      const perRowPositions = perRow(5, (b) => tf.expandDims(tf.gather(merged[slots[b]!]!, positions)));
      expect(maxError(embedding(table, positions), perRowPositions)).toBeLessThan(1e-6);
      const first = perRow(5, (b) => tf.reshape(tf.slice(merged[slots[b]!]!, [0, 0], [1, -1]), [1, 1, 4]));
      expect(maxError(firstRow(table), first)).toBeLessThan(1e-6);
      // Ids in rows no δ touches (row 4): the base's rows, [batch, L, H].
      const untouched = tf.fill([5, 3], 4, 'int32');
      const plain = embedding(table, untouched);
      expect(plain.shape).toEqual([5, 3, 4]);
      expect(maxError(plain, tf.gather(base, untouched))).toBe(0);
      // A table with no per-row values reads as before.
      expect(firstRow(base).shape).toEqual([1, 4]);
    });
  });

  it('refuses per-row values of the wrong kind (what was expected and found), and reports unread ones', () => {
    tf.tidy(() => {
      const bias = rowParameter(tf.zeros([3]), { kind: 'sparse', slots, deltas: [] });
      expect(() => linear(random([5, 6], 1), tf.zeros([3, 6]), bias)).toThrow(InvalidArgumentError);
      const table = rowParameter(tf.zeros([7, 4]), { kind: 'dense', slots, table: new Float32Array(84) });
      expect(() => embedding(table, tf.tensor1d([0], 'int32'))).toThrow(/sparse per-row values/);
      const unused = rowParameter(tf.zeros([2]), { kind: 'dense', slots, table: new Float32Array(6) });
      tf.add(unused, 1);
      expect(rowParameterRead(unused)).toBe(false);
    });
  });
});
