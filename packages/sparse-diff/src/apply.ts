import {
  CheckpointMismatchError,
  InvalidArgumentError,
  type KeyShapeMismatch,
  ShapeMismatchError,
} from '@diffprune/core';
import { checkBaseFiles } from './base-files.js';
import { own, sameShape, setOwn, tensorMap } from './checks.js';
import { BaseMismatchError } from './errors.js';
import type { BaseFilesHashes, SparseDiff, TensorArrays } from './types.js';

/**
 * Adds `values·scale` at `indices` (strictly increasing, in range) into `target`, in place. The
 * default is a JS loop; `@diffprune/native`'s `nativeScatterAdd()` does the same with prefetching
 * (the adds are cache misses spread over the whole parameter set), several times faster.
 */
export type ScatterAdd = (
  target: Float32Array,
  indices: Uint32Array,
  values: Float32Array,
  scale: 1 | -1,
) => void;

/** The default `ScatterAdd`: a plain loop (float32 sums, like the trainer's θ_pre + δ). */
export const scatterAddLoop: ScatterAdd = (target, indices, values, scale) => {
  if (scale === 1) for (let i = 0; i < indices.length; i++) target[indices[i]!]! += values[i]!;
  else for (let i = 0; i < indices.length; i++) target[indices[i]!]! -= values[i]!;
};

export interface ApplyDiffOptions {
  /**
   * Update `base`'s arrays in place and return `base` (with added/replaced tensors set on it).
   * Default false: changed tensors are copied; untouched tensors are shared with `base`, not copied.
   */
  inPlace?: boolean;
  /** The base's fingerprint (e.g. `fingerprintCheckpoint(dir)`): refuse a diff made for another base. */
  baseFingerprint?: string;
  /**
   * The base's config and tokenizer hashes (`fingerprintBaseFiles(dir)`): refuse a diff made with
   * another config.json or tokenizer (`BaseFilesMismatchError`); diffs without them are not checked.
   */
  baseFiles?: BaseFilesHashes;
  /** The scatter-add to use (default `scatterAddLoop`; e.g. `nativeScatterAdd()` from @diffprune/native). */
  scatterAdd?: ScatterAdd;
}

/** Every problem between a diff and a base's names and shapes, all at once (or a single shape error). */
export function checkBaseStructure(base: TensorArrays, diff: SparseDiff, context: string): void {
  const missing: string[] = [];
  const unexpected: string[] = [];
  const mismatched: KeyShapeMismatch[] = [];
  for (const t of diff.tensors) {
    const b = own(base, t.name);
    if (t.kind === 'add') {
      if (b) unexpected.push(t.name);
      continue;
    }
    if (!b) missing.push(t.name);
    else if (!sameShape(b.shape, t.shape))
      mismatched.push({ name: t.name, expected: t.shape, found: b.shape });
  }
  if (missing.length === 0 && unexpected.length === 0 && mismatched.length === 1) {
    const m = mismatched[0]!;
    throw new ShapeMismatchError({ tensor: m.name, expected: m.expected, found: m.found, context });
  }
  if (missing.length + unexpected.length + mismatched.length > 0)
    throw new CheckpointMismatchError({ source: context, missing, unexpected, mismatched });
}

/**
 * θ = base + diff, tensor by tensor: sparse δ are added at their positions (no dense δ is built),
 * dense tensors replace or are added. Sums are float32, like the trainer's θ_pre + δ.
 */
export function applyDiff(
  base: TensorArrays,
  diff: SparseDiff,
  options: ApplyDiffOptions = {},
): TensorArrays {
  if (options.baseFingerprint !== undefined && options.baseFingerprint !== diff.provenance.baseFingerprint)
    throw new BaseMismatchError({
      expected: diff.provenance.baseFingerprint,
      found: options.baseFingerprint,
      context: 'applyDiff',
    });
  checkBaseFiles(diff, options.baseFiles, 'applyDiff');
  checkBaseStructure(base, diff, 'applyDiff (diff vs base)');
  const scatterAdd = options.scatterAdd ?? scatterAddLoop;
  const out: TensorArrays = options.inPlace ? base : tensorMap(base);
  for (const t of diff.tensors) {
    if (t.kind !== 'sparse') {
      setOwn(out, t.name, { shape: [...t.shape], values: t.values.slice() });
      continue;
    }
    const { indices, values } = t;
    if (indices.length === 0) continue;
    const b = own(base, t.name)!;
    const target = options.inPlace ? b.values : b.values.slice();
    scatterAdd(target, indices, values, 1);
    if (!options.inPlace) setOwn(out, t.name, { shape: b.shape, values: target });
  }
  return out;
}

export interface RevertDiffOptions {
  inPlace?: boolean;
  /** As in `applyDiff` (called with scale −1). */
  scatterAdd?: ScatterAdd;
  /**
   * The base's original values of tensors the diff replaces (a diff does not hold them). Without
   * them, reverting a diff with replaced tensors throws.
   */
  replaced?: TensorArrays;
}

/**
 * base = θ − diff: sparse δ are subtracted (float32, so exact only where θ = base + δ was), added
 * tensors are removed, replaced tensors are restored from `options.replaced`.
 */
export function revertDiff(
  tuned: TensorArrays,
  diff: SparseDiff,
  options: RevertDiffOptions = {},
): TensorArrays {
  // Structure: every diff tensor (added ones too) must be in tuned with its shape.
  const missing = diff.tensors.filter((t) => !own(tuned, t.name)).map((t) => t.name);
  const mismatched = diff.tensors
    .filter((t) => own(tuned, t.name) && !sameShape(own(tuned, t.name)!.shape, t.shape))
    .map((t) => ({ name: t.name, expected: t.shape, found: own(tuned, t.name)!.shape }));
  if (missing.length + mismatched.length > 0)
    throw new CheckpointMismatchError({
      source: 'revertDiff (diff vs tuned)',
      missing,
      unexpected: [],
      mismatched,
    });
  const replaced = diff.tensors.filter((t) => t.kind === 'replace').map((t) => t.name);
  const lacking = replaced.filter((name) => !(options.replaced && own(options.replaced, name)));
  if (lacking.length > 0)
    throw new InvalidArgumentError({
      argument: 'options.replaced',
      expected: 'the base values of every tensor the diff replaces',
      found: `none for ${lacking.join(', ')}`,
    });
  const out: TensorArrays = options.inPlace ? tuned : tensorMap(tuned);
  for (const t of diff.tensors) {
    if (t.kind === 'add') {
      delete out[t.name];
    } else if (t.kind === 'replace') {
      const original = own(options.replaced!, t.name)!;
      if (!sameShape(original.shape, t.shape))
        throw new ShapeMismatchError({
          tensor: t.name,
          expected: t.shape,
          found: original.shape,
          context: 'options.replaced',
        });
      setOwn(out, t.name, { shape: [...original.shape], values: original.values.slice() });
    } else if (t.kind === 'sparse' && t.indices.length > 0) {
      const v = own(tuned, t.name)!;
      const target = options.inPlace ? v.values : v.values.slice();
      (options.scatterAdd ?? scatterAddLoop)(target, t.indices, t.values, -1);
      if (!options.inPlace) setOwn(out, t.name, { shape: v.shape, values: target });
    }
  }
  return out;
}
