import { describe, expect, it } from 'vitest';
import { fillUniform, uniformAt, uniformBitsAt, uniformKey } from './counter-uniform.js';

describe('counter-based uniforms', () => {
  const n = 1 << 20;
  const values = fillUniform(new Float32Array(n), uniformKey(2024, 'test'));

  it('are uniform on (0, 1): moments, 64-bin chi-square, no 0 or 1', () => {
    let sum = 0;
    let squares = 0;
    let outside = 0;
    const bins = new Float64Array(64);
    for (const v of values) {
      if (!(v > 0 && v < 1)) outside++;
      sum += v;
      squares += v * v;
      bins[Math.floor(v * 64)]! += 1;
    }
    expect(outside).toBe(0);
    const mean = sum / n;
    const variance = squares / n - mean * mean;
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(1e-3);
    const expected = n / 64;
    const chiSquare = bins.reduce((s, count) => s + (count - expected) ** 2 / expected, 0);
    expect(chiSquare).toBeLessThan(120); // 63 degrees of freedom: P(χ² > 120) < 1e-5
  });

  it('are uncorrelated between neighbours and between neighbouring seeds', () => {
    const other = fillUniform(new Float32Array(n), uniformKey(2025, 'test'));
    let lag = 0;
    let cross = 0;
    for (let i = 0; i < n - 1; i++) {
      lag += (values[i]! - 0.5) * (values[i + 1]! - 0.5);
      cross += (values[i]! - 0.5) * (other[i]! - 0.5);
    }
    // Correlation coefficients; their standard error is 1/√n ≈ 0.001.
    expect(Math.abs((lag / n) * 12)).toBeLessThan(0.005);
    expect(Math.abs((cross / n) * 12)).toBeLessThan(0.005);
  });

  it('offsets continue the same sequence (any slice can be drawn on its own)', () => {
    const slice = fillUniform(new Float32Array(100), uniformKey(2024, 'test'), 5000);
    expect(Array.from(slice)).toEqual(Array.from(values.subarray(5000, 5100)));
  });

  it('rejects a bad seed, naming it', () => {
    expect(() => uniformKey(1.5, 'ctx')).toThrow(/ctx: seed must be an integer in \[0, 2\^32\); found 1\.5/);
  });
});

describe('counter-based uniforms against a BigInt implementation of the hash', () => {
  const mask = 0xffffffffn;
  const fmix = (h: bigint): bigint => {
    h ^= h >> 16n;
    h = (h * 0x85ebca6bn) & mask;
    h ^= h >> 13n;
    h = (h * 0xc2b2ae35n) & mask;
    return h ^ (h >> 16n);
  };
  const reference = (seed: number, i: number): number => {
    const s = BigInt(seed);
    const a = fmix(s ^ 0x9e3779b9n);
    const b = fmix((s + 0x6a09e667n) & mask);
    const bits = fmix(fmix(((BigInt(i) * 0x9e3779b9n) & mask) ^ a) ^ b) >> 9n;
    return (Number(bits) + 0.5) / 2 ** 23;
  };

  it('gives the same numbers for any seed and index, up to 2^32 − 1', () => {
    for (const seed of [0, 1, 2024, 0x7fffffff, 0xffffffff]) {
      const { a, b } = uniformKey(seed, 'test');
      for (const i of [0, 1, 2, 3, 1000, 65_537, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1]) {
        expect(uniformAt(i, a, b)).toBe(reference(seed, i));
        expect((uniformBitsAt(i, a, b) + 0.5) / 2 ** 23).toBe(reference(seed, i));
      }
    }
  });
});
