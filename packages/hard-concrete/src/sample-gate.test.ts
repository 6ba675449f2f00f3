import { InvalidArgumentError, ShapeMismatchError } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { deterministicGate, sampleGate, sampleUniform } from './index.js';

/*
 * Closed forms of the hard-concrete gate, derived here and tested against sampling.
 *
 * Let L = log u − log(1 − u) with u ~ U(0, 1). Then L is standard logistic: P(L ≤ x) = σ(x).
 * s = σ((L + a)/β) (a = logα) is increasing in L, so for p ∈ (0, 1)
 *     s ≤ p  ⟺  (L + a)/β ≤ logit p  ⟺  L ≤ β·logit p − a,     i.e.  F_s(p) = σ(β·logit p − a).
 * s̄ = s·(r − l) + l and z = min(1, max(0, s̄)).
 * - z = 0 ⟺ s̄ ≤ 0 ⟺ s ≤ p0 = −l/(r − l); logit p0 = log(p0/(1 − p0)) = log(−l/r):
 *       P(z = 0) = σ(β·log(−l/r) − a),     P(z ≠ 0) = σ(a − β·log(−l/r))   (the expected-L0 term).
 * - z = 1 ⟺ s̄ ≥ 1 ⟺ s ≥ p1 = (1 − l)/(r − l); logit p1 = log((1 − l)/(r − 1)):
 *       P(z = 1) = 1 − σ(β·log((1 − l)/(r − 1)) − a) = σ(a − β·log((1 − l)/(r − 1))).
 * - E[z] = ∫_0^1 P(z > y) dy = ∫_0^1 [1 − F_s((y − l)/(r − l))] dy = (r − l)·∫_{p0}^{p1} [1 − F_s(p)] dp.
 *   For β = 1, with c = e^a:  1 − F_s(p) = c(1 − p)/(c + (1 − c)p), and with k = 1 − c ≠ 0
 *       ∫ c(1 − p)/(c + kp) dp = c·[−p/k + ln(c + kp)/k²]      (k = 0: ∫ (1 − p) dp).
 *   For other β there is no elementary form; `expectedGateNumeric` integrates it (Simpson's rule).
 * u is clamped to [1e-4, 0.9999] (L ∈ [−9.21, 9.21]); the clamped L has the same CDF inside that
 * interval, so these forms are exact whenever the thresholds β·logit p − a lie inside it (true below).
 */
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const probabilityZero = (a: number, beta: number, l: number, r: number) =>
  sigmoid(beta * Math.log(-l / r) - a);
const probabilityOne = (a: number, beta: number, l: number, r: number) =>
  sigmoid(a - beta * Math.log((1 - l) / (r - 1)));

const expectedGateClosed = (a: number, l: number, r: number): number => {
  const c = Math.exp(a);
  const k = 1 - c;
  const p0 = -l / (r - l);
  const p1 = (1 - l) / (r - l);
  const antiderivative =
    Math.abs(k) < 1e-9
      ? (p: number) => p - (p * p) / 2
      : (p: number) => c * (-p / k + Math.log(c + k * p) / (k * k));
  return (r - l) * (antiderivative(p1) - antiderivative(p0));
};

const expectedGateNumeric = (a: number, beta: number, l: number, r: number, intervals = 4000): number => {
  const survival = (y: number) => {
    const p = (y - l) / (r - l);
    return 1 - sigmoid(beta * Math.log(p / (1 - p)) - a);
  };
  const h = 1 / intervals;
  let total = survival(0) + survival(1);
  for (let i = 1; i < intervals; i++) total += (i % 2 === 1 ? 4 : 2) * survival(i * h);
  return (total * h) / 3;
};

const leakCheck = <T>(fn: () => T): T => {
  const before = tf.memory().numTensors;
  const result = fn();
  expect(tf.memory().numTensors).toBe(before);
  return result;
};

describe('closed forms (derivation above) against sampling', () => {
  it('E[z]: the closed form (β = 1) agrees with numerical integration', () => {
    for (const a of [-3, -1, 0, 0.5, 2, 5]) {
      expect(expectedGateNumeric(a, 1, -1.5, 1.5)).toBeCloseTo(expectedGateClosed(a, -1.5, 1.5), 9);
      expect(expectedGateNumeric(a, 1, -0.1, 1.1)).toBeCloseTo(expectedGateClosed(a, -0.1, 1.1), 9);
    }
  });

  const cases = [
    { beta: 1, limits: [-1.5, 1.5] as const, logAlphas: [-2, 0, 1.5, 3, 5] },
    { beta: 2 / 3, limits: [-0.1, 1.1] as const, logAlphas: [-1, 0, 2] },
    { beta: 1.7, limits: [-0.5, 1.2] as const, logAlphas: [-1.5, 0.7] },
  ];
  const samples = 200_000;
  for (const { beta, limits, logAlphas } of cases) {
    it(`P(z = 0), P(z = 1), E[z] match ${samples} samples (β = ${beta.toFixed(3)}, limits [${limits}])`, () => {
      const [l, r] = limits;
      const rows = logAlphas.length;
      const counts = leakCheck(() => {
        const logAlpha = tf.tidy(() => tf.mul(tf.ones([rows, samples]), tf.tensor2d(logAlphas, [rows, 1])));
        const z = sampleGate(logAlpha, { seed: 1234 + rows, beta, limits });
        const stats = tf.tidy(() =>
          tf.stack([
            tf.sum(tf.cast(tf.equal(z, 0), 'float32'), 1),
            tf.sum(tf.cast(tf.equal(z, 1), 'float32'), 1),
            tf.mean(z, 1),
            tf.moments(z, 1).variance,
          ]),
        );
        const values = stats.arraySync() as number[][];
        tf.dispose([logAlpha, z, stats]);
        return values;
      });
      logAlphas.forEach((a, i) => {
        const p0 = probabilityZero(a, beta, l, r);
        const p1 = probabilityOne(a, beta, l, r);
        const frequency0 = counts[0]![i]! / samples;
        const frequency1 = counts[1]![i]! / samples;
        // 5 binomial standard errors (a false alarm about once in 1.7 million checks).
        expect(Math.abs(frequency0 - p0)).toBeLessThan(5 * Math.sqrt((p0 * (1 - p0)) / samples) + 1e-6);
        expect(Math.abs(frequency1 - p1)).toBeLessThan(5 * Math.sqrt((p1 * (1 - p1)) / samples) + 1e-6);
        const mean = beta === 1 ? expectedGateClosed(a, l, r) : expectedGateNumeric(a, beta, l, r);
        expect(Math.abs(counts[2]![i]! - mean)).toBeLessThan(5 * Math.sqrt(counts[3]![i]! / samples) + 1e-6);
      });
    });
  }

  it('the thresholds use log(−l/r), not log(−l/(1 − l)): sampling tells them apart', () => {
    // A wrong form quoted for P(z = 0) would be σ(β·log(−l/(1 − l)) − a); at a = 0 it is 0.375 vs 0.5.
    const z = sampleGate(tf.zeros([100_000]), { seed: 9 });
    const zero = tf.tidy(() => tf.mean(tf.cast(tf.equal(z, 0), 'float32')).dataSync()[0]!);
    z.dispose();
    expect(zero).toBeCloseTo(probabilityZero(0, 1, -1.5, 1.5), 2);
    expect(Math.abs(zero - sigmoid(Math.log(1.5 / 2.5)))).toBeGreaterThan(0.1);
  });
});

describe('sampleGate', () => {
  it('follows the formula element by element for an explicit u (float64 reference)', () => {
    const logAlpha = [-3, -0.4, 0, 0.3, 2, 7, 1, -1];
    const u = [0.5, 0.2, 0.99, 0.5, 0.01, 0.3, 0, 1]; // 0 and 1 are clamped to the default bounds
    const z = leakCheck(() => {
      const a = tf.tensor1d(logAlpha);
      const uu = tf.tensor1d(u);
      const out = sampleGate(a, { u: uu });
      const values = Array.from(out.dataSync());
      tf.dispose([a, uu, out]);
      return values;
    });
    logAlpha.forEach((a, i) => {
      const ui = Math.min(Math.max(u[i]!, 1e-4), 0.9999);
      const s = sigmoid(Math.log(ui / (1 - ui)) + a);
      expect(z[i]).toBeCloseTo(Math.min(1, Math.max(0, s * 3 - 1.5)), 6);
    });
  });

  it('with β and limits', () => {
    const z = tf.tidy(
      () =>
        sampleGate(tf.tensor1d([0.2]), {
          u: tf.tensor1d([0.6]),
          beta: 0.5,
          limits: [-0.1, 1.1],
        }).dataSync()[0]!,
    );
    const s = sigmoid((Math.log(0.6 / 0.4) + 0.2) / 0.5);
    expect(z).toBeCloseTo(s * 1.2 - 0.1, 6);
  });

  it('uBounds sets the clamp of u', () => {
    const [wide, narrow] = tf.tidy(() => {
      const a = tf.tensor1d([0]);
      const u = tf.tensor1d([0.45]);
      return [
        sampleGate(a, { u, limits: [-1, 2] }).dataSync()[0]!,
        sampleGate(a, { u, uBounds: [0.5, 0.7], limits: [-1, 2] }).dataSync()[0]!,
      ];
    });
    expect(wide).toBeCloseTo(0.45 * 3 - 1, 6);
    expect(narrow).toBeCloseTo(0.5 * 3 - 1, 6);
  });

  it('is reproducible from a seed, and the seed draws sampleUniform(shape, seed)', () => {
    tf.tidy(() => {
      const a = tf.randomNormal([5, 7], 0, 2, 'float32', 3);
      const z1 = sampleGate(a, { seed: 42 });
      const z2 = sampleGate(a, { seed: 42 });
      const z3 = sampleGate(a, { seed: 43 });
      const explicit = sampleGate(a, { u: sampleUniform([5, 7], 42) });
      expect(Array.from(z1.dataSync())).toEqual(Array.from(z2.dataSync()));
      expect(Array.from(z1.dataSync())).toEqual(Array.from(explicit.dataSync()));
      expect(Array.from(z1.dataSync())).not.toEqual(Array.from(z3.dataSync()));
    });
  });

  it('dz/dlogα = 1[0 < s̄ < 1]·(r − l)·s(1 − s)/β = autograd = finite differences (fixed u)', () => {
    const cases = [
      { beta: 1, limits: [-1.5, 1.5] as const },
      { beta: 0.6, limits: [-0.2, 1.3] as const },
    ];
    for (const { beta, limits } of cases) {
      const [l, r] = limits;
      const logAlpha = [-4, -1, -0.5, 0, 0.25, 0.8, 1.5, 3, 6, -2.2, 0.6, 0.1, 1, -0.3];
      const u = [0.3, 0.45, 0.6, 0.5, 0.2, 0.7, 0.4, 0.05, 0.5, 0.93, 0.5, 0.6, 0.55, 0.35];
      const a = tf.tensor1d(logAlpha);
      const uu = tf.tensor1d(u);
      const gradient = leakCheck(() => {
        const g = tf.grad((x: tf.Tensor) => tf.sum(sampleGate(x, { u: uu, beta, limits })))(a);
        const values = Array.from(g.dataSync());
        g.dispose();
        return values;
      });
      const h = 1e-2;
      const finite = tf.tidy(() => {
        const plus = sampleGate(tf.add(a, h), { u: uu, beta, limits });
        const minus = sampleGate(tf.sub(a, h), { u: uu, beta, limits });
        return Array.from(tf.div(tf.sub(plus, minus), 2 * h).dataSync());
      });
      let interior = 0;
      logAlpha.forEach((ai, i) => {
        const t = (Math.log(u[i]! / (1 - u[i]!)) + ai) / beta;
        const s = sigmoid(t);
        const stretched = s * (r - l) + l;
        const formula = stretched > 0 && stretched < 1 ? ((r - l) * s * (1 - s)) / beta : 0;
        expect(gradient[i]).toBeCloseTo(formula, 5);
        // Finite differences only away from the kinks at s̄ = 0 and s̄ = 1.
        const margin = (((r - l) * 0.25) / beta) * h * 2;
        if (Math.abs(stretched) > margin && Math.abs(stretched - 1) > margin) {
          expect(Math.abs(finite[i]! - formula)).toBeLessThan(2e-3 * Math.max(1, Math.abs(formula)));
        }
        if (formula !== 0) interior++;
      });
      expect(interior).toBeGreaterThanOrEqual(4); // the cases exercise the slope, not just the clamps
      tf.dispose([a, uu]);
    }
  });

  it('validates its inputs, naming the argument and the value', () => {
    const a = tf.zeros([3]);
    const u = tf.fill([3], 0.5);
    const expectError = (
      fn: () => unknown,
      type: typeof InvalidArgumentError | typeof ShapeMismatchError,
      text: RegExp,
    ) => {
      let error: unknown;
      try {
        fn();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(type);
      expect((error as Error).message).toMatch(text);
    };
    const wrongShape = tf.fill([4], 0.5);
    const outOfRange = tf.tensor1d([0.5, 1.5, 0.2]);
    const nan = tf.tensor1d([0.5, Number.NaN, 0.2]);
    const integers = tf.zeros([3], 'int32');
    const before = tf.memory().numTensors;
    expectError(() => sampleGate(a, { u, beta: 0 }), InvalidArgumentError, /beta must be .*> 0; found 0/);
    expectError(() => sampleGate(a, { u, beta: Number.NaN }), InvalidArgumentError, /beta/);
    expectError(
      () => sampleGate(a, { u, limits: [0.1, 1.5] }),
      InvalidArgumentError,
      /limits\[0\] \(l\).*found 0\.1/,
    );
    expectError(
      () => sampleGate(a, { u, limits: [-0.1, 1] }),
      InvalidArgumentError,
      /limits\[1\] \(r\).*found 1/,
    );
    expectError(() => sampleGate(a, { u, uBounds: [0, 0.9] }), InvalidArgumentError, /uBounds.*\[0,0\.9\]/);
    expectError(
      () => sampleGate(a, {} as never),
      InvalidArgumentError,
      /exactly one of seed or u; found "neither/,
    );
    expectError(() => sampleGate(a, { u, seed: 1 } as never), InvalidArgumentError, /both seed and u/);
    expectError(() => sampleGate(a, { seed: -1 }), InvalidArgumentError, /seed.*found -1/);
    expectError(
      () => sampleGate(a, { u: wrongShape }),
      ShapeMismatchError,
      /u must have shape \[3\]; found \[4\]/,
    );
    expectError(
      () => sampleGate(a, { u: outOfRange }),
      InvalidArgumentError,
      /u must be values in \[0, 1\].*1\.5/,
    );
    expectError(() => sampleGate(a, { u: nan }), InvalidArgumentError, /NaN/);
    expectError(
      () => sampleGate(integers, { seed: 1 }),
      InvalidArgumentError,
      /logAlpha\.dtype must be "float32"; found "int32"/,
    );
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, u, wrongShape, outOfRange, nan, integers]);
  });
});

describe('deterministicGate', () => {
  it('is min(1, max(0, σ(logα)·(r − l) + l))', () => {
    const logAlpha = [-5, -0.5, 0, 0.4, 1, 4];
    const values = leakCheck(() => {
      const a = tf.tensor1d(logAlpha);
      const g = deterministicGate(a);
      const custom = deterministicGate(a, { limits: [-0.1, 1.1] });
      const out = [Array.from(g.dataSync()), Array.from(custom.dataSync())];
      tf.dispose([a, g, custom]);
      return out;
    });
    logAlpha.forEach((a, i) => {
      expect(values[0]![i]).toBeCloseTo(Math.min(1, Math.max(0, sigmoid(a) * 3 - 1.5)), 6);
      expect(values[1]![i]).toBeCloseTo(Math.min(1, Math.max(0, sigmoid(a) * 1.2 - 0.1)), 6);
    });
  });
});
