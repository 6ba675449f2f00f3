import type { ParameterMap } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { type ApplyDiffOptions, applyDiff } from './apply.js';
import type { SparseDiff, TensorArrays } from './types.js';

/** Options of {@link applyDiffToParameters}: applyDiff's checks and scatter-add, and the created names. */
export interface ApplyDiffToParametersOptions extends Omit<ApplyDiffOptions, 'inPlace'> {
  /**
   * Parameters the loader created rather than read from the base (a head re-created for the diff's
   * label count): they are not part of the base, the diff adds them.
   */
  created?: readonly string[];
}

/**
 * θ = base + δ over a loaded model's parameter tensors: the model's tensors (less the `created` ones)
 * are the base, the diff is applied to them (fingerprint and base-file checks as in
 * {@link applyDiff}), and every parameter of `params` is rebuilt as a new float32 tensor (a copy
 * where the diff leaves it alone). A diff made from checkpoint files (`diffprune diff create`)
 * lists every base tensor, also those the model does not use (an MLM head): untouched ones the model
 * lacks are left out; a tensor with entries that the model lacks still fails in applyDiff, by name.
 *
 * `params` is read, never disposed; the caller disposes the returned tensors. Browser-safe: the
 * shared step of Node's `loadWithDiff` (@diffprune/training) and the web app's task switch.
 */
export async function applyDiffToParameters(
  params: ParameterMap,
  diff: SparseDiff,
  options: ApplyDiffToParametersOptions = {},
): Promise<ParameterMap> {
  const { created = [], ...applyOptions } = options;
  const createdNames = new Set(created);
  const base: TensorArrays = {};
  for (const [name, tensor] of Object.entries(params)) {
    if (!createdNames.has(name))
      base[name] = { shape: [...tensor.shape], values: (await tensor.data()) as Float32Array };
  }
  const relevant: SparseDiff = {
    ...diff,
    tensors: diff.tensors.filter((t) => t.name in params || t.kind !== 'sparse' || t.indices.length > 0),
  };
  const tuned = applyDiff(base, relevant, applyOptions);
  const out: ParameterMap = {};
  for (const [name, tensor] of Object.entries(params)) {
    const entry = tuned[name];
    out[name] = entry ? tf.tensor(entry.values, entry.shape, 'float32') : tf.clone(tensor);
  }
  return out;
}
