import { elementCount } from './checks.js';
import { encodedIndexBytes } from './encodings.js';
import type { IndexEncoding, SparseDiff, ValueDtype } from './types.js';
import { valueDtypeBytes } from './values.js';

export interface TensorStats {
  name: string;
  shape: number[];
  kind: 'sparse' | 'replace' | 'add';
  entries: number;
  /** Stored entries (dense: every element). */
  nnz: number;
  density: number;
  indexEncoding: IndexEncoding | null;
  valueDtype: ValueDtype;
  indexBytes: number;
  valueBytes: number;
}

export interface DiffStats {
  /** Entries of every tensor in the table (the resulting parameter set). */
  entries: number;
  /** Stored entries: sparse nnz + every element of dense tensors. */
  nnz: number;
  /** nnz ÷ entries: the paper's "% parameters modified" (dense tensors count as fully modified). */
  density: number;
  /** Sparse tensors only: their nnz ÷ their entries (dense tensors excluded from both). */
  sparseEntries: number;
  sparseNnz: number;
  sparseDensity: number;
  /** Bytes of the stored tensors' data (not the header). */
  indexBytes: number;
  valueBytes: number;
  denseBytes: number;
  /** (index + value bytes) ÷ sparse nnz; null without sparse entries. */
  bytesPerNonzero: number | null;
  /** Index bits per sparse nonzero, and the entropy bound Σ log2 C(n, k) ÷ Σ k. */
  bitsPerIndex: number | null;
  entropyBoundBitsPerIndex: number | null;
  /** All data bytes (index + value + dense) ÷ nnz. */
  bytesPerStoredEntry: number | null;
  /** Base tensors the diff leaves as they are (sparse, nnz 0). */
  untouchedTensors: string[];
  tensors: TensorStats[];
}

/** log2 C(n, k), via lgamma-free summation (exact enough for bit counts). */
export function log2Binomial(n: number, k: number): number {
  if (k < 0 || k > n) return Number.NEGATIVE_INFINITY;
  k = Math.min(k, n - k);
  // Σ_{i=1..k} log2((n − k + i) / i); O(k), fine for the k this is used with.
  let bits = 0;
  for (let i = 1; i <= k; i++) bits += Math.log2((n - k + i) / i);
  return bits;
}

/** Density overall and per tensor, bytes per nonzero, index bits against the entropy bound. */
export function diffStats(diff: SparseDiff): DiffStats {
  const tensors: TensorStats[] = [];
  let entropyBits = 0;
  for (const t of diff.tensors) {
    const entries = elementCount(t.shape);
    const nnz = t.kind === 'sparse' ? t.indices.length : entries;
    const valueBytes = nnz * valueDtypeBytes[t.valueDtype];
    const indexBytes = t.kind === 'sparse' ? encodedIndexBytes(t.indexEncoding, t.indices, entries) : 0;
    if (t.kind === 'sparse') entropyBits += log2Binomial(entries, nnz);
    tensors.push({
      name: t.name,
      shape: t.shape,
      kind: t.kind,
      entries,
      nnz,
      density: entries === 0 ? 0 : nnz / entries,
      indexEncoding: t.kind === 'sparse' ? t.indexEncoding : null,
      valueDtype: t.valueDtype,
      indexBytes,
      valueBytes,
    });
  }
  const sum = (list: TensorStats[], key: 'entries' | 'nnz' | 'indexBytes' | 'valueBytes') =>
    list.reduce((a, t) => a + t[key], 0);
  const sparse = tensors.filter((t) => t.kind === 'sparse');
  const dense = tensors.filter((t) => t.kind !== 'sparse');
  const entries = sum(tensors, 'entries');
  const nnz = sum(tensors, 'nnz');
  const sparseEntries = sum(sparse, 'entries');
  const sparseNnz = sum(sparse, 'nnz');
  const indexBytes = sum(sparse, 'indexBytes');
  const valueBytes = sum(sparse, 'valueBytes');
  const denseBytes = sum(dense, 'valueBytes');
  return {
    entries,
    nnz,
    density: entries === 0 ? 0 : nnz / entries,
    sparseEntries,
    sparseNnz,
    sparseDensity: sparseEntries === 0 ? 0 : sparseNnz / sparseEntries,
    indexBytes,
    valueBytes,
    denseBytes,
    bytesPerNonzero: sparseNnz === 0 ? null : (indexBytes + valueBytes) / sparseNnz,
    bitsPerIndex: sparseNnz === 0 ? null : (indexBytes * 8) / sparseNnz,
    entropyBoundBitsPerIndex: sparseNnz === 0 ? null : entropyBits / sparseNnz,
    bytesPerStoredEntry: nnz === 0 ? null : (indexBytes + valueBytes + denseBytes) / nnz,
    untouchedTensors: sparse.filter((t) => t.nnz === 0).map((t) => t.name),
    tensors,
  };
}
