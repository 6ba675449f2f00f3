import {
  CheckpointMismatchError,
  createRng,
  type KeyShapeMismatch,
  type ParameterMap,
  type ParameterSpec,
} from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';

/** A checkpoint tensor as `readCheckpointTensors` (@diffprune/bert) gives it. */
export interface CheckpointTensor {
  name: string;
  shape: number[];
  values: Float32Array;
}

export interface ParametersFromCheckpointOptions {
  /** A checkpoint key's canonical (spec) name, or undefined for keys to ignore (buffers, MLM heads). */
  canonicalName: (key: string) => string | undefined;
  /** Hub id or directory, for errors. */
  source: string;
  /** Seed for created head weights. */
  seed?: number;
  /** Standard deviation of created head weights (HF: `initializer_range`); biases are 0. */
  initializerRange: number;
  /** Re-create head parameters of another shape (HF `ignore_mismatched_sizes`) instead of failing. */
  replaceMismatchedHead?: boolean;
}

/**
 * Builds the parameter map of `specs` from checkpoint tensors, for any family: checks every key and
 * shape and reports all missing, unexpected and mis-shaped keys in one `CheckpointMismatchError`.
 * A checkpoint with no head parameter at all gets a new head, as HF initialises one (weights
 * N(0, initializer_range²) seeded per name, biases 0); the names are returned in `created`.
 */
export function parametersFromCheckpoint(
  tensors: readonly CheckpointTensor[],
  specs: readonly ParameterSpec[],
  options: ParametersFromCheckpointOptions,
): { params: ParameterMap; created: string[] } {
  const bySpec = new Map(specs.map((spec) => [spec.name, spec]));
  const found = new Map<string, CheckpointTensor>();
  const unexpected: string[] = [];
  const mismatched: KeyShapeMismatch[] = [];
  const replaced = new Set<string>();
  for (const tensor of tensors) {
    const name = options.canonicalName(tensor.name);
    if (name === undefined) continue;
    const spec = bySpec.get(name);
    if (!spec || found.has(name)) {
      unexpected.push(tensor.name);
      continue;
    }
    found.set(name, tensor);
    if (spec.shape.length !== tensor.shape.length || spec.shape.some((d, i) => d !== tensor.shape[i])) {
      // HF `ignore_mismatched_sizes`: a head of another label count is re-created, not an error.
      if (spec.head && options.replaceMismatchedHead) replaced.add(name);
      else mismatched.push({ name: tensor.name, expected: spec.shape, found: tensor.shape });
    }
  }
  for (const name of replaced) found.delete(name);
  const hasHead = specs.some((spec) => spec.head && found.has(spec.name));
  const missing = specs
    .filter((spec) => !found.has(spec.name) && !replaced.has(spec.name) && (hasHead || !spec.head))
    .map((spec) => spec.name);
  if (missing.length > 0 || unexpected.length > 0 || mismatched.length > 0) {
    throw new CheckpointMismatchError({ source: options.source, missing, unexpected, mismatched });
  }
  const params: ParameterMap = {};
  const created: string[] = [];
  for (const spec of specs) {
    const tensor = found.get(spec.name);
    if (tensor) {
      params[spec.name] = tf.tensor(tensor.values, [...spec.shape], 'float32');
      continue;
    }
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    if (spec.kind === 'weight') {
      const rng = createRng((options.seed ?? 0) >>> 0).fork(spec.name);
      for (let i = 0; i < size; i++) values[i] = rng.normal() * options.initializerRange;
    }
    params[spec.name] = tf.tensor(values, [...spec.shape], 'float32');
    created.push(spec.name);
  }
  return { params, created };
}

/**
 * A canonical-name function for HF checkpoints of `prefix` (e.g. `roberta`): keys under `ignored`
 * prefixes and `*.position_ids` buffers are dropped, TF-era `gamma`/`beta` become `weight`/`bias`,
 * and keys of a bare base model (`embeddings.…`, `encoder.…`) get the prefix.
 */
export function prefixedCanonicalName(
  prefix: string,
  ignored: readonly string[],
  baseModules: readonly string[],
): (key: string) => string | undefined {
  return (key) => {
    if (key.endsWith('.position_ids') || ignored.some((start) => key.startsWith(start))) return undefined;
    const name = key
      .replace(/\.LayerNorm\.gamma$/, '.LayerNorm.weight')
      .replace(/\.LayerNorm\.beta$/, '.LayerNorm.bias');
    if (baseModules.some((module) => name.startsWith(`${module}.`))) return `${prefix}.${name}`;
    return name;
  };
}
