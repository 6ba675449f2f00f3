import { describe, expect, it } from 'vitest';
import { gatedDiffBackwardInto, gatedDiffForwardInto } from './kernels.js';
import { fillUniform, uniformKey } from './uniform.js';

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

describe('fused kernel loops (every specialised path, whatever the test backend)', () => {
  const n = 5000;
  const key = uniformKey(11, 'test');
  const random = (seed: number, low: number, high: number) =>
    fillUniform(new Float32Array(n), uniformKey(seed, 'test')).map((v) => low + (high - low) * v);
  const base = random(1, -1, 1);
  const w = random(2, -1, 1);
  const logAlpha = random(3, -4, 6);
  const u = fillUniform(new Float32Array(n), key);
  const expNegLogAlpha = logAlpha.map((a) => Math.exp(-a));
  const attributes = { beta: 1, left: -1.5, right: 1.5, uLow: 1e-4, uHigh: 0.9999 };

  const reference = (beta: number) =>
    Array.from(u, (ui, i) => {
      const clamped = Math.min(Math.max(ui, 1e-4), 0.9999);
      const s = 1 / (1 + Math.exp(-(Math.log(clamped / (1 - clamped)) + logAlpha[i]!) / beta));
      return Math.min(1, Math.max(0, s * 3 - 1.5));
    });

  it('u or key, Math.exp or a given exp(−logα), β = 1 or not: the same gate', () => {
    for (const beta of [1, 0.7]) {
      const expected = reference(beta);
      const runs = [
        [u, undefined, undefined],
        [undefined, key, undefined],
        [u, undefined, expNegLogAlpha],
        [undefined, key, expNegLogAlpha],
      ] as const;
      for (const [noise, noiseKey, exp] of runs) {
        if (beta !== 1 && exp) continue;
        const theta = new Float32Array(n);
        const z = new Float32Array(n);
        gatedDiffForwardInto(theta, z, base, w, logAlpha, noise, noiseKey, 0.8, { ...attributes, beta }, exp);
        let interior = 0;
        let worstZ = 0;
        let worstTheta = 0;
        expected.forEach((e, i) => {
          worstZ = Math.max(worstZ, Math.abs(z[i]! - e));
          worstTheta = Math.max(worstTheta, Math.abs(theta[i]! - (base[i]! + z[i]! * 0.8 * w[i]!)));
          if (e > 0 && e < 1) interior++;
        });
        expect(worstZ).toBeLessThan(1e-6);
        expect(worstTheta).toBeLessThan(1e-6);
        expect(interior).toBeGreaterThan(200);
        expect(z.some((x) => x === 0) && z.some((x) => x === 1)).toBe(true);
      }
    }
  });

  it('backward: dw = dy·z·z_g, dlogα = dy·w·z_g·1[0 < z < 1]·(r − l)s(1 − s)/β, groupDot = Σ dy·w·z', () => {
    const z = new Float32Array(n);
    gatedDiffForwardInto(new Float32Array(n), z, base, w, logAlpha, u, undefined, 1, attributes);
    const dy = random(4, -1, 1);
    const dW = new Float32Array(n).fill(Number.NaN);
    const dLogAlpha = new Float32Array(n).fill(Number.NaN); // must be fully overwritten
    const groupDot = gatedDiffBackwardInto(dW, dLogAlpha, dy, w, z, 0.6, {
      beta: 0.9,
      left: -1.5,
      right: 1.5,
    });
    let dot = 0;
    for (let i = 0; i < n; i++) {
      const s = (z[i]! + 1.5) / 3;
      const slope = z[i]! > 0 && z[i]! < 1 ? (3 * s * (1 - s)) / 0.9 : 0;
      expect(dW[i]).toBeCloseTo(dy[i]! * z[i]! * 0.6, 6);
      expect(dLogAlpha[i]).toBeCloseTo(dy[i]! * w[i]! * 0.6 * slope, 6);
      dot += dy[i]! * w[i]! * z[i]!;
    }
    expect(groupDot).toBeCloseTo(dot, 6);
  });
});
