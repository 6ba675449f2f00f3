import { fromFloat32, InvalidArgumentError, toFloat32 } from '@diffprune/core';
import type { ValueDtype } from './types.js';

export const valueDtypes: readonly ValueDtype[] = ['F32', 'F16', 'BF16', 'I8'];

export const valueDtypeBytes: Record<ValueDtype, number> = { F32: 4, F16: 2, BF16: 2, I8: 1 };

/** Accepts `f32`/`F32`, `f16`, `bf16`, `i8`/`int8` (any case); throws `InvalidArgumentError` otherwise. */
export function parseValueDtype(value: string, argument = 'valueDtype'): ValueDtype {
  const upper = value.toUpperCase() === 'INT8' ? 'I8' : value.toUpperCase();
  if ((valueDtypes as readonly string[]).includes(upper)) return upper as ValueDtype;
  throw new InvalidArgumentError({ argument, expected: 'one of f32, f16, bf16, i8', found: value });
}

/** The int8 code of `value` for `scale`: round to nearest, clamped to [−127, 127]. */
const quantize = (value: number, scale: number) => Math.max(-127, Math.min(127, Math.round(value / scale)));

/** Symmetric per-tensor int8 scale: max |v| / 127 as float32 (1 when every value is 0). */
export function int8Scale(values: Float32Array, argument = 'values'): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v))
      throw new InvalidArgumentError({ argument, expected: 'finite values for I8 storage', found: v });
    max = Math.max(max, Math.abs(v));
  }
  const scale = Math.fround(max / 127);
  return scale > 0 ? scale : 1;
}

/** Little-endian bytes of `values` in `dtype` (round to nearest even for F16/BF16); always a copy. */
export function encodeValues(values: Float32Array, dtype: ValueDtype, scale?: number): Uint8Array {
  if (dtype === 'I8') {
    const s = scale ?? int8Scale(values);
    const out = new Int8Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = quantize(values[i]!, s);
    return new Uint8Array(out.buffer);
  }
  const bytes = fromFloat32(values, dtype);
  return dtype === 'F32' ? bytes.slice() : bytes;
}

export function decodeValues(
  name: string,
  data: Uint8Array,
  dtype: ValueDtype,
  count: number,
  scale?: number,
): Float32Array {
  if (dtype === 'I8') {
    const q = new Int8Array(data.buffer, data.byteOffset, count);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = q[i]! * scale!;
    return out;
  }
  return toFloat32({ name, dtype, shape: [count], data });
}

/**
 * `values` as stored in `dtype` (a new array): rounded for F16/BF16, quantised to q × scale for I8
 * (with the scale, which the file records per tensor).
 */
export function storedValues(
  values: Float32Array,
  dtype: ValueDtype,
): { values: Float32Array; scale?: number } {
  if (dtype === 'F32') return { values: values.slice() };
  if (dtype === 'I8') {
    const scale = int8Scale(values);
    return {
      values: decodeValues('values', encodeValues(values, 'I8', scale), 'I8', values.length, scale),
      scale,
    };
  }
  return { values: decodeValues('values', fromFloat32(values, dtype), dtype, values.length) };
}
