import { InvalidArgumentError } from '@diffprune/core';
import type * as tf from '@tensorflow/tfjs-core';
import { type GatedDiffParameterInputs, validate } from './gated-diff-parameter.js';
import { gatedDiffParameters } from './gated-diff-parameters.js';

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
  if (!(Array.isArray(rows) || rows instanceof Int32Array) || !allRowsIn(rows, count)) {
    throw new InvalidArgumentError({
      argument: 'rows',
      expected: `an array of integers in [0, ${count})`,
      found: Array.isArray(rows) ? rows : String(rows),
      context,
    });
  }
}

/** Whether every entry is an integer in [0, count) (a loop: the trainer checks ~1,000 rows a step). */
function allRowsIn(rows: ArrayLike<unknown>, count: number): boolean {
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!(Number.isInteger(r) && (r as number) >= 0 && (r as number) < count)) return false;
  }
  return true;
}

/**
 * `gatedDiffParameter` for some rows only: θ[rows] = base[rows] + z[rows] ⊙ z_g ⊙ w[rows], equal (values
 * and gradients) to `tf.gather(gatedDiffParameter(inputs), rows)` with the same `u` or `seed` — with
 * `seed`, row r's noise is the full tensor's (u at flat index r·rowSize + j) — but costing only the
 * gathered entries: `gatedDiffParameters` with this one tensor and its `rows`, without the penalty. For
 * an embedding matrix only the rows a batch looks up reach the loss, so the trainer can gate those (and
 * remap the batch's ids to 0…k−1); w and logα still get full-shape gradients (zero outside `rows`).
 */
export function gatedDiffParameterRows(inputs: GatedDiffRowsInputs): tf.Tensor {
  const context = 'gatedDiffParameterRows';
  const { rows, beta, limits, uBounds, ...tensor } = inputs;
  validate(inputs, context);
  checkRows(rows, inputs.base, context);
  const options = {
    ...(beta === undefined ? {} : { beta }),
    ...(limits === undefined ? {} : { limits }),
    ...(uBounds === undefined ? {} : { uBounds }),
  };
  const { parameters, penalty } = gatedDiffParameters([{ ...tensor, rows }], options);
  penalty.dispose();
  return parameters[0]!;
}
