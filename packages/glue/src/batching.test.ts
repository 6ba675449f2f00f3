import { InvalidArgumentError } from '@diffprune/core';
import { describe, expect, it } from 'vitest';
import { batchCount, batchExamples, batchIndices, selectSubset } from './batching.js';

const sorted = (batches: number[][]) => batches.flat().sort((a, b) => a - b);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('batchIndices', () => {
  it('without shuffle keeps file order, last batch short', () => {
    expect(batchIndices(7, { batchSize: 3 })).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    expect(batchIndices(7, { batchSize: 3, dropLast: true })).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    expect(batchIndices(0, { batchSize: 3 })).toEqual([]);
  });

  it('shuffles deterministically per seed and epoch, covering every index once', () => {
    const a = batchIndices(100, { batchSize: 8, shuffle: true, seed: 42, epoch: 0 });
    const b = batchIndices(100, { batchSize: 8, shuffle: true, seed: 42, epoch: 0 });
    const c = batchIndices(100, { batchSize: 8, shuffle: true, seed: 42, epoch: 1 });
    const d = batchIndices(100, { batchSize: 8, shuffle: true, seed: 43, epoch: 0 });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a).not.toEqual(d);
    expect(a.flat()).not.toEqual(range(100));
    for (const batches of [a, c, d]) {
      expect(sorted(batches)).toEqual(range(100));
      expect(batches).toHaveLength(13);
    }
  });

  it('caps examples with a seeded subset that is the same in every epoch', () => {
    const epoch0 = sorted(
      batchIndices(1000, { batchSize: 16, shuffle: true, seed: 7, epoch: 0, maxExamples: 50 }),
    );
    const epoch3 = sorted(
      batchIndices(1000, { batchSize: 16, shuffle: true, seed: 7, epoch: 3, maxExamples: 50 }),
    );
    expect(epoch0).toHaveLength(50);
    expect(epoch0).toEqual(epoch3);
    expect(epoch0).toEqual(selectSubset(1000, 50, 7));
    expect(selectSubset(1000, 50, 8)).not.toEqual(epoch0);
    // Spread over the whole set, not the first 50 rows.
    expect(Math.max(...epoch0)).toBeGreaterThan(500);
    expect(selectSubset(10, 50, 7)).toEqual(range(10));
    expect(batchCount(1000, { batchSize: 16, maxExamples: 50 })).toBe(4);
    expect(batchCount(1000, { batchSize: 16, maxExamples: 50, dropLast: true })).toBe(3);
  });

  it('buckets by caller-supplied length: sorted within windows, less padding, same examples', () => {
    const lengths = range(400).map((i) => ((i * 7919) % 97) + 3);
    const length = (i: number) => lengths[i] as number;
    const padding = (batches: number[][]) =>
      batches.reduce((sum, batch) => {
        const longest = Math.max(...batch.map(length));
        return sum + batch.reduce((s, i) => s + longest - length(i), 0);
      }, 0);
    const options = { batchSize: 8, shuffle: true, seed: 3, epoch: 2 };
    const plain = batchIndices(400, options);
    const bucketed = batchIndices(400, { ...options, bucketByLength: { length, bucketWindow: 10 } });
    expect(sorted(bucketed)).toEqual(range(400));
    expect(bucketed).toEqual(batchIndices(400, { ...options, bucketByLength: { length, bucketWindow: 10 } }));
    expect(padding(bucketed)).toBeLessThan(padding(plain) / 4);
    // Without shuffle, each window of 80 is sorted by length.
    const ordered = batchIndices(400, { batchSize: 8, bucketByLength: { length, bucketWindow: 10 } }).flat();
    for (let start = 0; start < 400; start += 80) {
      const window = ordered.slice(start, start + 80).map(length);
      expect(window).toEqual([...window].sort((x, y) => x - y));
    }
  });

  it('rejects bad options with typed errors', () => {
    expect(() => batchIndices(10, { batchSize: 0 })).toThrow(InvalidArgumentError);
    expect(() => batchIndices(10, { batchSize: 2.5 })).toThrow(/batchSize must be a positive integer/);
    expect(() => batchIndices(10, { batchSize: 2, seed: -1, shuffle: true })).toThrow(/seed/);
    expect(() => batchIndices(10, { batchSize: 2, maxExamples: 0 })).toThrow(/maxExamples/);
    expect(() => batchIndices(3, { batchSize: 2, bucketByLength: { length: () => Number.NaN } })).toThrow(
      /finite/,
    );
  });
});

describe('batchExamples', () => {
  it('maps index batches to the examples', () => {
    const examples = ['a', 'b', 'c', 'd', 'e'];
    const batches = batchExamples(examples, { batchSize: 2, shuffle: true, seed: 1 });
    const indices = batchIndices(5, { batchSize: 2, shuffle: true, seed: 1 });
    expect(batches).toEqual(indices.map((batch) => batch.map((i) => examples[i])));
  });
});
