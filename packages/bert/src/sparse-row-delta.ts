import {
  InvalidArgumentError,
  ShapeMismatchError,
  type SparseRowDeltaAttributes,
  sparseRowDeltaKernelName,
  sparseRowLinearKernelName,
} from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * The sparse δ of a linear weight W [out, in] of K task slots, as one list of pairs: slot k adds
 * `values[p]` at W[outs[p], ins[p]] for p ∈ [starts[k], starts[k + 1]) (starts [K + 1]: 0,
 * nondecreasing, the pair count). Within a slot any order; repeats add up.
 */
export interface SlotDeltaPairs {
  starts: Int32Array;
  outs: Int32Array;
  ins: Int32Array;
  values: Float32Array;
}

/** Throws a typed error unless `rowSlots` and `pairs` are a valid `DiffpruneSparseRowDelta` input. */
function checkPairs(batch: number, rowSlots: Int32Array, pairs: SlotDeltaPairs, outFeatures: number): void {
  const count = pairs.values.length;
  for (const name of ['outs', 'ins'] as const)
    if (pairs[name].length !== count)
      throw new ShapeMismatchError({
        tensor: `pairs.${name}`,
        expected: [count],
        found: [pairs[name].length],
        context: 'sparseRowDelta (outs, ins and values are one list of pairs)',
      });
  if (rowSlots.length !== batch)
    throw new ShapeMismatchError({
      tensor: 'rowSlots',
      expected: [batch],
      found: [rowSlots.length],
      context: 'sparseRowDelta (one task slot per batch row of x)',
    });
  const slots = pairs.starts.length - 1;
  let valid = slots >= 0 && pairs.starts[0] === 0 && pairs.starts[slots] === count;
  for (let k = 0; valid && k < slots; k++) valid = pairs.starts[k]! <= pairs.starts[k + 1]!;
  if (!valid)
    throw new InvalidArgumentError({
      argument: 'pairs.starts',
      expected: `K + 1 offsets rising from 0 to the pair count ${count}`,
      found: `[${Array.from(pairs.starts.subarray(0, 8)).join(', ')}${pairs.starts.length > 8 ? ', …' : ''}]`,
      context: 'sparseRowDelta',
    });
  const outside = rowSlots.findIndex((k) => k < 0 || k >= slots);
  if (outside >= 0)
    throw new InvalidArgumentError({
      argument: `rowSlots[${outside}]`,
      expected: `a task slot in [0, ${slots}) (pairs.starts has ${slots + 1} offsets)`,
      found: rowSlots[outside]!,
      context: 'sparseRowDelta',
    });
  if (!Number.isInteger(outFeatures) || outFeatures < 1)
    throw new InvalidArgumentError({
      argument: 'outFeatures',
      expected: 'a positive integer (the weight’s output features)',
      found: outFeatures,
      context: 'sparseRowDelta',
    });
}

/**
 * Each batch row's sparse δ of a linear weight applied to its tokens: c [batch, seq, outFeatures] with
 * c[b, t, i] = Σ_{p of slot rowSlots[b], outs[p] = i} values[p]·x[b, t, ins[p]] (so x·(W + δ_b)ᵀ =
 * x·Wᵀ + c). Runs `DiffpruneSparseRowDelta` (contract in @diffprune/core's kernel-names.ts) where the
 * active backend registers it — no intermediate; natively each slot's pairs run once over all its
 * rows' tokens — else the composite (`sparseRowDeltaComposite`). Inference only: not differentiable.
 */
export function sparseRowDelta(
  x: tf.Tensor3D,
  rowSlots: Int32Array,
  pairs: SlotDeltaPairs,
  outFeatures: number,
): tf.Tensor3D {
  const [batch, length] = x.shape;
  checkPairs(batch, rowSlots, pairs, outFeatures);
  if (pairs.values.length === 0) return tf.zeros([batch, length, outFeatures]);
  return tf.tidy(() => {
    if (tf.getKernel(sparseRowDeltaKernelName, tf.getBackend()) === undefined)
      return sparseRowDeltaComposite(x, rowSlots, pairs, outFeatures);
    const attributes: SparseRowDeltaAttributes = { outFeatures };
    return tf.engine().runKernel(
      sparseRowDeltaKernelName,
      {
        x,
        rowSlots: tf.tensor1d(rowSlots, 'int32'),
        slotStarts: tf.tensor1d(pairs.starts, 'int32'),
        outs: tf.tensor1d(pairs.outs, 'int32'),
        ins: tf.tensor1d(pairs.ins, 'int32'),
        values: tf.tensor1d(pairs.values, 'float32'),
      },
      attributes as never,
    ) as tf.Tensor3D;
  });
}

/**
 * Each batch row's linear with its task slot's weight (and bias): y [batch, seq, out] with
 * y[b, t, :] = x[b, t, :]·(W + δ_k)ᵀ (+ bias[k] for a [K, out] bias, or bias for an [out] one),
 * k = rowSlots[b], δ_k slot k's pairs. Runs `DiffpruneSparseRowLinear` (contract in @diffprune/core's
 * kernel-names.ts) where the active backend registers it — natively each slot's δ is added into a
 * copy of W once and its tokens run as one matmul: O(pairs) per slot, not O(pairs × tokens) — else
 * x·Wᵀ plus `sparseRowDelta` (plus each row's bias). Inference only: not differentiable.
 */
export function sparseRowLinear(
  x: tf.Tensor3D,
  weight: tf.Tensor2D,
  rowSlots: Int32Array,
  pairs: SlotDeltaPairs,
  bias?: tf.Tensor,
): tf.Tensor3D {
  const [batch, length, inFeatures] = x.shape;
  const [outFeatures, weightIn] = weight.shape;
  if (weightIn !== inFeatures)
    throw new ShapeMismatchError({
      tensor: 'weight',
      expected: [outFeatures, inFeatures],
      found: weight.shape,
      context: 'sparseRowLinear (weight [out, in] for x [batch, seq, in])',
    });
  checkPairs(batch, rowSlots, pairs, outFeatures);
  const slots = pairs.starts.length - 1;
  const perSlot = bias !== undefined && bias.rank === 2;
  if (
    bias &&
    !(
      (bias.rank === 1 && bias.shape[0] === outFeatures) ||
      (perSlot && bias.shape[0] === slots && bias.shape[1] === outFeatures)
    )
  )
    throw new ShapeMismatchError({
      tensor: 'bias',
      expected: [slots, outFeatures],
      found: bias.shape,
      context: 'sparseRowLinear (each slot’s bias [K, out], or one shared [out])',
    });
  return tf.tidy(() => {
    if (tf.getKernel(sparseRowLinearKernelName, tf.getBackend()) !== undefined)
      return tf.engine().runKernel(
        sparseRowLinearKernelName,
        {
          x,
          weight,
          rowSlots: tf.tensor1d(rowSlots, 'int32'),
          slotStarts: tf.tensor1d(pairs.starts, 'int32'),
          outs: tf.tensor1d(pairs.outs, 'int32'),
          ins: tf.tensor1d(pairs.ins, 'int32'),
          values: tf.tensor1d(pairs.values, 'float32'),
          ...(bias ? { bias } : {}),
        },
        {},
      ) as tf.Tensor3D;
    let y: tf.Tensor = tf.reshape(
      tf.matMul(tf.reshape(x, [batch * length, inFeatures]), weight, false, true),
      [batch, length, outFeatures],
    );
    if (pairs.values.length > 0) y = tf.add(y, sparseRowDelta(x, rowSlots, pairs, outFeatures));
    if (bias)
      y = tf.add(
        y,
        perSlot ? tf.reshape(tf.gather(bias, tf.tensor1d(rowSlots, 'int32')), [batch, 1, outFeatures]) : bias,
      );
    return y as tf.Tensor3D;
  });
}

/**
 * The reference in tfjs ops: every row's pairs (its slot's), x's columns [batch·in, seq] gathered per
 * (row, pair), scaled by the pair's value, summed into (row, out) segments, back to [batch, seq, out].
 * Kernel overhead bound (a [Σ pairs of the rows, seq] intermediate and four kernels): 16 mixed
 * BERT-Tiny rows cost 3× the forward pass this way.
 */
export function sparseRowDeltaComposite(
  x: tf.Tensor3D,
  rowSlots: Int32Array,
  pairs: SlotDeltaPairs,
  outFeatures: number,
): tf.Tensor3D {
  const [batch, length, inFeatures] = x.shape;
  checkPairs(batch, rowSlots, pairs, outFeatures);
  let count = 0;
  for (const k of rowSlots) count += pairs.starts[k + 1]! - pairs.starts[k]!;
  if (count === 0) return tf.zeros([batch, length, outFeatures]);
  const source = new Int32Array(count);
  const target = new Int32Array(count);
  const values = new Float32Array(count);
  let q = 0;
  rowSlots.forEach((k, b) => {
    for (let p = pairs.starts[k]!; p < pairs.starts[k + 1]!; p++, q++) {
      source[q] = b * inFeatures + pairs.ins[p]!;
      target[q] = b * outFeatures + pairs.outs[p]!;
      values[q] = pairs.values[p]!;
    }
  });
  return tf.tidy(() => {
    const columns = tf.reshape(tf.transpose(x, [0, 2, 1]), [batch * inFeatures, length]);
    const scaled = tf.mul(tf.gather(columns, tf.tensor1d(source, 'int32')), tf.tensor2d(values, [count, 1]));
    const summed = tf.unsortedSegmentSum(scaled, tf.tensor1d(target, 'int32'), batch * outFeatures);
    return tf.transpose(tf.reshape(summed, [batch, outFeatures, length]), [0, 2, 1]) as tf.Tensor3D;
  });
}
