import { FormatError, InvalidArgumentError } from '@diffprune/core';
import type { IndexEncoding } from './types.js';

/**
 * Index encodings: sorted flat positions ⇄ a byte stream. Both are specified in docs/format.md.
 * Decoders validate everything (truncation, trailing bytes, range, strict increase) and throw
 * `FormatError`s naming the tensor; encoders expect strictly increasing positions < n.
 */

export const indexEncodings: readonly IndexEncoding[] = ['varint-delta', 'elias-fano'];

export interface DecodeContext {
  /** The file, for error messages. */
  path?: string;
  /** The tensor (e.g. `bert.pooler.dense.weight.indices`), for error messages. */
  tensor: string;
}

const failer =
  (context: DecodeContext) =>
  (expected: string, found: string): never => {
    throw new FormatError({
      ...(context.path ? { path: context.path } : {}),
      what: context.tensor,
      expected,
      found,
    });
  };

// ---------------------------------------------------------------------------------------------
// varint-delta: d0 = p0, di = pi − p(i−1) (≥ 1), each as unsigned LEB128.

export function encodeVarintDelta(positions: Uint32Array): Uint8Array {
  const out = new Uint8Array(positions.length * 5);
  let offset = 0;
  let previous = 0;
  for (let i = 0; i < positions.length; i++) {
    const p = positions[i]!;
    let delta = i === 0 ? p : p - previous;
    previous = p;
    while (delta >= 0x80) {
      out[offset++] = (delta & 0x7f) | 0x80;
      delta = Math.floor(delta / 128);
    }
    out[offset++] = delta;
  }
  return out.slice(0, offset);
}

export function decodeVarintDelta(bytes: Uint8Array, n: number, nnz: number, context: DecodeContext) {
  const fail = failer(context);
  const out = new Uint32Array(nnz);
  const length = bytes.length;
  let offset = 0;
  let previous = 0;
  for (let i = 0; i < nnz; i++) {
    if (offset >= length) fail(`${nnz} varint-delta positions`, `a stream ending after ${i}`);
    let byte = bytes[offset++]!;
    let delta = byte & 0x7f;
    if (byte & 0x80) {
      let scale = 128;
      do {
        if (offset >= length) fail(`${nnz} varint-delta positions`, `a truncated varint at entry ${i}`);
        if (scale > 2 ** 28)
          fail('varints of at most 5 bytes (positions < 2^32)', `a longer one at entry ${i}`);
        byte = bytes[offset++]!;
        delta += (byte & 0x7f) * scale;
        scale *= 128;
      } while (byte & 0x80);
    }
    if (i > 0 && delta === 0)
      fail('strictly increasing positions (deltas ≥ 1)', `a repeated position ${previous} at entry ${i}`);
    const p = i === 0 ? delta : previous + delta;
    if (p >= n) fail(`positions < ${n} (the tensor's element count)`, `position ${p} at entry ${i}`);
    out[i] = p;
    previous = p;
  }
  if (offset !== length)
    fail(`a stream of ${offset} bytes for ${nnz} positions`, `${length - offset} trailing bytes`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// elias-fano: l = floor(log2(n / k)) low bits per position (0 when k = 0 or k > n / 2), then the
// high parts p >> l in unary: bit (p_i >> l) + i set in an array of k + ((n − 1) >> l) + 1 bits.

/** The number of low bits per position: the largest l with k·2^l ≤ n (0 for k = 0). */
export function eliasFanoLowBits(n: number, k: number): number {
  if (k === 0) return 0;
  let l = 0;
  while (k * 2 ** (l + 1) <= n) l++;
  return l;
}

/** Byte sizes of the low and high parts for k positions below n (both 0 when k = 0). */
export function eliasFanoSizes(
  n: number,
  k: number,
): { lowBits: number; lowBytes: number; highBytes: number } {
  if (k === 0) return { lowBits: 0, lowBytes: 0, highBytes: 0 };
  const lowBits = eliasFanoLowBits(n, k);
  const highBits = k + Math.floor((n - 1) / 2 ** lowBits) + 1;
  return { lowBits, lowBytes: Math.ceil((k * lowBits) / 8), highBytes: Math.ceil(highBits / 8) };
}

export function encodeEliasFano(positions: Uint32Array, n: number): Uint8Array {
  const k = positions.length;
  const { lowBits, lowBytes, highBytes } = eliasFanoSizes(n, k);
  const out = new Uint8Array(lowBytes + highBytes);
  const scale = 2 ** lowBits;
  // Low parts, packed least-significant bit first.
  let accumulator = 0;
  let accumulated = 0;
  let offset = 0;
  for (let i = 0; i < k; i++) {
    const p = positions[i]!;
    accumulator += (p % scale) * 2 ** accumulated;
    accumulated += lowBits;
    while (accumulated >= 8) {
      out[offset++] = accumulator % 256;
      accumulator = Math.floor(accumulator / 256);
      accumulated -= 8;
    }
  }
  if (accumulated > 0) out[offset++] = accumulator;
  const high = out.subarray(lowBytes);
  for (let i = 0; i < k; i++) {
    const bit = Math.floor(positions[i]! / scale) + i;
    high[bit >>> 3]! |= 1 << (bit & 7);
  }
  return out;
}

export function decodeEliasFano(bytes: Uint8Array, n: number, k: number, context: DecodeContext) {
  const fail = failer(context);
  const { lowBits, lowBytes, highBytes } = eliasFanoSizes(n, k);
  if (bytes.length !== lowBytes + highBytes) {
    fail(
      `${lowBytes + highBytes} bytes of elias-fano stream for ${k} positions below ${n}`,
      `${bytes.length} bytes`,
    );
  }
  const out = new Uint32Array(k);
  if (k === 0) return out;
  const high = bytes.subarray(lowBytes);
  const maxHigh = Math.floor((n - 1) / 2 ** lowBits);
  const highBitCount = k + maxHigh + 1;
  const scale = 2 ** lowBits;
  // High parts: the i-th set bit at j gives high part j − i.
  let i = 0;
  for (let byteIndex = 0; byteIndex < high.length; byteIndex++) {
    let byte = high[byteIndex]!;
    while (byte !== 0) {
      const lowest = byte & -byte;
      const bit = byteIndex * 8 + (31 - Math.clz32(lowest));
      if (bit >= highBitCount)
        fail(`zero padding after bit ${highBitCount} of the high part`, `bit ${bit} set`);
      if (i >= k) fail(`${k} set bits in the high part (one per position)`, 'more');
      if (bit - i > maxHigh)
        fail(`positions < ${n} (the tensor's element count)`, `high part ${bit - i} at entry ${i}`);
      out[i] = bit - i;
      i++;
      byte ^= lowest;
    }
  }
  if (i !== k) fail(`${k} set bits in the high part (one per position)`, `${i}`);
  // Low parts, then range and strict increase (equal positions are representable, so check).
  let accumulator = 0;
  let accumulated = 0;
  let offset = 0;
  let previous = -1;
  const small = lowBits <= 24; // 32-bit integer arithmetic suffices
  const mask = small ? (1 << lowBits) - 1 : 0;
  for (let j = 0; j < k; j++) {
    let low = 0;
    if (small) {
      while (accumulated < lowBits) {
        accumulator |= bytes[offset++]! << accumulated;
        accumulated += 8;
      }
      low = accumulator & mask;
      accumulator >>>= lowBits;
      accumulated -= lowBits;
    } else {
      while (accumulated < lowBits) {
        accumulator += bytes[offset++]! * 2 ** accumulated;
        accumulated += 8;
      }
      low = accumulator % scale;
      accumulator = Math.floor(accumulator / scale);
      accumulated -= lowBits;
    }
    const p = out[j]! * scale + low;
    if (p <= previous) fail('strictly increasing positions', `position ${p} after ${previous} at entry ${j}`);
    if (p >= n) fail(`positions < ${n} (the tensor's element count)`, `position ${p} at entry ${j}`);
    out[j] = p;
    previous = p;
  }
  if (accumulator !== 0 || offset !== lowBytes)
    fail('zero padding bits at the end of the low part', 'nonzero bits');
  return out;
}

// ---------------------------------------------------------------------------------------------

export function encodeIndices(encoding: IndexEncoding, positions: Uint32Array, n: number): Uint8Array {
  if (encoding === 'varint-delta') return encodeVarintDelta(positions);
  if (encoding === 'elias-fano') return encodeEliasFano(positions, n);
  throw new InvalidArgumentError({
    argument: 'indexEncoding',
    expected: `one of ${indexEncodings.join(', ')}`,
    found: encoding,
  });
}

export function decodeIndices(
  encoding: IndexEncoding,
  bytes: Uint8Array,
  n: number,
  nnz: number,
  context: DecodeContext,
): Uint32Array {
  if (encoding === 'varint-delta') return decodeVarintDelta(bytes, n, nnz, context);
  return decodeEliasFano(bytes, n, nnz, context);
}

/** Exact encoded size in bytes, without encoding (varint-delta needs a pass over the positions). */
export function encodedIndexBytes(encoding: IndexEncoding, positions: Uint32Array, n: number): number {
  if (encoding === 'elias-fano') {
    const sizes = eliasFanoSizes(n, positions.length);
    return sizes.lowBytes + sizes.highBytes;
  }
  let bytes = 0;
  let previous = 0;
  for (let i = 0; i < positions.length; i++) {
    let delta = i === 0 ? positions[i]! : positions[i]! - previous;
    previous = positions[i]!;
    bytes++;
    while (delta >= 0x80) {
      bytes++;
      delta = Math.floor(delta / 128);
    }
  }
  return bytes;
}
