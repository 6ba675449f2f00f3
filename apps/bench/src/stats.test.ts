import { describe, expect, it } from 'vitest';
import { chanceOutsideSpread, regularizedIncompleteBeta, studentTwoSidedTail, welchTest } from './stats.js';

const spread = (xs: number[]) => {
  const m = xs.reduce((a, x) => a + x, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
  return { headline: m, sd, n: xs.length };
};

describe('Student t and Welch', () => {
  it('the t tail has the closed forms of ν = 1 (Cauchy) and ν = 2', () => {
    for (const t of [0, 0.1, 0.5, 1, 1.2247, 3, 10, 100]) {
      expect(studentTwoSidedTail(t, 1)).toBeCloseTo(1 - (2 / Math.PI) * Math.atan(t), 12);
      expect(studentTwoSidedTail(t, 2)).toBeCloseTo(1 - t / Math.sqrt(2 + t * t), 12);
      expect(studentTwoSidedTail(-t, 2)).toBeCloseTo(studentTwoSidedTail(t, 2), 14);
    }
  });

  it('matches SciPy (2·t.sf) at fractional and large degrees of freedom', () => {
    // scipy 1.x: 2 * stats.t.sf(t, df)
    const golden: [number, number, number][] = [
      [2.0, 4, 0.11611652351681556],
      [0.5, 3.7, 0.6453356333199318],
      [5.0, 2.3, 0.02816035047618448],
      [1.0, 10, 0.34089313230206],
      [30.0, 7.5, 4.3747334101036444e-9],
      [0.3, 200, 0.764488730189328],
    ];
    for (const [t, df, p] of golden) expect(studentTwoSidedTail(t, df) / p).toBeCloseTo(1, 9);
  });

  it('the incomplete beta has I_x(a, 1) = x^a and I_x(1, b) = 1 − (1 − x)^b', () => {
    for (const x of [0.01, 0.3, 0.7, 0.99]) {
      expect(regularizedIncompleteBeta(x, 2.5, 1)).toBeCloseTo(x ** 2.5, 12);
      expect(regularizedIncompleteBeta(x, 1, 3.5)).toBeCloseTo(1 - (1 - x) ** 3.5, 12);
    }
  });

  it("Welch's test equals scipy.stats.ttest_ind(equal_var=False)", () => {
    const a = welchTest(spread([0.11, 0.125, 0.106]), spread([0.159, 0.142, 0.106]))!;
    expect(a.t).toBeCloseTo(-1.3205283170113482, 10);
    expect(a.df).toBeCloseTo(2.5379230123174605, 10);
    expect(a.p).toBeCloseTo(0.29311473751392525, 10);
    const b = welchTest(spread([0.5, 0.7, 0.6, 0.65]), spread([0.2, 0.3]))!;
    expect(b.t).toBeCloseTo(5.513400979562958, 10);
    expect(b.p).toBeCloseTo(0.017951894599767322, 10);
    expect(welchTest(spread([0.5]), spread([0.2, 0.3]))).toBeUndefined();
    expect(welchTest(spread([0.5, 0.5]), spread([0.2, 0.2]))).toBeUndefined();
  });

  it('the chance of "outside the reference spread" under one distribution agrees with a simulation', () => {
    // Closed form at 3 seeds each: ν = 2, threshold √1.5.
    expect(chanceOutsideSpread(3, 3)).toBeCloseTo(1 - Math.sqrt(1.5) / Math.sqrt(3.5), 12);
    // A seeded simulation (Box–Muller normals) of n = 3 vs 5.
    let state = 12345;
    const uniform = () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return (state + 0.5) / 2 ** 32;
    };
    const normal = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    const trials = 100_000;
    let outside = 0;
    for (let i = 0; i < trials; i++) {
      const ours = spread([normal(), normal(), normal()]);
      const reference = spread([normal(), normal(), normal(), normal(), normal()]);
      if (Math.abs(ours.headline - reference.headline) > reference.sd) outside++;
    }
    expect(Math.abs(outside / trials - chanceOutsideSpread(3, 5))).toBeLessThan(0.006);
  });
});
