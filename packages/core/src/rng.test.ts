import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from './errors.js';
import { createRng } from './rng.js';

describe('createRng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = Array.from({ length: 5 }, createRng(42).uniform);
    const rng = createRng(42);
    expect(Array.from({ length: 5 }, () => rng.uniform())).toEqual(a);
    const other = createRng(43);
    expect(Array.from({ length: 5 }, () => other.uniform())).not.toEqual(a);
  });

  it('draws uniforms with the right mean and variance', () => {
    const rng = createRng(1);
    const n = 200_000;
    const values = rng.uniformArray(n);
    let sum = 0;
    let sumSq = 0;
    let outside = 0;
    for (const v of values) {
      if (!(v >= 0 && v < 1)) outside++;
      sum += v;
      sumSq += v * v;
    }
    expect(outside).toBe(0);
    const mean = sum / n;
    const variance = sumSq / n - mean * mean;
    // Standard errors: sqrt(1/12/n) ≈ 6.5e-4 for the mean.
    expect(Math.abs(mean - 0.5)).toBeLessThan(4 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(2e-3);
  });

  it('draws standard normals', () => {
    const rng = createRng(2);
    const n = 100_000;
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < n; i++) {
      const v = rng.normal();
      sum += v;
      sumSq += v * v;
    }
    expect(Math.abs(sum / n)).toBeLessThan(4 / Math.sqrt(n));
    expect(Math.abs(sumSq / n - 1)).toBeLessThan(0.02);
  });

  it('forks independent streams that do not depend on position', () => {
    const a = createRng(5);
    a.uniform();
    const forkA = a.fork('data');
    const forkB = createRng(5).fork('data');
    expect(forkA.uniform()).toBe(forkB.uniform());
    expect(createRng(5).fork('data').uniform()).not.toBe(createRng(5).fork('dropout').uniform());
  });

  it('restores a saved state and continues the stream', () => {
    const rng = createRng(9);
    rng.normal();
    const saved = rng.state();
    const next = [rng.uniform(), rng.normal(), rng.normal()];
    const restored = createRng(9).restore(saved);
    expect([restored.uniform(), restored.normal(), restored.normal()]).toEqual(next);
  });

  it('shuffles to a permutation', () => {
    const values = createRng(3).shuffle(Array.from({ length: 100 }, (_, i) => i));
    expect([...values].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(values).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('rejects bad seeds', () => {
    expect(() => createRng(-1)).toThrow(InvalidArgumentError);
    expect(() => createRng(1.5)).toThrow('seed must be an integer in [0, 2^32); found 1.5');
  });
});
