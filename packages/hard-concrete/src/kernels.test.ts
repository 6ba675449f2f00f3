import { describe, expect, it } from 'vitest';
import { gatedDiffBackwardInto, gatedDiffForwardInto } from './kernels.js';
import { fillUniform, uniformKey } from './uniform.js';

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
