import { FormatError, InvalidArgumentError } from './errors.js';
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
} from './float16.js';

/**
 * safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header length,
 * a JSON header `{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: {…} }`, then
 * the raw little-endian data. Offsets are relative to the end of the header.
 */

export const safetensorsDtypes = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
} as const;
export type SafetensorsDtype = keyof typeof safetensorsDtypes;

export interface SafetensorsTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** The raw little-endian bytes (a view into the file's buffer when read). */
  data: Uint8Array;
}

export interface SafetensorsFile {
  /** `__metadata__`: string keys to string values. */
  metadata: Record<string, string>;
  /** Tensors in file order (by data offset). */
  tensors: SafetensorsTensor[];
  /** Look-up by name. */
  get(name: string): SafetensorsTensor | undefined;
}

/** Headers larger than this are refused (hostile files); HF's own reader uses 100 MB. */
export const maxSafetensorsHeaderBytes = 100_000_000;

/** Files with more tensors than this are refused (hostile headers); BERT-large has ~400, 70B LLM shards a few hundred. */
export const maxSafetensorsTensors = 65_536;

/** JSON nested deeper than this (in a header or a metadata value) is refused before parsing. */
export const maxJsonDepth = 64;

/** The deepest nesting of `[`/`{` in JSON text (outside strings); stops counting past `limit`. */
export function jsonDepth(text: string, limit = Number.POSITIVE_INFINITY): number {
  return scanJson(text, limit).depth;
}

/**
 * One pass over JSON text outside strings: the deepest nesting (stopping past `limit`) and the
 * number of entries of the outermost object or array (commas at depth 1, plus one), so hostile
 * sizes are refused before `JSON.parse` builds them.
 */
function scanJson(text: string, limit: number): { depth: number; entries: number } {
  let depth = 0;
  let deepest = 0;
  let commas = 0;
  let inString = false;
  let empty = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) break;
      }
    } else if (c === 93 || c === 125) depth--;
    else if (c === 44 && depth === 1) commas++;
    if (
      depth >= 1 &&
      c !== 32 &&
      c !== 10 &&
      c !== 13 &&
      c !== 9 &&
      !(depth === 1 && (c === 91 || c === 123))
    )
      empty = false;
  }
  return { depth: deepest, entries: empty ? 0 : commas + 1 };
}

/**
 * `JSON.parse` with the nesting (and optionally the outermost entry count) bounded first (a hostile 200k-deep value would otherwise exhaust
 * the stack in later recursive code); errors are `FormatError`s naming the file and the field.
 */
export function parseJsonBounded(
  text: string,
  where: { path?: string; what: string; maxDepth?: number; maxEntries?: number; expected?: string },
): unknown {
  const limit = where.maxDepth ?? maxJsonDepth;
  const context = { ...(where.path ? { path: where.path } : {}), what: where.what };
  const scanned = scanJson(text, limit);
  if (scanned.depth > limit)
    throw new FormatError({
      ...context,
      expected: `JSON nested at most ${limit} deep`,
      found: 'deeper nesting',
    });
  if (where.maxEntries !== undefined && scanned.entries > where.maxEntries)
    throw new FormatError({
      ...context,
      expected: `at most ${where.maxEntries} entries (pass maxTensors to allow more)`,
      found: `${scanned.entries}`,
    });
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new FormatError({
      ...context,
      expected: where.expected ?? 'valid JSON',
      found: (error as Error).message,
    });
  }
}

const elementCount = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Parses a safetensors buffer, validating every structural property; errors name the file. */
export function parseSafetensors(
  bytes: Uint8Array,
  options: { path?: string; maxHeaderBytes?: number; maxTensors?: number } = {},
): SafetensorsFile {
  const path = options.path;
  const fail = (what: string, expected: string, found: string): never => {
    throw new FormatError({ ...(path ? { path } : {}), what, expected, found });
  };
  if (bytes.byteLength < 8)
    fail('safetensors', 'at least 8 bytes (header length)', `${bytes.byteLength} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  const cap = BigInt(options.maxHeaderBytes ?? maxSafetensorsHeaderBytes);
  if (headerLength > cap) fail('header length', `at most ${cap} bytes`, `${headerLength} bytes`);
  if (headerLength > BigInt(bytes.byteLength - 8)) {
    fail(
      'header length',
      `at most ${bytes.byteLength - 8} bytes (the file's size less 8)`,
      `${headerLength} bytes`,
    );
  }
  const headerEnd = 8 + Number(headerLength);
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, headerEnd));
  } catch (error) {
    fail('header', 'valid UTF-8 JSON', (error as Error).message);
  }
  // Counted before parsing, so a hostile header costs one scan, not a 300k-entry object.
  const maxTensors = options.maxTensors ?? maxSafetensorsTensors;
  const tooMany = (count: number) =>
    fail('header', `at most ${maxTensors} tensors (pass maxTensors to allow more)`, `${count} tensors`);
  const scanned = scanJson(text, 3);
  if (scanned.entries > maxTensors + 1) tooMany(scanned.entries);
  // A header is { name: { dtype, shape: [..], data_offsets: [..] } }: depth 3.
  const header = parseJsonBounded(text, { ...(path ? { path } : {}), what: 'header', maxDepth: 3 });
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    fail('header', 'a JSON object', typeof header);
  }
  const entries = Object.entries(header as Record<string, unknown>);
  const tensorCount = entries.length - (Object.hasOwn(header as object, '__metadata__') ? 1 : 0);
  if (tensorCount > maxTensors) tooMany(tensorCount);
  const dataLength = bytes.byteLength - headerEnd;
  const metadata: Record<string, string> = Object.create(null);
  const tensors: SafetensorsTensor[] = [];
  const ranges: [number, number, string][] = [];
  for (const [name, entry] of entries) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null)
        fail('__metadata__', 'an object of strings', typeof entry);
      for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof value !== 'string') fail(`__metadata__.${key}`, 'a string', typeof value);
        metadata[key] = value as string;
      }
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null)
      fail(name, 'an object with dtype, shape and data_offsets', String(e));
    if (typeof e.dtype !== 'string' || !(e.dtype in safetensorsDtypes)) {
      fail(`${name}.dtype`, `one of ${Object.keys(safetensorsDtypes).join(', ')}`, JSON.stringify(e.dtype));
    }
    const dtype = e.dtype as SafetensorsDtype;
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`${name}.shape`, 'an array of non-negative integers', JSON.stringify(e.shape));
    }
    const shape = e.shape as number[];
    const offsets = e.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      fail(`${name}.data_offsets`, '[begin, end] with 0 <= begin <= end', JSON.stringify(offsets));
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLength) fail(`${name}.data_offsets`, `end <= ${dataLength} (data size)`, String(end));
    const expectedBytes = elementCount(shape) * safetensorsDtypes[dtype];
    if (end - begin !== expectedBytes) {
      fail(`${name}`, `${expectedBytes} bytes for ${dtype}[${shape.join(', ')}]`, `${end - begin} bytes`);
    }
    ranges.push([begin, end, name]);
    tensors.push({ name, dtype, shape, data: bytes.subarray(headerEnd + begin, headerEnd + end) });
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (let i = 1; i < ranges.length; i++) {
    const [begin, , name] = ranges[i]!;
    const [, previousEnd, previousName] = ranges[i - 1]!;
    if (begin < previousEnd)
      fail(
        `${name}.data_offsets`,
        `no overlap with ${previousName} (ends at ${previousEnd})`,
        `begins at ${begin}`,
      );
  }
  const dataEnd = ranges.reduce((most, [, end]) => Math.max(most, end), 0);
  if (dataEnd !== dataLength)
    fail(
      'data',
      `the data section to end with the last tensor (${dataEnd} bytes), as HF's reader requires`,
      `${dataLength - dataEnd} trailing bytes`,
    );
  const order = new Map(ranges.map(([begin, , name], i) => [name, begin * 1e6 + i]));
  tensors.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  return { metadata, tensors, get: (name) => byName.get(name) };
}

/**
 * Serialises tensors (in the given order) and string metadata to safetensors chunks: header
 * (padded with spaces to a multiple of 8 bytes), then each tensor's data.
 */
export function serializeSafetensors(
  tensors: readonly SafetensorsTensor[],
  metadata: Record<string, string> = {},
): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name) || t.name === '__metadata__') {
      throw new InvalidArgumentError({ argument: 'tensors', expected: 'unique names', found: t.name });
    }
    seen.add(t.name);
    const expected = elementCount(t.shape) * safetensorsDtypes[t.dtype];
    if (t.data.byteLength !== expected) {
      throw new InvalidArgumentError({
        argument: `${t.name}.data`,
        expected: `${expected} bytes for ${t.dtype}[${t.shape.join(', ')}]`,
        found: `${t.data.byteLength} bytes`,
      });
    }
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + expected] };
    offset += expected;
  }
  let json = JSON.stringify(header);
  const encoder = new TextEncoder();
  let headerBytes = encoder.encode(json);
  const padding = (8 - (headerBytes.byteLength % 8)) % 8;
  if (padding > 0) {
    json += ' '.repeat(padding);
    headerBytes = encoder.encode(json);
  }
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  return [prefix, headerBytes, ...tensors.map((t) => t.data)];
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Decodes a floating-point tensor (F32, F16, BF16, F64) to float32 values. */
export function toFloat32(tensor: SafetensorsTensor): Float32Array {
  const { data, dtype } = tensor;
  const n = elementCount(tensor.shape);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (dtype === 'F32') {
    if (littleEndian && data.byteOffset % 4 === 0)
      return new Float32Array(data.buffer, data.byteOffset, n).slice();
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  const out = new Float32Array(n);
  if (dtype === 'F16') for (let i = 0; i < n; i++) out[i] = float16BitsToFloat32(view.getUint16(i * 2, true));
  else if (dtype === 'BF16')
    for (let i = 0; i < n; i++) out[i] = bfloat16BitsToFloat32(view.getUint16(i * 2, true));
  else if (dtype === 'F64') for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
  else
    throw new InvalidArgumentError({
      argument: `${tensor.name}.dtype`,
      expected: 'F32, F16, BF16 or F64',
      found: dtype,
    });
  return out;
}

/** Encodes float32 values as F32, F16 or BF16 little-endian bytes. */
export function fromFloat32(values: Float32Array, dtype: 'F32' | 'F16' | 'BF16'): Uint8Array {
  if (dtype === 'F32') {
    if (littleEndian) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    const out = new Uint8Array(values.length * 4);
    const view = new DataView(out.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
    return out;
  }
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  const convert = dtype === 'F16' ? float32ToFloat16Bits : float32ToBfloat16Bits;
  for (let i = 0; i < values.length; i++) view.setUint16(i * 2, convert(values[i]!), true);
  return out;
}
