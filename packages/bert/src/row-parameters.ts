import { InvalidArgumentError, lowerBound, type SlotDelta, sparseRowLinearKernelName } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { sparseRowDelta, sparseRowLinear } from './sparse-row-delta.js';

/**
 * Per-row parameters: one forward pass over a batch whose rows use different parameter values (a
 * multi-task server answering several tasks' diffs of one base in one pass). A parameter map entry
 * stays a `tf.Tensor` (the base value, or a placeholder of the batch's shape for dense heads), and
 * `rowParameter(tensor, rows)` attaches how each row differs; `linear`, `layerNorm`, `embedding` and
 * `firstRow` read it. Without an attachment the ops are unchanged (the training path).
 */

/** A task slot's sparse δ over the base tensor: sorted flat (row-major) positions and values. */
export type { SlotDelta };

/**
 * How a parameter differs per batch row. `slots[b]` is row b's task slot (0…K−1).
 * - `dense` (biases, LayerNorm γ/β, task heads): `table` holds every slot's whole value,
 *   [K, ...shape of the attached tensor] row-major (a slot's smaller head is zero-padded).
 * - `sparse` (linear weights of the base, embedding tables): the attached tensor is the base; slot
 *   k's value is base + `deltas[k]` (undefined: the base). The δs reach the kernels as they are (each
 *   task's own arrays, kept by the caller): a batch copies none of them.
 */
export type RowParameter =
  | { kind: 'dense'; slots: Int32Array; table: Float32Array }
  | { kind: 'sparse'; slots: Int32Array; deltas: readonly (SlotDelta | undefined)[] };

const attached = new WeakMap<tf.Tensor, RowParameter & { read: boolean }>();

/**
 * Attaches per-row values to `tensor` (which must not be shared with other forwards: pass a fresh
 * tensor, e.g. `tf.clone(base)`). Returns the tensor, for a parameter map.
 */
export function rowParameter(tensor: tf.Tensor, rows: RowParameter): tf.Tensor {
  attached.set(tensor, { ...rows, read: false });
  return tensor;
}

/** The per-row values attached to `tensor`, if any (and marks them read). */
export function rowParameterOf(tensor: tf.Tensor): RowParameter | undefined {
  const rows = attached.get(tensor);
  if (rows) rows.read = true;
  return rows;
}

/**
 * Whether every op that read `tensor` honoured its per-row values: false when a forward used it in
 * a way the per-row ops do not cover (its rows would then be computed with the base value).
 */
export function rowParameterRead(tensor: tf.Tensor): boolean {
  return attached.get(tensor)?.read ?? true;
}

const batchOf = (rows: RowParameter, leading: number, context: string): number => {
  const batch = rows.slots.length;
  if (batch === 0 || leading % batch !== 0)
    throw new InvalidArgumentError({
      argument: 'rows.slots',
      expected: `one slot per batch row (a divisor of the input's ${leading} leading positions)`,
      found: batch,
      context,
    });
  return batch;
};

const denseRows = (rows: RowParameter, op: string): Extract<RowParameter, { kind: 'dense' }> => {
  if (rows.kind !== 'dense')
    throw new InvalidArgumentError({
      argument: 'rows.kind',
      expected: `dense per-row values for ${op} (sparse ones are for embedding tables)`,
      found: rows.kind,
      context: op,
    });
  return rows;
};

/** The slots' values [K, ...shape] of a dense per-row parameter. */
const slotTable = (rows: Extract<RowParameter, { kind: 'dense' }>, shape: readonly number[]): tf.Tensor => {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(rows.table, [rows.table.length / size, ...shape], 'float32');
};

/**
 * A vector parameter per row: [batch, 1, n], for adding to or scaling [batch, L, n]. Each row's slot
 * vector copied in JS (a few kilobytes): one tensor, where a gather from the slot table took four ops.
 */
function rowVectors(vector: tf.Tensor, rows: RowParameter, op: string): tf.Tensor {
  const { table, slots } = denseRows(rows, op);
  const n = vector.size;
  const out = new Float32Array(slots.length * n);
  slots.forEach((slot, b) => {
    out.set(table.subarray(slot * n, (slot + 1) * n), b * n);
  });
  return tf.tensor3d(out, [slots.length, 1, n]);
}

const sameSlots = (a: Int32Array, b: Int32Array): boolean =>
  a === b || (a.length === b.length && a.every((k, i) => k === b[i]));

/**
 * `x · weightᵀ + bias` with per-row weight and/or bias, x [N, in] with N = batch·L (rows b·L…b·L+L−1
 * are batch row b).
 * - A sparse per-row weight (base + each slot's δ): where the backend registers
 *   `DiffpruneSparseRowLinear` (native), `sparseRowLinear`: each slot's δ added into a copy of W once
 *   and one matmul of the slot's tokens, the bias (shared, or each slot's) folded in — O(|δ|) per slot
 *   over the base pass; else x·Wᵀ with the base weight plus each row's δ applied by `sparseRowDelta`:
 *   the base pass plus Σ_b |δ of row b's slot|·L FMAs.
 * - A dense one (task heads): the batch rows are grouped by slot ([K, rows of the largest slot, L,
 *   in], one gather), multiplied by their slot's weight in one batched matmul, and gathered back into
 *   batch order: three kernels whatever K.
 */
export function rowLinear(
  flat: tf.Tensor2D,
  weight: tf.Tensor,
  bias: tf.Tensor | undefined,
  weightRows: RowParameter | undefined,
  biasRows: RowParameter | undefined,
): tf.Tensor2D {
  const [n, inFeatures] = flat.shape;
  const outFeatures = weight.shape[0]!;
  const batch = batchOf((weightRows ?? biasRows)!, n, 'linear');
  const length = n / batch;
  let y: tf.Tensor;
  if (weightRows?.kind === 'dense') {
    const rows = weightRows;
    const slots = rows.table.length / (outFeatures * inFeatures);
    const members: number[][] = Array.from({ length: slots }, () => []);
    rows.slots.forEach((slot, b) => {
      members[slot]!.push(b);
    });
    const widest = Math.max(...members.map((m) => m.length));
    // Slot k's j-th row at k·widest + j (padding repeats row 0: computed, never read back).
    const grouped = new Int32Array(slots * widest);
    const back = new Int32Array(batch);
    members.forEach((m, k) => {
      m.forEach((b, j) => {
        grouped[k * widest + j] = b;
        back[b] = k * widest + j;
      });
    });
    const x = tf.reshape(
      tf.gather(tf.reshape(flat, [batch, length * inFeatures]), tf.tensor1d(grouped, 'int32')),
      [slots, widest * length, inFeatures],
    );
    const products = tf.matMul(
      x as tf.Tensor3D,
      slotTable(rows, [outFeatures, inFeatures]) as tf.Tensor3D,
      false,
      true,
    );
    y = tf.reshape(
      tf.gather(tf.reshape(products, [slots * widest, length * outFeatures]), tf.tensor1d(back, 'int32')),
      [batch, length, outFeatures],
    );
  } else if (weightRows && tf.getKernel(sparseRowLinearKernelName, tf.getBackend()) !== undefined) {
    // The fused kernel: each slot's δ added into a copy of W once, one matmul per slot, the bias
    // (each slot's, when its per-row slots are the weight's) added in the same pass.
    const slotBias =
      biasRows?.kind === 'dense' &&
      sameSlots(biasRows.slots, weightRows.slots) &&
      biasRows.table.length === weightRows.deltas.length * outFeatures
        ? slotTable(biasRows, [outFeatures])
        : undefined;
    const folded = bias !== undefined && (biasRows === undefined || slotBias !== undefined);
    y = sparseRowLinear(
      tf.reshape(flat, [batch, length, inFeatures]) as tf.Tensor3D,
      weight as tf.Tensor2D,
      weightRows.slots,
      weightRows.deltas,
      folded ? (slotBias ?? bias) : undefined,
    );
    if (folded) return tf.reshape(y, [n, outFeatures]);
  } else {
    y = tf.reshape(tf.matMul(flat, weight as tf.Tensor2D, false, true), [batch, length, outFeatures]);
    if (weightRows) {
      const correction = sparseRowDelta(
        tf.reshape(flat, [batch, length, inFeatures]) as tf.Tensor3D,
        weightRows.slots,
        weightRows.deltas,
        outFeatures,
      );
      y = tf.add(y, correction);
    }
  }
  if (bias) y = tf.add(y, biasRows ? rowVectors(bias, biasRows, 'linear') : bias);
  return tf.reshape(y, [n, outFeatures]);
}

/** (x̂ · γ + β) with per-row γ and/or β, x̂ [N, hidden] the normalised input. */
export function rowAffine(
  normalised: tf.Tensor2D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  gammaRows: RowParameter | undefined,
  betaRows: RowParameter | undefined,
): tf.Tensor2D {
  const [n, hidden] = normalised.shape;
  const batch = batchOf((gammaRows ?? betaRows)!, n, 'layerNorm');
  const x = tf.reshape(normalised, [batch, n / batch, hidden]);
  const scaled = tf.mul(x, gammaRows ? rowVectors(gamma, gammaRows, 'layerNorm') : gamma);
  return tf.reshape(tf.add(scaled, betaRows ? rowVectors(beta, betaRows, 'layerNorm') : beta), [n, hidden]);
}

/**
 * A δ in ascending position order, once per δ (a task's δ is immutable): the δ itself when it is
 * sorted, as a diff stores it; else a sorted copy (repeated positions kept: they add up).
 */
const sortedCache = new WeakMap<SlotDelta, SlotDelta>();

function sortedDelta(delta: SlotDelta): SlotDelta {
  let sorted = sortedCache.get(delta);
  if (!sorted) {
    const { indices, values } = delta;
    let ordered = true;
    for (let e = 1; ordered && e < indices.length; e++) ordered = indices[e - 1]! <= indices[e]!;
    if (ordered) sorted = delta;
    else {
      const order = Array.from(indices.keys()).sort((a, b) => indices[a]! - indices[b]! || a - b);
      sorted = {
        indices: Uint32Array.from(order, (e) => indices[e]!),
        values: Float32Array.from(order, (e) => values[e]!),
      };
    }
    sortedCache.set(delta, sorted);
  }
  return sorted;
}

/**
 * Rows of `table` [V, H] for `ids` ([batch, L], or [L] shared by every row) plus each batch row's
 * δ in those rows: the ids read back (int32, a few hundred), each (row, position)'s δ entries found
 * by binary search in its slot's sorted δ and added in JS into one [batch, L, H] correction, one
 * gather and one add (none when no entry falls in the batch's [batch, L] ids). Returns [batch, L, H].
 */
export function rowEmbedding(table: tf.Tensor, ids: tf.Tensor, rows: RowParameter): tf.Tensor {
  const hidden = table.shape[1]!;
  const batch = rows.slots.length;
  if (rows.kind !== 'sparse')
    throw new InvalidArgumentError({
      argument: 'rows.kind',
      expected: 'sparse per-row values (base + δ) for an embedding table',
      found: rows.kind,
      context: 'embedding',
    });
  const length = ids.shape[ids.rank - 1]!;
  const shared = ids.rank === 1;
  const idValues = ids.dataSync();
  const slotDeltas = rows.deltas.map((delta) => delta && sortedDelta(delta));
  const correction = new Float32Array(batch * length * hidden);
  let touched = false;
  rows.slots.forEach((slot, b) => {
    const delta = slotDeltas[slot];
    if (!delta) return;
    const { indices, values } = delta;
    for (let t = 0; t < length; t++) {
      const start = idValues[shared ? t : b * length + t]! * hidden;
      const end = start + hidden;
      const at = (b * length + t) * hidden - start;
      for (let e = lowerBound(indices, start); e < indices.length && indices[e]! < end; e++) {
        correction[at + indices[e]!]! += values[e]!;
        touched = true;
      }
    }
  });
  const gathered = tf.gather(table, ids);
  if (!touched && !shared) return gathered;
  return tf.add(gathered, tf.tensor3d(correction, [batch, length, hidden]));
}
