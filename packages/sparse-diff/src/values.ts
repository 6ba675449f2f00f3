import { fromFloat32, InvalidArgumentError, toFloat32 } from '@diffprune/core';
import type { ValueDtype } from './types.js';

export const valueDtypes: readonly ValueDtype[] = ['F32', 'F16', 'BF16'];

export const valueDtypeBytes: Record<ValueDtype, number> = { F32: 4, F16: 2, BF16: 2 };

/** Accepts `f32`/`F32`, `f16`, `bf16` (any case); throws `InvalidArgumentError` otherwise. */
export function parseValueDtype(value: string, argument = 'valueDtype'): ValueDtype {
  const upper = value.toUpperCase();
  if ((valueDtypes as readonly string[]).includes(upper)) return upper as ValueDtype;
  throw new InvalidArgumentError({ argument, expected: 'one of f32, f16, bf16', found: value });
}

/** Little-endian bytes of `values` in `dtype` (round to nearest even for F16/BF16); always a copy. */
export function encodeValues(values: Float32Array, dtype: ValueDtype): Uint8Array {
  const bytes = fromFloat32(values, dtype);
  return dtype === 'F32' ? bytes.slice() : bytes;
}

export function decodeValues(name: string, data: Uint8Array, dtype: ValueDtype, count: number): Float32Array {
  return toFloat32({ name, dtype, shape: [count], data });
}

/** `values` rounded to what `dtype` stores (a new array; F32 returns a copy). */
export function roundValues(values: Float32Array, dtype: ValueDtype): Float32Array {
  if (dtype === 'F32') return values.slice();
  return decodeValues('values', fromFloat32(values, dtype), dtype, values.length);
}
