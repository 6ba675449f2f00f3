import {
  InvalidArgumentError,
  ShapeMismatchError,
  type SlotDelta,
  type SparseRowDeltaAttributes,
  type SparseRowLinearAttributes,
  sparseRowDeltaKernelName,
  sparseRowLinearKernelName,
} from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';

/** Each δ's largest position (δs are immutable: a task's, for as long as it is served), for range checks. */
const largest = new WeakMap<SlotDelta, number>();

function largestIndex(delta: SlotDelta): number {
  let max = largest.get(delta);
  if (max === undefined) {
    max = -1;
    for (let e = 0; e < delta.indices.length; e++) if (delta.indices[e]! > max) max = delta.indices[e]!;
    largest.set(delta, max);
  }
  return max;
}

/**
 * Throws a typed error unless `rowSlots` and `deltas` are a valid `DiffpruneSparseRowDelta` input for
 * x [batch, ·, inFeatures] and a weight [outFeatures, inFeatures]. Each δ's positions are scanned once
 * (then remembered): a kernel never reads past the weight.
 */
function checkDeltas(
  batch: number,
  rowSlots: Int32Array,
  deltas: readonly (SlotDelta | undefined)[],
  inFeatures: number,
  outFeatures: number,
  op: string,
): void {
  if (!Number.isInteger(outFeatures) || outFeatures < 1)
    throw new InvalidArgumentError({
      argument: 'outFeatures',
      expected: 'a positive integer (the weight’s output features)',
      found: outFeatures,
      context: op,
    });
  if (rowSlots.length !== batch)
    throw new ShapeMismatchError({
      tensor: 'rowSlots',
      expected: [batch],
      found: [rowSlots.length],
      context: `${op} (one task slot per batch row of x)`,
    });
  const slots = deltas.length;
  const outside = rowSlots.findIndex((k) => k < 0 || k >= slots);
  if (outside >= 0)
    throw new InvalidArgumentError({
      argument: `rowSlots[${outside}]`,
      expected: `a task slot in [0, ${slots}) (one δ, or undefined, per slot)`,
      found: rowSlots[outside]!,
      context: op,
    });
  const size = outFeatures * inFeatures;
  deltas.forEach((delta, k) => {
    if (!delta) return;
    if (delta.indices.length !== delta.values.length)
      throw new ShapeMismatchError({
        tensor: `deltas[${k}].values`,
        expected: [delta.indices.length],
        found: [delta.values.length],
        context: `${op} (a δ's indices and values are one list of entries)`,
      });
    const max = largestIndex(delta);
    if (max >= size)
      throw new InvalidArgumentError({
        argument: `deltas[${k}].indices`,
        expected: `flat positions in a [${outFeatures}, ${inFeatures}] weight (< ${size})`,
        found: max,
        context: op,
      });
  });
}

/**
 * Each batch row's sparse δ of a linear weight W [outFeatures, in] applied to its tokens: c [batch,
 * seq, outFeatures] with c[b, t, i] = Σ_{e of deltas[rowSlots[b]], indices[e] = i·in + j}
 * values[e]·x[b, t, j] (so x·(W + δ_b)ᵀ = x·Wᵀ + c). `deltas`: each task slot's δ (`SlotDelta`, flat
 * positions in W; undefined: none), passed as they are (no per-call copy). Runs
 * `DiffpruneSparseRowDelta` (contract in @diffprune/core's kernel-names.ts) where the active backend
 * registers it — no intermediate; natively each slot's entries run once over all its rows' tokens —
 * else the composite (`sparseRowDeltaComposite`). Inference only: not differentiable.
 */
export function sparseRowDelta(
  x: tf.Tensor3D,
  rowSlots: Int32Array,
  deltas: readonly (SlotDelta | undefined)[],
  outFeatures: number,
): tf.Tensor3D {
  const [batch, length, inFeatures] = x.shape;
  checkDeltas(batch, rowSlots, deltas, inFeatures, outFeatures, 'sparseRowDelta');
  if (!rowSlots.some((k) => (deltas[k]?.indices.length ?? 0) > 0))
    return tf.zeros([batch, length, outFeatures]);
  return tf.tidy(() => {
    if (tf.getKernel(sparseRowDeltaKernelName, tf.getBackend()) === undefined)
      return sparseRowDeltaComposite(x, rowSlots, deltas, outFeatures);
    const attributes: SparseRowDeltaAttributes = { outFeatures, deltas };
    return tf
      .engine()
      .runKernel(
        sparseRowDeltaKernelName,
        { x, rowSlots: tf.tensor1d(rowSlots, 'int32') },
        attributes as never,
      ) as tf.Tensor3D;
  });
}

/**
 * Each batch row's linear with its task slot's weight (and bias): y [batch, seq, out] with
 * y[b, t, :] = x[b, t, :]·(W + δ_k)ᵀ (+ bias[k] for a [K, out] bias, or bias for an [out] one),
 * k = rowSlots[b], δ_k = deltas[k] (as in `sparseRowDelta`). Runs `DiffpruneSparseRowLinear` (contract
 * in @diffprune/core's kernel-names.ts) where the active backend registers it — natively each slot's δ
 * is added into a copy of W once and its tokens run as one matmul: O(|δ|) per slot, not O(|δ| × tokens) — else
 * x·Wᵀ plus `sparseRowDelta` (plus each row's bias). Inference only: not differentiable.
 */
export function sparseRowLinear(
  x: tf.Tensor3D,
  weight: tf.Tensor2D,
  rowSlots: Int32Array,
  deltas: readonly (SlotDelta | undefined)[],
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
  checkDeltas(batch, rowSlots, deltas, inFeatures, outFeatures, 'sparseRowLinear');
  const slots = deltas.length;
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
    if (tf.getKernel(sparseRowLinearKernelName, tf.getBackend()) !== undefined) {
      const attributes: SparseRowLinearAttributes = { deltas };
      return tf
        .engine()
        .runKernel(
          sparseRowLinearKernelName,
          { x, weight, rowSlots: tf.tensor1d(rowSlots, 'int32'), ...(bias ? { bias } : {}) },
          attributes as never,
        ) as tf.Tensor3D;
    }
    let y: tf.Tensor = tf.reshape(
      tf.matMul(tf.reshape(x, [batch * length, inFeatures]), weight, false, true),
      [batch, length, outFeatures],
    );
    if (rowSlots.some((k) => (deltas[k]?.indices.length ?? 0) > 0))
      y = tf.add(y, sparseRowDelta(x, rowSlots, deltas, outFeatures));
    if (bias)
      y = tf.add(
        y,
        perSlot ? tf.reshape(tf.gather(bias, tf.tensor1d(rowSlots, 'int32')), [batch, 1, outFeatures]) : bias,
      );
    return y as tf.Tensor3D;
  });
}

/**
 * The reference in tfjs ops: every row's δ entries (its slot's), x's columns [batch·in, seq] gathered
 * per (row, entry), scaled by the entry's value, summed into (row, out) segments, back to
 * [batch, seq, out]. Kernel overhead bound (a [Σ entries of the rows, seq] intermediate and four
 * kernels): 16 mixed BERT-Tiny rows cost 3× the forward pass this way.
 */
export function sparseRowDeltaComposite(
  x: tf.Tensor3D,
  rowSlots: Int32Array,
  deltas: readonly (SlotDelta | undefined)[],
  outFeatures: number,
): tf.Tensor3D {
  const [batch, length, inFeatures] = x.shape;
  checkDeltas(batch, rowSlots, deltas, inFeatures, outFeatures, 'sparseRowDeltaComposite');
  let count = 0;
  for (const k of rowSlots) count += deltas[k]?.indices.length ?? 0;
  if (count === 0) return tf.zeros([batch, length, outFeatures]);
  const source = new Int32Array(count);
  const target = new Int32Array(count);
  const values = new Float32Array(count);
  let q = 0;
  rowSlots.forEach((k, b) => {
    const delta = deltas[k];
    if (!delta) return;
    for (let e = 0; e < delta.indices.length; e++, q++) {
      const flat = delta.indices[e]!;
      const i = Math.floor(flat / inFeatures);
      source[q] = b * inFeatures + (flat - i * inFeatures);
      target[q] = b * outFeatures + i;
      values[q] = delta.values[e]!;
    }
  });
  return tf.tidy(() => {
    const columns = tf.reshape(tf.transpose(x, [0, 2, 1]), [batch * inFeatures, length]);
    const scaled = tf.mul(tf.gather(columns, tf.tensor1d(source, 'int32')), tf.tensor2d(values, [count, 1]));
    const summed = tf.unsortedSegmentSum(scaled, tf.tensor1d(target, 'int32'), batch * outFeatures);
    return tf.transpose(tf.reshape(summed, [batch, outFeatures, length]), [0, 2, 1]) as tf.Tensor3D;
  });
}
