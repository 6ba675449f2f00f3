import { InvalidArgumentError, ShapeMismatchError } from '@diffprune/core';
import {
  checkIndexEncoding,
  compareNames,
  elementCount,
  maxSparseElements,
  own,
  sameShape,
} from './checks.js';
import type {
  DiffProvenance,
  DiffProvenanceRecord,
  DiffTensor,
  IndexEncoding,
  SparseDiff,
  TensorArrays,
  ValueDtype,
} from './types.js';
import { parseValueDtype, storedValues } from './values.js';
import { formatVersion, libraryName, libraryVersion } from './version.js';

export interface CreateDiffOptions {
  /** The pretrained parameters θ_pre. */
  base: TensorArrays;
  /** The finetuned parameters θ. Tensors absent from `base` are stored whole as added. */
  tuned: TensorArrays;
  /** Names stored whole (e.g. the classifier head), replacing the base tensor. */
  dense?: readonly string[];
  provenance: DiffProvenance;
  /** Default `varint-delta`. */
  indexEncoding?: IndexEncoding;
  /** Storage dtype of sparse δ values; default `F32`. With F16/BF16 the stored value is the rounded δ. */
  valueDtype?: ValueDtype;
  /** Storage dtype of dense tensors; default `F32`. */
  denseValueDtype?: ValueDtype;
  /** Creation time; default now. */
  createdAt?: Date | string;
}

export function provenanceRecord(
  provenance: DiffProvenance,
  createdAt: Date | string | undefined,
): DiffProvenanceRecord {
  const p = provenance as Partial<DiffProvenance> | undefined;
  const bad = (argument: string, expected: string, found: unknown): never => {
    throw new InvalidArgumentError({ argument: `provenance.${argument}`, expected, found });
  };
  if (typeof p !== 'object' || p === null) bad('', 'an object', p);
  if (typeof p!.baseModel?.id !== 'string') bad('baseModel.id', 'a string', p!.baseModel?.id);
  if (typeof p!.baseModel?.revision !== 'string')
    bad('baseModel.revision', 'a string', p!.baseModel?.revision);
  if (typeof p!.baseFingerprint !== 'string' || !/^[0-9a-f]{64}$/.test(p!.baseFingerprint))
    bad('baseFingerprint', 'a sha256 hex digest (64 lowercase hex digits)', p!.baseFingerprint);
  const files = p!.baseFiles;
  if (files !== undefined)
    for (const which of ['config', 'tokenizer'] as const)
      if (typeof files?.[which] !== 'string' || !/^[0-9a-f]{64}$/.test(files[which]))
        bad(`baseFiles.${which}`, 'a sha256 hex digest (64 lowercase hex digits)', files?.[which]);
  if (typeof p!.method !== 'string' || p!.method === '') bad('method', 'a non-empty string', p!.method);
  if (typeof p!.task !== 'string') bad('task', 'a string', p!.task);
  if (typeof p!.settings !== 'object' || p!.settings === null || Array.isArray(p!.settings))
    bad('settings', 'an object', p!.settings);
  const time = createdAt === undefined ? new Date() : new Date(createdAt);
  if (Number.isNaN(time.getTime())) bad('createdAt', 'a date', createdAt);
  return {
    baseModel: { id: p!.baseModel!.id, revision: p!.baseModel!.revision },
    baseFingerprint: p!.baseFingerprint!,
    ...(files ? { baseFiles: { config: files.config, tokenizer: files.tokenizer } } : {}),
    method: p!.method!,
    settings: JSON.parse(JSON.stringify(p!.settings)) as Record<string, unknown>,
    task: p!.task!,
    createdAt: time.toISOString(),
    library: libraryName,
    libraryVersion,
  };
}

function checkValues(name: string, tensor: { shape: number[]; values: Float32Array }, argument: string) {
  if (!(tensor?.values instanceof Float32Array))
    throw new InvalidArgumentError({
      argument: `${argument}.${name}.values`,
      expected: 'a Float32Array',
      found: typeof tensor?.values,
    });
  const n = elementCount(tensor.shape);
  if (tensor.values.length !== n) {
    throw new InvalidArgumentError({
      argument: `${argument}.${name}.values`,
      expected: `${n} values for shape [${tensor.shape.join(', ')}]`,
      found: `${tensor.values.length} values`,
    });
  }
  return n;
}

function checkSparseSize(name: string, n: number) {
  if (n > maxSparseElements)
    throw new InvalidArgumentError({
      argument: name,
      expected: `at most 2^32 elements for a sparse tensor`,
      found: n,
    });
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float32 next to `value` towards +∞ (direction 1) or −∞ (−1). */
function nextFloat32(value: number, direction: 1 | -1): number {
  f32[0] = value;
  if (value === 0) {
    u32[0] = 1;
    return direction * f32[0]!;
  }
  u32[0] = u32[0]! + (value > 0 === direction > 0 ? 1 : -1);
  return f32[0]!;
}

/**
 * The float32 δ with fround(base + δ) = tuned when one exists near fround(tuned − base) (it almost
 * always does): so that applying an F32 diff reproduces tuned exactly.
 */
export function exactDelta(base: number, tuned: number): number {
  const delta = Math.fround(tuned - base);
  if (Math.fround(base + delta) === tuned || !Number.isFinite(delta)) return delta;
  const direction = tuned > Math.fround(base + delta) ? 1 : -1;
  let candidate = delta;
  for (let step = 0; step < 4; step++) {
    candidate = nextFloat32(candidate, direction);
    if (Math.fround(base + candidate) === tuned) return candidate;
  }
  return delta;
}

/** The flat positions where `tuned − base ≠ 0` (in float32), and δ there (see `exactDelta`). */
export function changedEntries(base: Float32Array, tuned: Float32Array) {
  const n = base.length;
  let count = 0;
  for (let i = 0; i < n; i++) if (Math.fround(tuned[i]! - base[i]!) !== 0) count++;
  const indices = new Uint32Array(count);
  const values = new Float32Array(count);
  let j = 0;
  for (let i = 0; i < n; i++) {
    const b = base[i]!;
    const t = tuned[i]!;
    if (Math.fround(t - b) !== 0) {
      indices[j] = i;
      values[j++] = exactDelta(b, t);
    }
  }
  return { indices, values };
}

function checkNameClashes(names: Iterable<string>, sparse: ReadonlySet<string>) {
  const all = new Set(names);
  for (const name of sparse) {
    for (const suffix of ['.indices', '.values']) {
      if (all.has(name + suffix))
        throw new InvalidArgumentError({
          argument: 'tensors',
          expected: `no tensor named ${name + suffix} beside the sparse tensor ${name} (their stored names clash)`,
          found: name + suffix,
        });
    }
  }
}

/**
 * A diff from base and finetuned parameters: every entry of a non-dense tensor with δ ≠ 0 (in
 * float32) is stored; `dense` tensors are stored whole as replacing the base; tensors of `tuned` the
 * base lacks are stored whole as added; base tensors absent from `tuned` are untouched (nnz 0).
 */
export function createDiff(options: CreateDiffOptions): SparseDiff {
  const { base, tuned } = options;
  const indexEncoding = checkIndexEncoding(options.indexEncoding ?? 'varint-delta');
  const valueDtype = parseValueDtype(options.valueDtype ?? 'F32');
  const denseValueDtype = parseValueDtype(options.denseValueDtype ?? 'F32', 'denseValueDtype');
  const provenance = provenanceRecord(options.provenance, options.createdAt);
  const dense = new Set(options.dense ?? []);
  for (const name of dense) {
    if (!Object.hasOwn(tuned, name))
      throw new InvalidArgumentError({
        argument: 'dense',
        expected: 'names of tensors in tuned',
        found: name,
      });
  }
  const names = [...new Set([...Object.keys(base), ...Object.keys(tuned)])].sort(compareNames);
  const tensors: DiffTensor[] = [];
  const sparseNames = new Set<string>();
  for (const name of names) {
    const b = own(base, name);
    const t = own(tuned, name);
    if (b) checkValues(name, b, 'base');
    if (t) checkValues(name, t, 'tuned');
    if (b && t && !sameShape(b.shape, t.shape))
      throw new ShapeMismatchError({
        tensor: name,
        expected: b.shape,
        found: t.shape,
        context: 'tuned vs base',
      });
    if (t && (!b || dense.has(name))) {
      tensors.push({
        kind: b ? 'replace' : 'add',
        name,
        shape: [...t.shape],
        dtype: 'F32',
        valueDtype: denseValueDtype,
        ...storedValues(t.values, denseValueDtype),
      });
      continue;
    }
    const shape = b!.shape;
    checkSparseSize(name, b!.values.length);
    const changed = t
      ? changedEntries(b!.values, t.values)
      : { indices: new Uint32Array(0), values: new Float32Array(0) };
    sparseNames.add(name);
    tensors.push({
      kind: 'sparse',
      name,
      shape: [...shape],
      dtype: 'F32',
      indexEncoding,
      valueDtype,
      indices: changed.indices,
      ...storedValues(changed.values, valueDtype),
    });
  }
  checkNameClashes(names, sparseNames);
  return { formatVersion, provenance, tensors };
}

/** Positions of one sparse tensor: sorted flat `indices`, or a `mask` of length n (nonzero = kept). */
export type MaskedEntries =
  | { indices: ArrayLike<number>; values: Float32Array }
  | { mask: ArrayLike<number | boolean>; values: Float32Array };

export interface CreateDiffFromMaskOptions {
  /** Shapes of every base tensor (tensors without entries are untouched). */
  shapes: Record<string, readonly number[]>;
  /**
   * Sparse entries per tensor. With `indices`, `values` has one δ per index. With `mask`, `values`
   * has one δ per kept entry (in order) or one per element (read at the kept positions).
   */
  sparse: Record<string, MaskedEntries>;
  /** Tensors stored whole, replacing the base tensor (e.g. the classifier head). */
  dense?: TensorArrays;
  /** Tensors the base lacks, stored whole. */
  added?: TensorArrays;
  provenance: DiffProvenance;
  indexEncoding?: IndexEncoding;
  valueDtype?: ValueDtype;
  denseValueDtype?: ValueDtype;
  createdAt?: Date | string;
}

function sparseFromEntries(name: string, n: number, entries: MaskedEntries) {
  const argument = `sparse.${name}`;
  if (!(entries.values instanceof Float32Array))
    throw new InvalidArgumentError({
      argument: `${argument}.values`,
      expected: 'a Float32Array',
      found: typeof entries.values,
    });
  if ('mask' in entries) {
    const { mask, values } = entries;
    if (mask.length !== n)
      throw new InvalidArgumentError({
        argument: `${argument}.mask`,
        expected: `${n} entries`,
        found: `${mask.length}`,
      });
    let count = 0;
    for (let i = 0; i < n; i++) if (mask[i]) count++;
    if (values.length !== count && values.length !== n) {
      throw new InvalidArgumentError({
        argument: `${argument}.values`,
        expected: `${count} values (one per kept entry) or ${n} (one per element)`,
        found: `${values.length}`,
      });
    }
    const indices = new Uint32Array(count);
    const kept = new Float32Array(count);
    let j = 0;
    for (let i = 0; i < n; i++) {
      if (mask[i]) {
        indices[j] = i;
        kept[j] = values.length === n ? values[i]! : values[j]!;
        j++;
      }
    }
    return { indices, values: kept };
  }
  const { indices, values } = entries;
  if (values.length !== indices.length) {
    throw new InvalidArgumentError({
      argument: `${argument}.values`,
      expected: `${indices.length} values (one per index)`,
      found: `${values.length}`,
    });
  }
  const positions = new Uint32Array(indices.length);
  let previous = -1;
  for (let i = 0; i < indices.length; i++) {
    const p = indices[i]!;
    if (!Number.isInteger(p) || p < 0 || p >= n)
      throw new InvalidArgumentError({
        argument: `${argument}.indices[${i}]`,
        expected: `an integer in [0, ${n})`,
        found: p,
      });
    if (p <= previous)
      throw new InvalidArgumentError({
        argument: `${argument}.indices[${i}]`,
        expected: `strictly increasing positions (> ${previous})`,
        found: p,
      });
    positions[i] = p;
    previous = p;
  }
  return { indices: positions, values: values.slice() };
}

/** A diff from known positions (or a mask) and their δ values, e.g. after fixed-mask finetuning. */
export function createDiffFromMask(options: CreateDiffFromMaskOptions): SparseDiff {
  const indexEncoding = checkIndexEncoding(options.indexEncoding ?? 'varint-delta');
  const valueDtype = parseValueDtype(options.valueDtype ?? 'F32');
  const denseValueDtype = parseValueDtype(options.denseValueDtype ?? 'F32', 'denseValueDtype');
  const provenance = provenanceRecord(options.provenance, options.createdAt);
  const dense = options.dense ?? {};
  const added = options.added ?? {};
  const { shapes, sparse } = options;
  for (const name of Object.keys(sparse)) {
    if (!Object.hasOwn(shapes, name))
      throw new InvalidArgumentError({
        argument: 'sparse',
        expected: 'names of base tensors (in shapes)',
        found: name,
      });
    if (Object.hasOwn(dense, name))
      throw new InvalidArgumentError({
        argument: 'dense',
        expected: 'tensors not also in sparse',
        found: name,
      });
  }
  for (const [name, t] of Object.entries(dense)) {
    if (!Object.hasOwn(shapes, name))
      throw new InvalidArgumentError({
        argument: 'dense',
        expected: 'names of base tensors (in shapes)',
        found: name,
      });
    if (!sameShape(own(shapes, name)!, t.shape))
      throw new ShapeMismatchError({
        tensor: name,
        expected: own(shapes, name)!,
        found: t.shape,
        context: 'dense vs base',
      });
    checkValues(name, t, 'dense');
  }
  for (const [name, t] of Object.entries(added)) {
    if (Object.hasOwn(shapes, name))
      throw new InvalidArgumentError({ argument: 'added', expected: 'tensors the base lacks', found: name });
    checkValues(name, t, 'added');
  }
  const names = [...new Set([...Object.keys(shapes), ...Object.keys(added)])].sort(compareNames);
  const tensors: DiffTensor[] = [];
  const sparseNames = new Set<string>();
  for (const name of names) {
    const whole = own(dense, name) ?? own(added, name);
    if (whole) {
      tensors.push({
        kind: Object.hasOwn(added, name) ? 'add' : 'replace',
        name,
        shape: [...whole.shape],
        dtype: 'F32',
        valueDtype: denseValueDtype,
        ...storedValues(whole.values, denseValueDtype),
      });
      continue;
    }
    const shape = [...own(shapes, name)!];
    const n = elementCount(shape);
    checkSparseSize(name, n);
    const entries = own(sparse, name);
    const { indices, values } = entries
      ? sparseFromEntries(name, n, entries)
      : { indices: new Uint32Array(0), values: new Float32Array(0) };
    sparseNames.add(name);
    tensors.push({
      kind: 'sparse',
      name,
      shape,
      dtype: 'F32',
      indexEncoding,
      valueDtype,
      indices,
      ...storedValues(values, valueDtype),
    });
  }
  checkNameClashes(names, sparseNames);
  return { formatVersion, provenance, tensors };
}
