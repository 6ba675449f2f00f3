/** Float32 parameters by name (row-major values, HF names kept verbatim). */
export type TensorArrays = Record<string, { shape: number[]; values: Float32Array }>;

/** How a sparse tensor's sorted flat positions are encoded in its `NAME.indices` byte stream. */
export type IndexEncoding = 'varint-delta' | 'elias-fano';

/**
 * How values are stored. In memory they are always float32, already rounded to this dtype; `I8` is
 * symmetric per-tensor int8: value = q × scale, q in [−127, 127].
 */
export type ValueDtype = 'F32' | 'F16' | 'BF16' | 'I8';

/** sha256 hex digests of a base's config.json and tokenizer files (see `fingerprintBaseFiles`). */
export interface BaseFilesHashes {
  config: string;
  tokenizer: string;
}

/** Where a diff comes from: which base, which method and settings, which task. */
export interface DiffProvenance {
  baseModel: { id: string; revision: string };
  /** sha256 hex of the base tensors (see `fingerprintTensors`). */
  baseFingerprint: string;
  /** The base's config and tokenizer hashes (format 1.2; absent in older diffs). */
  baseFiles?: BaseFilesHashes;
  /** e.g. `diff-pruning`, `diff-pruning-structured`, `non-adaptive`, `fixed-mask`. */
  method: string;
  /** The method's settings (stored as a JSON string). */
  settings: Record<string, unknown>;
  task: string;
}

/** The provenance as stored: the caller's fields plus creation time and library. */
export interface DiffProvenanceRecord extends DiffProvenance {
  /** ISO 8601. */
  createdAt: string;
  library: string;
  libraryVersion: string;
}

interface DiffTensorBase {
  name: string;
  /** The parameter's shape (of the base tensor, or of the added tensor). */
  shape: number[];
  /** The parameter's dtype as applied (always `F32` for diffs made from `TensorArrays`). */
  dtype: string;
  valueDtype: ValueDtype;
  /** I8 only: value = q × scale (max |value| / 127 when created). */
  scale?: number;
}

/** Base + δ at sorted flat positions. */
export interface SparseDiffTensor extends DiffTensorBase {
  kind: 'sparse';
  indexEncoding: IndexEncoding;
  /** Strictly increasing flat (row-major) positions, each < the tensor's element count. */
  indices: Uint32Array;
  /** δ at those positions (rounded to `valueDtype`). */
  values: Float32Array;
}

/** A tensor stored whole: `replace` overwrites the base tensor; `add` is a tensor the base lacks. */
export interface DenseDiffTensor extends DiffTensorBase {
  kind: 'replace' | 'add';
  /** The full tensor (rounded to `valueDtype`), row-major. */
  values: Float32Array;
}

export type DiffTensor = SparseDiffTensor | DenseDiffTensor;

/** A task diff in memory: decoded positions and values, ready to apply. */
export interface SparseDiff {
  formatVersion: number;
  provenance: DiffProvenanceRecord;
  /** One entry per parameter, in name order; untouched base tensors appear as sparse with nnz 0. */
  tensors: DiffTensor[];
}
