import { createRng } from '@diffprune/core';
import { describe, expect, it } from 'vitest';
import { keptNonzero, kthLargest, projectTopK } from './projection.js';

describe('projectTopK', () => {
  it('finds the k-th largest like a full sort does', () => {
    const rng = createRng(1);
    for (const n of [1, 2, 7, 1000]) {
      const values = Float32Array.from({ length: n }, () => Math.round(rng.normal() * 5) + 0);
      const sorted = [...values].sort((a, b) => b - a);
      for (const k of [1, Math.ceil(n / 2), n]) expect(kthLargest(values, k)).toBe(sorted[k - 1]);
    }
  });

  it('keeps exactly the target number of entries, the largest |δ| across tensors', () => {
    const rng = createRng(2);
    const deltas = {
      a: Float32Array.from({ length: 5000 }, () => rng.normal()),
      b: Float32Array.from({ length: 3001 }, () => rng.normal() * 3),
    };
    const projection = projectTopK(deltas, 0.005);
    const k = Math.round(0.005 * 8001);
    const count = (m: Uint8Array) => m.reduce((s, x) => s + x, 0);
    expect(count(projection.masks.a!) + count(projection.masks.b!)).toBe(k);
    expect(projection.kept).toBe(k);
    // Second implementation: sort all magnitudes and compare the kept set.
    const all = [...deltas.a, ...deltas.b]
      .map((v, i) => [Math.abs(v), i] as const)
      .sort((x, y) => y[0] - x[0]);
    const expected = new Set(all.slice(0, k).map(([, i]) => i));
    const kept = new Set<number>();
    for (const [i, m] of projection.masks.a!.entries()) if (m) kept.add(i);
    for (const [i, m] of projection.masks.b!.entries()) if (m) kept.add(5000 + i);
    expect(kept).toEqual(expected);
  });

  it('breaks ties to keep exactly k entries', () => {
    const deltas = { a: Float32Array.from([1, 1, 1, 1, 0, 0, 0, 0, 0, 0]) };
    const projection = projectTopK(deltas, 0.2);
    expect(Array.from(projection.masks.a!)).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  });
});

describe('keptNonzero (issue #15: "kept 1.000 %" while storing 0.006 %)', () => {
  it('counts the kept entries whose δ is nonzero, fewer than kept when zeros fill the budget', () => {
    const deltas = { a: Float32Array.from([0, 0.5, 0, 0]), b: Float32Array.from([0, 0, 0, -0.25]) };
    const projection = projectTopK(deltas, 0.5);
    expect(projection.kept).toBe(4);
    expect(keptNonzero(deltas, projection.masks)).toBe(2);
    const dense = { a: Float32Array.from([1, 2, 3, 4]) };
    expect(keptNonzero(dense, projectTopK(dense, 0.5).masks)).toBe(2);
  });
});
