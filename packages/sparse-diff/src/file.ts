import {
  checkFinite,
  type EventListener,
  FormatError,
  InvalidArgumentError,
  maxSafetensorsTensors,
  parseJsonBounded,
  parseSafetensors,
  type SafetensorsDtype,
  type SafetensorsTensor,
  serializeSafetensors,
} from '@diffprune/core';
import {
  checkIndexEncoding,
  compareNames,
  elementCount,
  maxSparseElements,
  sameShape,
  setOwn,
  tensorMap,
} from './checks.js';
import { decodeIndices, encodeIndices, indexEncodings } from './encodings.js';
import { createSha256 } from './sha256.js';
import type { DiffProvenanceRecord, DiffTensor, IndexEncoding, SparseDiff, ValueDtype } from './types.js';
import { decodeValues, encodeValues, valueDtypes } from './values.js';
import { formatMinorVersion, formatName, formatVersion } from './version.js';

/** Diff headers larger than this are refused unless `maxHeaderBytes` says otherwise. */
export const maxDiffHeaderBytes = 64 * 2 ** 20;

/** One row of the per-tensor table in `__metadata__.tensors` (see docs/format.md). */
export interface DiffTableEntry {
  shape: number[];
  dtype: string;
  storage: 'sparse' | 'dense';
  /** Dense only: true = replaces the base tensor, false = a tensor the base lacks (added). */
  replaces_base?: boolean;
  nnz: number;
  /** Sparse only. */
  index_encoding?: IndexEncoding;
  value_dtype: ValueDtype;
  /** I8 only: value = q × scale. */
  scale?: number;
}

const sortedTensors = (diff: SparseDiff) => [...diff.tensors].sort((a, b) => compareNames(a.name, b.name));

/** Checks an in-memory diff's internal consistency (what encodeDiff relies on). */
export function checkDiff(diff: SparseDiff): void {
  const bad = (argument: string, expected: string, found: unknown): never => {
    throw new InvalidArgumentError({ argument, expected, found, context: 'diff' });
  };
  if (typeof diff !== 'object' || diff === null || !Array.isArray(diff.tensors))
    bad('diff', 'a SparseDiff', typeof diff);
  const names = new Set<string>();
  for (const t of diff.tensors) {
    if (names.has(t.name)) bad('tensors', 'unique names', t.name);
    names.add(t.name);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      bad(`${t.name}.shape`, 'non-negative integers', t.shape);
    if (!valueDtypes.includes(t.valueDtype))
      bad(`${t.name}.valueDtype`, valueDtypes.join(', '), t.valueDtype);
    if (t.valueDtype === 'I8' && !(typeof t.scale === 'number' && Number.isFinite(t.scale) && t.scale > 0))
      bad(`${t.name}.scale`, 'a finite positive number (I8 values)', t.scale);
    const n = elementCount(t.shape);
    if (t.kind === 'sparse') {
      checkIndexEncoding(t.indexEncoding, `${t.name}.indexEncoding`);
      if (n > maxSparseElements) bad(`${t.name}.shape`, 'at most 2^32 elements', n);
      if (t.indices.length !== t.values.length)
        bad(`${t.name}.values`, `${t.indices.length} values (one per index)`, t.values.length);
      let previous = -1;
      for (let i = 0; i < t.indices.length; i++) {
        const p = t.indices[i]!;
        if (p <= previous || p >= n)
          bad(`${t.name}.indices[${i}]`, `strictly increasing and < ${n}`, `${p} after ${previous}`);
        previous = p;
      }
    } else if (t.kind === 'replace' || t.kind === 'add') {
      if (t.values.length !== n) bad(`${t.name}.values`, `${n} values`, t.values.length);
    } else {
      bad(`${(t as DiffTensor).name}.kind`, 'sparse, replace or add', (t as DiffTensor).kind);
    }
    checkFinite(t.values, { tensor: t.kind === 'sparse' ? `${t.name}.values` : t.name });
  }
  for (const t of diff.tensors) {
    if (t.kind === 'sparse' && (names.has(`${t.name}.indices`) || names.has(`${t.name}.values`)))
      bad('tensors', `no tensor named ${t.name}.indices or ${t.name}.values beside sparse ${t.name}`, t.name);
  }
}

export function diffTable(diff: SparseDiff): Record<string, DiffTableEntry> {
  const table = tensorMap<DiffTableEntry>();
  for (const t of sortedTensors(diff)) {
    setOwn(
      table,
      t.name,
      t.kind === 'sparse'
        ? {
            shape: t.shape,
            dtype: t.dtype,
            storage: 'sparse',
            nnz: t.indices.length,
            index_encoding: t.indexEncoding,
            value_dtype: t.valueDtype,
            ...(t.valueDtype === 'I8' ? { scale: t.scale! } : {}),
          }
        : {
            shape: t.shape,
            dtype: t.dtype,
            storage: 'dense',
            replaces_base: t.kind === 'replace',
            nnz: elementCount(t.shape),
            value_dtype: t.valueDtype,
            ...(t.valueDtype === 'I8' ? { scale: t.scale! } : {}),
          },
    );
  }
  return table;
}

export function diffMetadata(diff: SparseDiff): Record<string, string> {
  const p = diff.provenance;
  return {
    format: formatName,
    format_version: String(formatVersion),
    format_minor_version: String(formatMinorVersion),
    base_model_id: p.baseModel.id,
    base_model_revision: p.baseModel.revision,
    base_fingerprint: p.baseFingerprint,
    ...(p.baseFiles
      ? { base_config_sha256: p.baseFiles.config, base_tokenizer_sha256: p.baseFiles.tokenizer }
      : {}),
    method: p.method,
    method_settings: JSON.stringify(p.settings),
    task: p.task,
    created_at: p.createdAt,
    library: p.library,
    library_version: p.libraryVersion,
    tensors: JSON.stringify(diffTable(diff)),
  };
}

/**
 * The diff as safetensors chunks (8-byte length, JSON header, data). Data is ordered F32 first, then
 * F16/BF16, then the U8 index streams, so every float tensor is aligned to its element size.
 */
export function encodeDiff(diff: SparseDiff): Uint8Array[] {
  checkDiff(diff);
  const stored: SafetensorsTensor[] = [];
  for (const t of sortedTensors(diff)) {
    if (t.kind === 'sparse') {
      const nnz = t.indices.length;
      const indices = encodeIndices(t.indexEncoding, t.indices, elementCount(t.shape));
      stored.push({ name: `${t.name}.indices`, dtype: 'U8', shape: [indices.length], data: indices });
      stored.push({
        name: `${t.name}.values`,
        dtype: t.valueDtype,
        shape: [nnz],
        data: encodeValues(t.values, t.valueDtype, t.scale),
      });
    } else {
      stored.push({
        name: t.name,
        dtype: t.valueDtype,
        shape: t.shape,
        data: encodeValues(t.values, t.valueDtype, t.scale),
      });
    }
  }
  const size = (dtype: SafetensorsDtype) => (dtype === 'U8' || dtype === 'I8' ? 1 : dtype === 'F32' ? 4 : 2);
  stored.sort((a, b) => size(b.dtype) - size(a.dtype) || compareNames(a.name, b.name));
  // The data section is the stored tensors' bytes in this order, back to back.
  const hash = createSha256();
  for (const t of stored) hash.update(t.data);
  return serializeSafetensors(stored, { ...diffMetadata(diff), data_sha256: hash.hex() });
}

export interface ReadDiffOptions {
  /** Refuse headers larger than this (default 64 MiB). */
  maxHeaderBytes?: number;
  /** The file name for error messages, when reading bytes. */
  path?: string;
  /** Refuse files with more stored tensors (or table entries) than this; default 65536. */
  maxTensors?: number;
  /** Receives a `warning-raise` for a version-1.0 file, which has no data checksum to verify. */
  onEvent?: EventListener;
}

const requiredKeys = [
  'format',
  'format_version',
  'base_model_id',
  'base_model_revision',
  'base_fingerprint',
  'method',
  'method_settings',
  'task',
  'created_at',
  'library',
  'library_version',
  'tensors',
] as const;

/**
 * Decodes and fully validates a diff held in memory (a fetched file in the browser): the
 * safetensors structure, the metadata, the table, every stored tensor's dtype and shape, every index
 * stream (range, strict increase, nnz) and the data checksum. `readDiff` (Node) reads a path.
 */
export function decodeDiff(bytes: Uint8Array, options: ReadDiffOptions = {}): SparseDiff {
  const path = options.path;
  const fail = (what: string, expected: string, found: string): never => {
    throw new FormatError({ ...(path ? { path } : {}), what, expected, found });
  };
  const maxTensors = options.maxTensors ?? maxSafetensorsTensors;
  const file = parseSafetensors(bytes, {
    ...(path ? { path } : {}),
    maxHeaderBytes: options.maxHeaderBytes ?? maxDiffHeaderBytes,
    maxTensors,
  });
  const m = file.metadata;
  if (m.format !== formatName)
    fail(
      '__metadata__.format',
      JSON.stringify(formatName),
      m.format === undefined ? 'no format key (not a diffprune diff)' : JSON.stringify(m.format),
    );
  if (m.format_version !== String(formatVersion))
    fail(
      '__metadata__.format_version',
      `${JSON.stringify(String(formatVersion))} (the version this library reads)`,
      JSON.stringify(m.format_version),
    );
  for (const key of requiredKeys)
    if (m[key] === undefined) fail(`__metadata__.${key}`, 'a string', 'nothing');
  if (!/^[0-9a-f]{64}$/.test(m.base_fingerprint!))
    fail(
      '__metadata__.base_fingerprint',
      'a sha256 hex digest (64 lowercase hex digits)',
      JSON.stringify(m.base_fingerprint),
    );
  const hex64 = /^[0-9a-f]{64}$/;
  for (const key of ['base_config_sha256', 'base_tokenizer_sha256'] as const)
    if (m[key] !== undefined && !hex64.test(m[key]))
      fail(`__metadata__.${key}`, 'a sha256 hex digest (64 lowercase hex digits)', JSON.stringify(m[key]));
  if ((m.base_config_sha256 === undefined) !== (m.base_tokenizer_sha256 === undefined))
    fail(
      '__metadata__.base_config_sha256',
      'base_config_sha256 and base_tokenizer_sha256 together (or neither)',
      'only one of them',
    );
  checkDataChecksum(bytes, m, options);
  const parseJson = (key: string, maxDepth?: number, maxEntries?: number): Record<string, unknown> => {
    const value = parseJsonBounded(m[key]!, {
      ...(path ? { path } : {}),
      what: `__metadata__.${key}`,
      expected: 'a JSON object',
      ...(maxDepth !== undefined ? { maxDepth } : {}),
      ...(maxEntries !== undefined ? { maxEntries } : {}),
    });
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      fail(`__metadata__.${key}`, 'a JSON object', Array.isArray(value) ? 'an array' : typeof value);
    return value as Record<string, unknown>;
  };
  const settings = parseJson('method_settings');
  // The table is { name: { shape: [..], … } }: depth 3, its entries counted before parsing.
  const table = parseJson('tensors', 3, maxTensors);
  const provenance: DiffProvenanceRecord = {
    baseModel: { id: m.base_model_id!, revision: m.base_model_revision! },
    baseFingerprint: m.base_fingerprint!,
    ...(m.base_config_sha256 !== undefined
      ? { baseFiles: { config: m.base_config_sha256, tokenizer: m.base_tokenizer_sha256! } }
      : {}),
    method: m.method!,
    settings,
    task: m.task!,
    createdAt: m.created_at!,
    library: m.library!,
    libraryVersion: m.library_version!,
  };
  const finite = (values: Float32Array, tensor: string) => {
    checkFinite(values, { tensor, ...(path ? { path } : {}) });
    return values;
  };
  const used = new Set<string>();
  const stored = (name: string, dtype: string, shape: number[] | null, what: string) => {
    const t = file.get(name);
    if (!t) fail(name, `a stored tensor (${what})`, 'none');
    if (t!.dtype !== dtype) fail(`${name}.dtype`, dtype, t!.dtype);
    if (shape && !sameShape(shape, t!.shape))
      fail(`${name}.shape`, `[${shape.join(', ')}]`, `[${t!.shape.join(', ')}]`);
    used.add(name);
    return t!;
  };
  const tensors: DiffTensor[] = [];
  for (const name of Object.keys(table).sort(compareNames)) {
    const entry = table[name] as Partial<Record<keyof DiffTableEntry, unknown>>;
    const where = `tensors[${JSON.stringify(name)}]`;
    if (typeof entry !== 'object' || entry === null) fail(where, 'an object', typeof entry);
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      fail(`${where}.shape`, 'an array of non-negative integers', JSON.stringify(shape));
    const n = elementCount(shape as number[]);
    if (typeof entry.dtype !== 'string') fail(`${where}.dtype`, 'a string', JSON.stringify(entry.dtype));
    const valueDtype = entry.value_dtype as ValueDtype;
    if (!valueDtypes.includes(valueDtype))
      fail(`${where}.value_dtype`, `one of ${valueDtypes.join(', ')}`, JSON.stringify(entry.value_dtype));
    let scale: number | undefined;
    if (valueDtype === 'I8') {
      scale = entry.scale as number;
      if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0)
        fail(`${where}.scale`, 'a finite positive number (I8 values)', JSON.stringify(entry.scale));
    }
    const nnz = entry.nnz;
    if (!Number.isSafeInteger(nnz) || (nnz as number) < 0 || (nnz as number) > n)
      fail(`${where}.nnz`, `an integer in [0, ${n}]`, JSON.stringify(nnz));
    if (entry.storage === 'sparse') {
      const encoding = entry.index_encoding as IndexEncoding;
      if (!indexEncodings.includes(encoding))
        fail(
          `${where}.index_encoding`,
          `one of ${indexEncodings.join(', ')}`,
          JSON.stringify(entry.index_encoding),
        );
      if (n > maxSparseElements)
        fail(`${where}.shape`, 'at most 2^32 elements for a sparse tensor', String(n));
      const indexStream = stored(`${name}.indices`, 'U8', null, 'the index stream');
      if (indexStream.shape.length !== 1)
        fail(`${name}.indices.shape`, '[byte count]', `[${indexStream.shape.join(', ')}]`);
      const valueTensor = stored(`${name}.values`, valueDtype, null, 'the values');
      if (!sameShape(valueTensor.shape, [nnz as number]))
        fail(`${name}.values.shape`, `[${nnz}] (nnz in the table)`, `[${valueTensor.shape.join(', ')}]`);
      const indices = decodeIndices(encoding, indexStream.data, n, nnz as number, {
        ...(path ? { path } : {}),
        tensor: `${name}.indices`,
      });
      tensors.push({
        kind: 'sparse',
        name,
        shape: shape as number[],
        dtype: entry.dtype as string,
        indexEncoding: encoding,
        valueDtype,
        indices,
        values: finite(
          decodeValues(name, valueTensor.data, valueDtype, nnz as number, scale),
          `${name}.values`,
        ),
        ...(scale === undefined ? {} : { scale }),
      });
    } else if (entry.storage === 'dense') {
      if (typeof entry.replaces_base !== 'boolean')
        fail(`${where}.replaces_base`, 'true or false', JSON.stringify(entry.replaces_base));
      if (nnz !== n) fail(`${where}.nnz`, `${n} (a dense tensor's element count)`, String(nnz));
      const data = stored(name, valueDtype, shape as number[], 'the dense tensor');
      tensors.push({
        kind: entry.replaces_base ? 'replace' : 'add',
        name,
        shape: shape as number[],
        dtype: entry.dtype as string,
        valueDtype,
        values: finite(decodeValues(name, data.data, valueDtype, n, scale), name),
        ...(scale === undefined ? {} : { scale }),
      });
    } else {
      fail(`${where}.storage`, '"sparse" or "dense"', JSON.stringify(entry.storage));
    }
  }
  const unknown = file.tensors.filter((t) => !used.has(t.name)).map((t) => t.name);
  if (unknown.length > 0)
    fail('tensors', 'only tensors listed in the table', `unlisted ${unknown.join(', ')}`);
  return { formatVersion, provenance, tensors };
}

/**
 * Checks `data_sha256` (sha256 of the data section: every byte after the header) when present. A
 * file of minor version ≥ 1 must have it; a version-1.0 file (no `format_minor_version`) has none
 * and is accepted with a `warning-raise` event (see docs/format.md, "Integrity").
 */
function checkDataChecksum(bytes: Uint8Array, m: Record<string, string>, options: ReadDiffOptions): void {
  const path = options.path;
  const fail = (what: string, expected: string, found: string): never => {
    throw new FormatError({ ...(path ? { path } : {}), what, expected, found });
  };
  const minor = m.format_minor_version;
  if (minor !== undefined && !/^(0|[1-9][0-9]{0,8})$/.test(minor))
    fail('__metadata__.format_minor_version', 'a non-negative integer', JSON.stringify(minor));
  const recorded = m.data_sha256;
  if (recorded === undefined) {
    if (minor !== undefined && Number(minor) >= 1)
      fail(
        '__metadata__.data_sha256',
        `the data checksum (format ${formatVersion}.${minor} files always have one)`,
        'none: the file was altered; regenerate or re-download it',
      );
    options.onEvent?.({
      type: 'warning-raise',
      message: `${path ?? 'diff'}: a format ${formatVersion}.0 diff without a data checksum; its values cannot be checked for corruption (rewrite it with this version to add one)`,
    });
    return;
  }
  if (!/^[0-9a-f]{64}$/.test(recorded))
    fail(
      '__metadata__.data_sha256',
      'a sha256 hex digest (64 lowercase hex digits)',
      JSON.stringify(recorded),
    );
  const headerEnd = 8 + Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const actual = createSha256().update(bytes.subarray(headerEnd)).hex();
  if (actual !== recorded)
    fail(
      'data_sha256',
      `the data section to hash to ${recorded} (as recorded)`,
      `${actual}: the tensor data is corrupt; re-download or regenerate the diff`,
    );
}
