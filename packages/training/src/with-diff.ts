import { InvalidArgumentError, type LoadBackboneOptions, type LoadedBackbone } from '@diffprune/core';
import {
  applyDiff,
  fingerprintBaseFiles,
  fingerprintCheckpoint,
  readDiff,
  type ScatterAdd,
  type SparseDiff,
  type TensorArrays,
} from '@diffprune/sparse-diff';
import * as tf from '@tensorflow/tfjs-core';
import { headOutputs, loadBackbone } from './backbones.js';
import { parameterArrays } from './data.js';

/** The number of head outputs a diff carries (its head output tensor, for any family), if it has a head. */
export function headSizeOf(diff: SparseDiff): number | undefined {
  return headOutputs(diff.tensors);
}

/** Options of {@link loadWithDiff}: hub options for the base, the expected head size, a scatter-add. */
export type LoadWithDiffOptions = Partial<LoadBackboneOptions> & {
  /** The head size the caller expects (the task's labels); a diff with another head is refused. */
  numLabels?: number;
  /**
   * A faster scatter-add for applying δ (e.g. @diffprune/native's `nativeScatterAdd()`, which the app
   * passes where the addon loads: a library never picks a backend); default applyDiff's JS loop.
   * The results are identical.
   */
  scatterAdd?: ScatterAdd;
};

/**
 * Loads a base model and applies a task diff to it: checks that the diff was made for this base
 * (its fingerprint), then rebuilds every parameter as base + δ (dense head tensors replace or add).
 */
export async function loadWithDiff(
  model: string,
  diffPath: string,
  options: LoadWithDiffOptions = {},
): Promise<{ loaded: LoadedBackbone; diff: SparseDiff }> {
  const diff = await readDiff(diffPath);
  const numLabels = headSizeOf(diff) ?? options.numLabels;
  if (numLabels === undefined) {
    throw new InvalidArgumentError({
      argument: '--diff',
      expected: 'a diff with a classifier head',
      found: diffPath,
    });
  }
  if (options.numLabels !== undefined && options.numLabels !== numLabels) {
    throw new InvalidArgumentError({
      argument: '--diff',
      expected: `a head with ${options.numLabels} outputs (the task's labels)`,
      found: `${numLabels} outputs in ${diffPath}`,
    });
  }
  const { scatterAdd, numLabels: _expected, ...hub } = options;
  // The diff's dense head replaces a base head of another label count (trained with it re-created).
  const loaded = await loadBackbone(model, { ...hub, head: { numLabels }, replaceMismatchedHead: true });
  let tuned: TensorArrays;
  try {
    tuned = await applyToBase(loaded, diff, scatterAdd);
  } catch (error) {
    // A refused diff (another base, config or tokenizer; a shape) leaves no tensors behind.
    tf.dispose(Object.values(loaded.params));
    throw error;
  }
  const params: LoadedBackbone['params'] = {};
  for (const [name, tensor] of Object.entries(loaded.params)) {
    const entry = tuned[name];
    params[name] = entry ? tf.tensor(entry.values, entry.shape, 'float32') : tf.clone(tensor);
  }
  tf.dispose(Object.values(loaded.params));
  return { loaded: { ...loaded, params }, diff };
}

/** θ = base + δ over the loaded base's arrays (its created head left out: the diff adds it). */
async function applyToBase(
  loaded: LoadedBackbone,
  diff: SparseDiff,
  scatterAdd: ScatterAdd | undefined,
): Promise<TensorArrays> {
  const fingerprint = await fingerprintCheckpoint(loaded.source.directory);
  const created = new Set(loaded.created);
  // Created heads are not part of the base; the diff adds them.
  const base: TensorArrays = await parameterArrays(
    Object.fromEntries(Object.entries(loaded.params).filter(([name]) => !created.has(name))),
  );
  // A diff made from checkpoint files (`diffprune diff create`) lists every base tensor, also those
  // the backbone does not use (an MLM head): untouched ones it lacks are irrelevant. A tensor with
  // entries that the model lacks still fails in applyDiff, by name.
  const relevant: SparseDiff = {
    ...diff,
    tensors: diff.tensors.filter(
      (t) => t.name in loaded.params || t.kind !== 'sparse' || t.indices.length > 0,
    ),
  };
  return applyDiff(base, relevant, {
    baseFingerprint: fingerprint,
    baseFiles: await fingerprintBaseFiles(loaded.source.directory),
    ...(scatterAdd ? { scatterAdd } : {}),
  });
}
