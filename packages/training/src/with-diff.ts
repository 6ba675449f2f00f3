import { InvalidArgumentError, type LoadBackboneOptions, type LoadedBackbone } from '@diffprune/core';
import {
  applyDiffToParameters,
  fingerprintBaseFiles,
  fingerprintCheckpoint,
  readDiff,
  type ScatterAdd,
  type SparseDiff,
} from '@diffprune/sparse-diff';
import * as tf from '@tensorflow/tfjs-core';
import { headOutputs, loadBackbone } from './backbones.js';

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
  try {
    // θ = base + δ; created heads are not part of the base: the diff adds them.
    const params = await applyDiffToParameters(loaded.params, diff, {
      created: loaded.created,
      baseFingerprint: await fingerprintCheckpoint(loaded.source.directory),
      baseFiles: await fingerprintBaseFiles(loaded.source.directory),
      ...(scatterAdd ? { scatterAdd } : {}),
    });
    return { loaded: { ...loaded, params }, diff };
  } finally {
    // The base tensors either way: a refused diff (another base, config or tokenizer; a shape)
    // leaves no tensors behind.
    tf.dispose(Object.values(loaded.params));
  }
}
