import {
  InvalidArgumentError,
  ShapeMismatchError,
  type SparseRowDeltaAttributes,
  sparseRowDeltaKernelName,
} from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Pairs (batch row, δ entry) of a linear weight W [out, in]: row `rows[p]` adds `values[p]` at
 * W[outs[p], ins[p]]. All four of one length; any order; repeats add up.
 */
export interface RowDeltaPairs {
  rows: Int32Array;
  outs: Int32Array;
  ins: Int32Array;
  values: Float32Array;
}

/**
 * Each batch row's sparse δ of a linear weight applied to its tokens: c [batch, seq, outFeatures] with
 * c[b, t, i] = Σ_{p: rows[p] = b, outs[p] = i} values[p]·x[b, t, ins[p]] (so x·(W + δ_b)ᵀ = x·Wᵀ + c).
 * Runs `DiffpruneSparseRowDelta` (contract in @diffprune/core's kernel-names.ts) where the active
 * backend registers it — one pass over the pairs, no intermediate — else the composite
 * (`sparseRowDeltaComposite`). Inference only: not differentiable.
 */
export function sparseRowDelta(x: tf.Tensor3D, pairs: RowDeltaPairs, outFeatures: number): tf.Tensor3D {
  const [batch, length] = x.shape;
  const count = pairs.rows.length;
  for (const [name, array] of Object.entries(pairs) as [string, ArrayLike<number>][])
    if (array.length !== count)
      throw new ShapeMismatchError({
        tensor: `pairs.${name}`,
        expected: [count],
        found: [array.length],
        context: 'sparseRowDelta (rows, outs, ins and values are one list of pairs)',
      });
  if (!Number.isInteger(outFeatures) || outFeatures < 1)
    throw new InvalidArgumentError({
      argument: 'outFeatures',
      expected: 'a positive integer (the weight’s output features)',
      found: outFeatures,
      context: 'sparseRowDelta',
    });
  if (count === 0) return tf.zeros([batch, length, outFeatures]);
  return tf.tidy(() => {
    if (tf.getKernel(sparseRowDeltaKernelName, tf.getBackend()) === undefined)
      return sparseRowDeltaComposite(x, pairs, outFeatures);
    const attributes: SparseRowDeltaAttributes = { outFeatures };
    return tf.engine().runKernel(
      sparseRowDeltaKernelName,
      {
        x,
        rows: tf.tensor1d(pairs.rows, 'int32'),
        outs: tf.tensor1d(pairs.outs, 'int32'),
        ins: tf.tensor1d(pairs.ins, 'int32'),
        values: tf.tensor1d(pairs.values, 'float32'),
      },
      attributes as never,
    ) as tf.Tensor3D;
  });
}

/**
 * The reference in tfjs ops: x's columns [batch·in, seq] gathered per pair, scaled by the pair's
 * value, summed into (row, out) segments, back to [batch, seq, out]. Kernel overhead bound (a
 * [P, seq] intermediate and four kernels): 16 mixed BERT-Tiny rows cost 3× the forward pass this way.
 */
export function sparseRowDeltaComposite(
  x: tf.Tensor3D,
  pairs: RowDeltaPairs,
  outFeatures: number,
): tf.Tensor3D {
  const [batch, length, inFeatures] = x.shape;
  const count = pairs.rows.length;
  const source = new Int32Array(count);
  const target = new Int32Array(count);
  for (let p = 0; p < count; p++) {
    source[p] = pairs.rows[p]! * inFeatures + pairs.ins[p]!;
    target[p] = pairs.rows[p]! * outFeatures + pairs.outs[p]!;
  }
  return tf.tidy(() => {
    const columns = tf.reshape(tf.transpose(x, [0, 2, 1]), [batch * inFeatures, length]);
    const scaled = tf.mul(
      tf.gather(columns, tf.tensor1d(source, 'int32')),
      tf.tensor2d(pairs.values, [count, 1]),
    );
    const summed = tf.unsortedSegmentSum(scaled, tf.tensor1d(target, 'int32'), batch * outFeatures);
    return tf.transpose(tf.reshape(summed, [batch, outFeatures, length]), [0, 2, 1]) as tf.Tensor3D;
  });
}
