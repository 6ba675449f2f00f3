import { InvalidArgumentError } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { type GatedDiffParameterInputs, gatedDiffParameter } from './gated-diff-parameter.js';
import { checkFloat32, checkSameShape } from './options.js';
import { uniformAt, uniformKey } from './uniform.js';

export interface GatedDiffRowsInputs extends GatedDiffParameterInputs {
  /**
   * The rows (indices along the first axis) to compute, e.g. the distinct token ids of a batch for the
   * word embeddings. Duplicates are allowed (their gradients add up).
   */
  rows: readonly number[] | Int32Array;
}

/** `rows` must be integers in [0, base.shape[0]). */
export function checkRows(rows: unknown, base: tf.Tensor, context: string): void {
  if (base.rank < 1) {
    throw new InvalidArgumentError({
      argument: 'base',
      expected: 'a tensor of rank ≥ 1 (rows index its first axis)',
      found: base.shape,
      context,
    });
  }
  const count = base.shape[0]!;
  if (
    !(Array.isArray(rows) || rows instanceof Int32Array) ||
    !Array.from(rows as ArrayLike<unknown>).every(
      (r) => Number.isInteger(r) && (r as number) >= 0 && (r as number) < count,
    )
  ) {
    throw new InvalidArgumentError({
      argument: 'rows',
      expected: `an array of integers in [0, ${count})`,
      found: Array.isArray(rows) ? rows : String(rows),
      context,
    });
  }
}

/**
 * `gatedDiffParameter` for some rows only: θ[rows] = base[rows] + z[rows] ⊙ z_g ⊙ w[rows], equal (values
 * and gradients) to `tf.gather(gatedDiffParameter(inputs), rows)` with the same `u` or `seed` — with
 * `seed`, row r's noise is the full tensor's (u at flat index r·rowSize + j) — but costing only the
 * gathered entries. For an embedding matrix only the rows a batch looks up reach the loss, so the
 * trainer can gate those (and remap the batch's ids to 0…k−1); w and logα still get full-shape
 * gradients (zero outside `rows`), and the expected-L0 penalty still covers every row.
 */
export function gatedDiffParameterRows(inputs: GatedDiffRowsInputs): tf.Tensor {
  const context = 'gatedDiffParameterRows';
  const { rows, base, seed, u, ...rest } = inputs;
  checkFloat32(base, 'base', context);
  checkRows(rows, base, context);
  for (const [name, tensor] of [
    ['w', inputs.w],
    ['logAlpha', inputs.logAlpha],
    ...(u === undefined ? [] : [['u', u] as const]),
  ] as const) {
    checkFloat32(tensor, name, context);
    checkSameShape(tensor, name, base, context);
  }
  if ((u === undefined) === (seed === undefined)) {
    throw new InvalidArgumentError({
      argument: 'inputs',
      expected: 'exactly one of u or seed',
      found: u === undefined ? 'neither u nor seed' : 'both u and seed',
      context,
    });
  }
  const count = base.shape[0]!;
  const rowSize = base.size / Math.max(count, 1);
  const shape = [rows.length, ...base.shape.slice(1)];
  let rowNoise: tf.Tensor | undefined;
  if (seed !== undefined) {
    const { a, b } = uniformKey(seed, context);
    const values = new Float32Array(rows.length * rowSize);
    for (let r = 0; r < rows.length; r++) {
      const offset = rows[r]! * rowSize;
      for (let j = 0; j < rowSize; j++) values[r * rowSize + j] = uniformAt(offset + j, a, b);
    }
    rowNoise = tf.tensor(values, shape, 'float32');
  }
  const indices = tf.tensor1d(Int32Array.from(rows), 'int32');
  try {
    return tf.tidy(() =>
      gatedDiffParameter({
        ...rest,
        base: tf.gather(base, indices),
        w: tf.gather(inputs.w, indices),
        logAlpha: tf.gather(inputs.logAlpha, indices),
        u: rowNoise ?? tf.gather(u as tf.Tensor, indices),
      }),
    );
  } finally {
    indices.dispose();
    rowNoise?.dispose();
  }
}
