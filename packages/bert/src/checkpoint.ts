import {
  CheckpointMismatchError,
  checkFinite,
  createRng,
  FormatError,
  type HeadSpec,
  type KeyShapeMismatch,
  type ParameterMap,
  type ParameterSpec,
  type SafetensorsTensor,
  toFloat32,
} from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import type { BertConfig } from './config.js';
import { bertParameterSpecs, canonicalParameterName } from './parameters.js';

/** Float tensors a checkpoint may hold; they are converted to float32 on load. */
const floatDtypes = new Set(['F32', 'F16', 'BF16', 'F64']);

/** A checkpoint tensor decoded to float32, under its key as stored. */
export interface CheckpointTensor {
  name: string;
  shape: number[];
  values: Float32Array;
}

/**
 * A safetensors tensor decoded to float32 (F16, BF16, F64 widened), refusing NaN and ±Infinity
 * (`path` names the file in errors). Integer buffers the model does not use (position_ids) decode
 * to no values.
 */
export const decodeCheckpointTensor = (tensor: SafetensorsTensor, path: string): CheckpointTensor => {
  if (!floatDtypes.has(tensor.dtype)) {
    // Integer buffers such as `position_ids` are skipped by name later; keep them out of float decoding.
    if (canonicalParameterName(tensor.name) === undefined) {
      return { name: tensor.name, shape: tensor.shape, values: new Float32Array(0) };
    }
    throw new FormatError({
      path,
      what: tensor.name,
      expected: 'a float tensor (F32, F16, BF16 or F64)',
      found: tensor.dtype,
    });
  }
  const values = toFloat32(tensor);
  // A NaN or ±Infinity in a base would train and evaluate to made-up numbers: refuse it here.
  checkFinite(values, { tensor: tensor.name, path });
  return { name: tensor.name, shape: tensor.shape, values };
};

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
 * The head is the specs marked `head`. A checkpoint with no head parameter at all gets a new head
 * as HF's `_init_weights` initialises one: every weight (`kind: 'weight'`, the Linear layers)
 * N(0, initializer_range²) seeded per name, every other head parameter (biases) 0; the names are
 * returned in `created`.
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

export interface BertParametersResult {
  params: ParameterMap;
  /** Names of parameters created because the checkpoint lacked them (the classifier). */
  created: string[];
}

/**
 * `parametersFromCheckpoint` with BERT's specs (`bertParameterSpecs(config, head)`) and names:
 * maps name variants to HF names, ignores MLM/NSP heads. A checkpoint without a classifier gets
 * one: weight N(0, initializer_range²) from `seed`, bias 0 (as HF initialises it).
 */
export function bertParametersFromCheckpoint(
  tensors: readonly CheckpointTensor[],
  config: BertConfig,
  options: { head: HeadSpec; seed?: number; source: string; replaceMismatchedHead?: boolean },
): BertParametersResult {
  return parametersFromCheckpoint(tensors, bertParameterSpecs(config, options.head), {
    canonicalName: canonicalParameterName,
    source: options.source,
    initializerRange: config.initializerRange,
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.replaceMismatchedHead ? { replaceMismatchedHead: true } : {}),
  });
}
