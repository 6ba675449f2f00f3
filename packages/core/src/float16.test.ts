import { describe, expect, it } from 'vitest';
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
} from './float16.js';

describe('float16 and bfloat16', () => {
  it('round-trips every float16 bit pattern exactly (NaNs stay NaN)', () => {
    for (let bits = 0; bits < 65536; bits++) {
      const value = float16BitsToFloat32(bits);
      if (Number.isNaN(value))
        expect(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(value)))).toBe(true);
      else expect(float32ToFloat16Bits(value)).toBe(bits);
    }
  });

  it('rounds float32 to the nearest float16, ties to even', () => {
    // Between 1 and 1 + 2^-10: the midpoint 1 + 2^-11 ties to even (1); just above rounds up.
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(float32ToFloat16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00); // rounds to infinity
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(2 ** -25)).toBe(0); // half of the smallest subnormal ties to 0
    expect(float32ToFloat16Bits(2 ** -25 * 1.5)).toBe(1);
    // Relative error of normal values is at most 2^-11.
    for (const v of [0.1, -3.25117, 1234.567, 6.1e-5]) {
      expect(Math.abs(float16BitsToFloat32(float32ToFloat16Bits(v)) - v) / Math.abs(v)).toBeLessThanOrEqual(
        2 ** -11,
      );
    }
  });

  it('round-trips every bfloat16 bit pattern and rounds ties to even', () => {
    for (let bits = 0; bits < 65536; bits++) {
      const value = bfloat16BitsToFloat32(bits);
      if (!Number.isNaN(value)) expect(float32ToBfloat16Bits(value)).toBe(bits);
    }
    expect(float32ToBfloat16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(float32ToBfloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
  });
});
