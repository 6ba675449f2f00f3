import { InvalidArgumentError } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Per-row parameters: one forward pass over a batch whose rows use different parameter values (a
 * multi-task server answering several tasks' diffs of one base in one pass). A parameter map entry
 * stays a `tf.Tensor` (the base value, or a placeholder of the batch's shape for dense heads), and
 * `rowParameter(tensor, rows)` attaches how each row differs; `linear`, `layerNorm`, `embedding` and
 * `firstRow` read it. Without an attachment the ops are unchanged (the training path).
 */

/** A task slot's sparse δ over the base tensor: sorted flat (row-major) positions and values. */
export interface SlotDelta {
  indices: Uint32Array;
  values: Float32Array;
}

/**
 * How a parameter differs per batch row. `slots[b]` is row b's task slot (0…K−1).
 * - `sparse`: the attached tensor is the base; slot k's value is base + `deltas[k]` (undefined: base).
 * - `dense`: slot k's value is `values[k]` (a whole tensor, row-major); a slot's leading dimension
 *   may be smaller than the attached tensor's (heads with fewer labels): the rest reads as 0.
 */
export type RowParameter =
  | { kind: 'sparse'; slots: Int32Array; deltas: (SlotDelta | undefined)[] }
  | { kind: 'dense'; slots: Int32Array; values: Float32Array[] };

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

/** The slot values of a dense per-row parameter as one [K, ...shape] tensor, zero-padded. */
function slotTable(rows: Extract<RowParameter, { kind: 'dense' }>, shape: number[]): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const table = new Float32Array(rows.values.length * size);
  rows.values.forEach((values, k) => {
    table.set(values.subarray(0, Math.min(values.length, size)), k * size);
  });
  return tf.tensor(table, [rows.values.length, ...shape], 'float32');
}

/** A [batch, ...] gather of a vector parameter per row: [batch, 1, n] for adding to [batch, L, n]. */
function rowVectors(vector: tf.Tensor, rows: RowParameter): tf.Tensor {
  const n = vector.size;
  const slots = tf.tensor1d(rows.slots, 'int32');
  let table: tf.Tensor;
  if (rows.kind === 'dense') table = slotTable(rows, [n]);
  else {
    // [K, n]: the base vector plus each slot's δ (a few entries), built on the host.
    const base = vector.dataSync() as Float32Array;
    const values = new Float32Array(rows.deltas.length * n);
    rows.deltas.forEach((delta, k) => {
      values.set(base, k * n);
      if (delta)
        for (let e = 0; e < delta.indices.length; e++) values[k * n + delta.indices[e]!]! += delta.values[e]!;
    });
    table = tf.tensor2d(values, [rows.deltas.length, n]);
  }
  return tf.reshape(tf.gather(table, slots), [rows.slots.length, 1, n]);
}

/**
 * `x · weightᵀ + bias` with per-row weight and/or bias, x [N, in] with N = batch·L (rows b·L…b·L+L−1
 * are batch row b). A sparse weight: x·Wᵀ plus, for all rows at once, the gathered x columns of each
 * (row, δ entry) pair times δ, summed into (row, output) segments. A dense weight: x times every
 * slot's weight, each row keeping its slot's block.
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
  const rows = (weightRows ?? biasRows)!;
  const batch = batchOf(rows, n, 'linear');
  const length = n / batch;
  let y: tf.Tensor;
  if (weightRows?.kind === 'dense') {
    const slots = weightRows.values.length;
    const table = tf.reshape(slotTable(weightRows, [outFeatures, inFeatures]), [
      slots * outFeatures,
      inFeatures,
    ]);
    const all = tf.reshape(tf.matMul(flat, table as tf.Tensor2D, false, true), [
      batch,
      length,
      slots,
      outFeatures,
    ]);
    const pick = tf.reshape(tf.oneHot(tf.tensor1d(weightRows.slots, 'int32'), slots), [batch, 1, slots, 1]);
    y = tf.sum(tf.mul(all, pick), 2);
  } else {
    y = tf.reshape(tf.matMul(flat, weight as tf.Tensor2D, false, true), [batch, length, outFeatures]);
    if (weightRows) {
      // Pairs (row b, δ entry (i, j, v) of b's slot): gather x[b, :, j], scale by v, sum into (b, i).
      let pairs = 0;
      for (const slot of weightRows.slots) pairs += weightRows.deltas[slot]?.indices.length ?? 0;
      if (pairs > 0) {
        const source = new Int32Array(pairs);
        const target = new Int32Array(pairs);
        const scale = new Float32Array(pairs);
        let p = 0;
        weightRows.slots.forEach((slot, b) => {
          const delta = weightRows.deltas[slot];
          if (!delta) return;
          for (let e = 0; e < delta.indices.length; e++, p++) {
            const flatIndex = delta.indices[e]!;
            const i = Math.floor(flatIndex / inFeatures);
            source[p] = b * inFeatures + (flatIndex - i * inFeatures);
            target[p] = b * outFeatures + i;
            scale[p] = delta.values[e]!;
          }
        });
        const columns = tf.reshape(tf.transpose(tf.reshape(flat, [batch, length, inFeatures]), [0, 2, 1]), [
          batch * inFeatures,
          length,
        ]);
        const scaled = tf.mul(
          tf.gather(columns, tf.tensor1d(source, 'int32')),
          tf.tensor2d(scale, [pairs, 1]),
        );
        const summed = tf.unsortedSegmentSum(scaled, tf.tensor1d(target, 'int32'), batch * outFeatures);
        y = tf.add(y, tf.transpose(tf.reshape(summed, [batch, outFeatures, length]), [0, 2, 1]));
      }
    }
  }
  if (bias) y = tf.add(y, biasRows ? rowVectors(bias, biasRows) : bias);
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
  const scaled = tf.mul(x, gammaRows ? rowVectors(gamma, gammaRows) : gamma);
  return tf.reshape(tf.add(scaled, betaRows ? rowVectors(beta, betaRows) : beta), [n, hidden]);
}

/**
 * Rows of `table` [V, H] for `ids` ([batch, L], or [L] shared by every row) plus each batch row's
 * δ in those rows: the touched rows of every slot in one small table (row 0: zeros), a per-(slot, id)
 * index into it, one gather. Returns [batch, L, H].
 */
export function rowEmbedding(table: tf.Tensor, ids: tf.Tensor, rows: RowParameter): tf.Tensor {
  const [vocabulary, hidden] = table.shape as [number, number];
  const batch = rows.slots.length;
  const slots = rows.kind === 'sparse' ? rows.deltas.length : rows.values.length;
  const index = new Int32Array(slots * vocabulary);
  const touched: Float32Array[] = [new Float32Array(hidden)];
  for (let k = 0; k < slots; k++) {
    if (rows.kind === 'dense') {
      // A replaced table: its difference from the base, row by row (rare: embeddings are not heads).
      const base = table.dataSync() as Float32Array;
      for (let r = 0; r < vocabulary; r++) {
        const row = rows.values[k]!.slice(r * hidden, (r + 1) * hidden);
        for (let c = 0; c < hidden; c++) row[c]! -= base[r * hidden + c]!;
        index[k * vocabulary + r] = touched.length;
        touched.push(row);
      }
      continue;
    }
    const delta = rows.deltas[k];
    if (!delta) continue;
    let current = -1;
    let row: Float32Array | undefined;
    for (let e = 0; e < delta.indices.length; e++) {
      const r = Math.floor(delta.indices[e]! / hidden);
      if (r !== current) {
        current = r;
        row = new Float32Array(hidden);
        index[k * vocabulary + r] = touched.length;
        touched.push(row);
      }
      row![delta.indices[e]! - r * hidden] = delta.values[e]!;
    }
  }
  const deltaRows = new Float32Array(touched.length * hidden);
  touched.forEach((row, i) => {
    deltaRows.set(row, i * hidden);
  });
  const base = tf.gather(table, ids);
  const length = ids.shape[ids.rank - 1]!;
  const keys = tf.add(
    tf.mul(tf.reshape(tf.tensor1d(rows.slots, 'int32'), [batch, 1]), tf.scalar(vocabulary, 'int32')),
    ids,
  );
  const correction = tf.gather(
    tf.tensor2d(deltaRows, [touched.length, hidden]),
    tf.gather(tf.tensor1d(index, 'int32'), tf.reshape(keys, [batch * length])),
  );
  return tf.add(base, tf.reshape(correction, [batch, length, hidden]));
}
