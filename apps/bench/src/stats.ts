import type { Spread } from './summary.js';

/**
 * The few statistics the report needs to compare two implementations over a handful of seeds:
 * Student's t tail and Welch's unequal-variance t-test. Written here rather than taken from a
 * library because the one package that offers a maintained t CDF alone (@stdlib's) pulls ~200
 * transitive packages into the bench app for one function; the tests pin it to closed forms
 * (ν = 1, 2) and to SciPy's values.
 */

// Lanczos approximation (g = 7, 9 terms): ln Γ(x) to ~1e-15 relative for x > 0.
const lanczos = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const y = x - 1;
  let sum = lanczos[0]!;
  for (let i = 1; i < lanczos.length; i++) sum += lanczos[i]! / (y + i);
  const t = y + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(sum);
}

// The continued fraction of the incomplete beta function (modified Lentz), converging for x < (a+1)/(a+b+2).
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  const clampTiny = (v: number) => (Math.abs(v) < tiny ? tiny : v);
  let c = 1;
  let d = 1 / clampTiny(1 - ((a + b) * x) / (a + 1));
  let h = d;
  for (let m = 1; m <= 500; m++) {
    const m2 = 2 * m;
    const even = (m * (b - m) * x) / ((a - 1 + m2) * (a + m2));
    d = 1 / clampTiny(1 + even * d);
    c = clampTiny(1 + even / c);
    h *= d * c;
    const odd = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + 1 + m2));
    d = 1 / clampTiny(1 + odd * d);
    c = clampTiny(1 + odd / c);
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < 1e-15) break;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b), for a, b > 0 and x in [0, 1]. */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2)
    ? (front * betaContinuedFraction(a, b, x)) / a
    : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** P(|T| > |t|) for Student's t with `df` degrees of freedom (df > 0, not necessarily an integer). */
export function studentTwoSidedTail(t: number, df: number): number {
  if (!Number.isFinite(t)) return Number.isNaN(t) ? Number.NaN : 0;
  return regularizedIncompleteBeta(df / (df + t * t), df / 2, 0.5);
}

export interface WelchTest {
  t: number;
  df: number;
  /** Two-sided p-value. */
  p: number;
}

/**
 * Welch's unequal-variance t-test of two seed spreads' means (as scipy.stats.ttest_ind with
 * equal_var=False). Undefined where either side has fewer than two seeds or both spreads are zero.
 */
export function welchTest(a: Spread, b: Spread): WelchTest | undefined {
  if (a.n < 2 || b.n < 2 || !Number.isFinite(a.sd) || !Number.isFinite(b.sd)) return undefined;
  const va = (a.sd * a.sd) / a.n;
  const vb = (b.sd * b.sd) / b.n;
  if (va + vb === 0) return undefined;
  const t = (a.headline - b.headline) / Math.sqrt(va + vb);
  const df = (va + vb) ** 2 / (va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1));
  return { t, df, p: studentTwoSidedTail(t, df) };
}

/**
 * How often a mean of `nOurs` seeds falls outside another mean ± sd of `nReference` seeds when both
 * draw from one normal distribution: P(|T| > 1/√(1/nOurs + 1/nReference)), T Student's t with
 * nReference − 1 degrees of freedom (the difference of means over the reference's sample sd).
 * 34.5 % at three seeds each: "outside" alone does not tell two implementations apart.
 */
export function chanceOutsideSpread(nOurs: number, nReference: number): number {
  if (nOurs < 1 || nReference < 2) return Number.NaN;
  return studentTwoSidedTail(1 / Math.sqrt(1 / nOurs + 1 / nReference), nReference - 1);
}
