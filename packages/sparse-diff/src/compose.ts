import { InvalidArgumentError, ShapeMismatchError } from '@diffprune/core';
import { checkBaseFiles } from './base-files.js';
import { compareNames, own, sameShape } from './checks.js';
import { provenanceRecord } from './create.js';
import { BaseMismatchError } from './errors.js';
import type {
  DiffProvenance,
  DiffTensor,
  IndexEncoding,
  SparseDiff,
  SparseDiffTensor,
  TensorArrays,
  ValueDtype,
} from './types.js';
import { parseValueDtype, storedValues } from './values.js';
import { formatVersion } from './version.js';

export interface ComposeDiffsOptions {
  /** Value dtype of the result; default F32 (sums are exact in float32 arithmetic, then stored). */
  valueDtype?: ValueDtype;
  /** Index encoding of the result; default the first diff's encoding per tensor. */
  indexEncoding?: IndexEncoding;
  /** The base, needed only when two diffs replace the same tensor (θ = r1 + r2 − base). */
  base?: TensorArrays;
  /** Provenance of the result; default: the first diff's base, method `compose`, tasks joined by `+`. */
  provenance?: DiffProvenance;
  createdAt?: Date | string;
  /**
   * Task heads (e.g. `classifier.weight`, `classifier.bias`): each task diff carries its own, so they
   * are not summed. Only diff number `keep` (0-based) contributes its head tensors; without `keep`
   * the result has none (the heads stay apart, in their own diffs).
   */
  heads?: { names: readonly string[]; keep?: number };
}

/** Entries present in more than one diff, per tensor. */
export interface ComposeOverlap {
  tensor: string;
  /** Positions changed by more than one diff (for dense tensors: every element). */
  entries: number;
  /** How many of the diffs touch the tensor. */
  diffs: number;
}

/** Merges sorted sparse entries, summing values where positions coincide; counts shared positions. */
function mergeSparse(
  a: { indices: Uint32Array; values: Float32Array; count: Uint8Array },
  b: SparseDiffTensor,
) {
  const n = a.indices.length + b.indices.length;
  const indices = new Uint32Array(n);
  const values = new Float32Array(n);
  const count = new Uint8Array(n);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.indices.length || j < b.indices.length) {
    const p = i < a.indices.length ? a.indices[i]! : Number.POSITIVE_INFINITY;
    const q = j < b.indices.length ? b.indices[j]! : Number.POSITIVE_INFINITY;
    if (p < q) {
      indices[k] = p;
      values[k] = a.values[i]!;
      count[k++] = a.count[i++]!;
    } else if (q < p) {
      indices[k] = q;
      values[k] = b.values[j++]!;
      count[k++] = 1;
    } else {
      indices[k] = p;
      values[k] = a.values[i]! + b.values[j++]!;
      count[k++] = Math.min(255, a.count[i++]! + 1);
    }
  }
  return { indices: indices.slice(0, k), values: values.slice(0, k), count: count.slice(0, k) };
}

/**
 * The sum of several diffs of the same base: θ = base + Σ δ. Sparse positions are the union (values
 * summed where they coincide); a dense replacement plus sparse δ becomes a replacement with δ added;
 * two replacements of one tensor need `options.base`; a tensor added twice is refused.
 */
export function composeDiffs(
  diffs: readonly SparseDiff[],
  options: ComposeDiffsOptions = {},
): { diff: SparseDiff; overlaps: ComposeOverlap[] } {
  if (diffs.length === 0)
    throw new InvalidArgumentError({ argument: 'diffs', expected: 'at least one diff', found: 0 });
  const first = diffs[0]!;
  for (const d of diffs.slice(1)) {
    if (d.provenance.baseFingerprint !== first.provenance.baseFingerprint)
      throw new BaseMismatchError({
        expected: first.provenance.baseFingerprint,
        found: d.provenance.baseFingerprint,
        context: 'composeDiffs (all diffs must share a base)',
      });
  }
  // Parts written before format 1.2 lack the base's config/tokenizer hashes: keep those of the others.
  const baseFiles = diffs.find((d) => d.provenance.baseFiles)?.provenance.baseFiles;
  for (const d of diffs) checkBaseFiles(d, baseFiles, 'composeDiffs (all diffs must share a base)');
  const valueDtype = options.valueDtype ? parseValueDtype(options.valueDtype) : 'F32';
  const heads = new Set(options.heads?.names ?? []);
  const keep = options.heads?.keep;
  if (keep !== undefined && !(Number.isInteger(keep) && keep >= 0 && keep < diffs.length))
    throw new InvalidArgumentError({
      argument: 'options.heads.keep',
      expected: `the index of a diff in [0, ${diffs.length})`,
      found: keep,
    });
  const byName = new Map<string, DiffTensor[]>();
  for (const [index, d] of diffs.entries()) {
    for (const t of d.tensors) {
      if (heads.has(t.name) && index !== keep) continue;
      const list = byName.get(t.name) ?? [];
      if (list.length > 0 && !sameShape(list[0]!.shape, t.shape))
        throw new ShapeMismatchError({
          tensor: t.name,
          expected: list[0]!.shape,
          found: t.shape,
          context: 'composeDiffs',
        });
      list.push(t);
      byName.set(t.name, list);
    }
  }
  const tensors: DiffTensor[] = [];
  const overlaps: ComposeOverlap[] = [];
  for (const name of [...byName.keys()].sort(compareNames)) {
    const parts = byName.get(name)!;
    const sparse = parts.filter((t): t is SparseDiffTensor => t.kind === 'sparse');
    const replaced = parts.filter((t) => t.kind === 'replace');
    const added = parts.filter((t) => t.kind === 'add');
    const touching = parts.filter((t) => t.kind !== 'sparse' || t.indices.length > 0).length;
    if (added.length > 0 && added.length !== parts.length)
      throw new InvalidArgumentError({
        argument: 'diffs',
        expected: `${name} added by every diff that has it, or by none`,
        found: 'added in one diff, present in the base for another',
      });
    if (added.length > 1)
      throw new InvalidArgumentError({
        argument: 'diffs',
        expected: `${name} added by at most one diff`,
        found: added.length,
      });
    const shape = [...parts[0]!.shape];
    if (added.length === 1 || replaced.length > 0) {
      let values: Float32Array;
      if (added.length === 1) values = added[0]!.values.slice();
      else if (replaced.length === 1) values = replaced[0]!.values.slice();
      else {
        const base = options.base ? own(options.base, name) : undefined;
        if (!base)
          throw new InvalidArgumentError({
            argument: 'options.base',
            expected: `the base tensor ${name} (replaced by ${replaced.length} diffs)`,
            found: 'none',
          });
        values = base.values.slice();
        for (const r of replaced)
          for (let i = 0; i < values.length; i++) values[i] = values[i]! + r.values[i]! - base.values[i]!;
      }
      for (const s of sparse)
        for (let i = 0; i < s.indices.length; i++) values[s.indices[i]!]! += s.values[i]!;
      if (touching > 1) overlaps.push({ tensor: name, entries: values.length, diffs: touching });
      tensors.push({
        kind: added.length === 1 ? 'add' : 'replace',
        name,
        shape,
        dtype: parts[0]!.dtype,
        valueDtype,
        ...storedValues(values, valueDtype),
      });
      continue;
    }
    let merged = { indices: new Uint32Array(0), values: new Float32Array(0), count: new Uint8Array(0) };
    for (const s of sparse) merged = mergeSparse(merged, s);
    let shared = 0;
    for (const c of merged.count) if (c > 1) shared++;
    if (shared > 0) overlaps.push({ tensor: name, entries: shared, diffs: touching });
    tensors.push({
      kind: 'sparse',
      name,
      shape,
      dtype: parts[0]!.dtype,
      indexEncoding: options.indexEncoding ?? sparse[0]!.indexEncoding,
      valueDtype,
      indices: merged.indices,
      ...storedValues(merged.values, valueDtype),
    });
  }
  const p = first.provenance;
  const provenance = provenanceRecord(
    options.provenance ?? {
      baseModel: p.baseModel,
      baseFingerprint: p.baseFingerprint,
      ...(baseFiles ? { baseFiles } : {}),
      method: 'compose',
      settings: {
        parts: diffs.map((d) => ({
          method: d.provenance.method,
          task: d.provenance.task,
          settings: d.provenance.settings,
        })),
      },
      task: diffs.map((d) => d.provenance.task).join('+'),
    },
    options.createdAt,
  );
  return { diff: { formatVersion, provenance, tensors }, overlaps };
}
