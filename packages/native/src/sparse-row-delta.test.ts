import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { addonPath } from './addon.js';
import { nativeAddon, registerNativeBackend } from './backend.js';

const built = existsSync(addonPath);

interface Delta {
  indices: Uint32Array;
  values: Float32Array;
}

/** The definition, in double: c[b, t, i] += values[e]·x[b, t, j] for the entries e = i·in + j of row b's slot. */
function reference(
  x: Float32Array,
  rowSlots: Int32Array,
  deltas: readonly (Delta | undefined)[],
  [batch, length, inFeatures, outFeatures]: number[],
): Float64Array {
  const out = new Float64Array(batch! * length! * outFeatures!);
  for (let b = 0; b < batch!; b++) {
    const delta = deltas[rowSlots[b]!];
    delta?.indices.forEach((flat, e) => {
      const [i, j] = [Math.floor(flat / inFeatures!), flat % inFeatures!];
      for (let t = 0; t < length!; t++)
        out[(b * length! + t) * outFeatures! + i]! +=
          delta.values[e]! * x[(b * length! + t) * inFeatures! + j]!;
    });
  }
  return out;
}

/**
 * Seeded slot δs: slot k a sorted random subset of W's positions (`perSlot[k]` of them, with repeats;
 * 0: undefined in odd slots, an empty δ in even ones), the first ones at row edges (i·in, i·in + in − 1),
 * or each slot's entries shuffled.
 */
function makeDeltas(perSlot: readonly number[], inFeatures: number, outFeatures: number, seed: number) {
  let state = seed;
  const random = () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const slots = perSlot.map((count) =>
    Array.from({ length: count }, (_, e): [number, number] => {
      const i = Math.floor(random() * outFeatures);
      const j = e < 4 ? (e % 2 === 0 ? 0 : inFeatures - 1) : Math.floor(random() * inFeatures);
      return [i * inFeatures + j, random() * 2 - 1];
    }).sort((a, c) => a[0] - c[0]),
  );
  const pack = (lists: [number, number][][]): (Delta | undefined)[] =>
    lists.map((l, k) =>
      l.length === 0 && k % 2 === 1
        ? undefined
        : { indices: Uint32Array.from(l, (e) => e[0]), values: Float32Array.from(l, (e) => e[1]) },
    );
  const shuffled = slots.map((l) => {
    const s = [...l];
    for (let i = s.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [s[i], s[j]] = [s[j]!, s[i]!];
    }
    return s;
  });
  return { sorted: pack(slots), shuffled: pack(shuffled) };
}

describe.skipIf(!built)('the compiled per-row sparse δ (DiffpruneSparseRowDelta)', () => {
  beforeAll(async () => {
    await import('@tensorflow/tfjs-backend-cpu');
    tf.env().set('PROD', true);
    registerNativeBackend({ threads: 2 });
  });

  it('equals the definition, bit-identical on 1 and 2 threads: sorted or shuffled entries, 1 to 21 tokens, slots of 0 to 7 rows, slots without a δ, a wide odd input', () => {
    const addon = nativeAddon();
    const initial = addon.threads();
    // [rowSlots, length, inFeatures, outFeatures, δ entries per slot]: chunks of 8…64 tokens (105 tokens
    // of slot 0 in the third: two chunks), a slot no row uses (slot 1 of the third), rows whose slot has
    // no δ (undefined or empty), input widths of 65537 and 49 (i·49 · (1/49) rounds below i in double).
    const cases: [number[], number, number, number, number[]][] = [
      [[0], 1, 5, 3, [4]],
      [[1, 0, 1, 2, 0], 8, 33, 17, [60, 20, 5]],
      [[0, 2, 0, 0, 2, 0, 0], 21, 64, 48, [300, 100, 200]],
      [[0, 1, 0], 9, 16, 16, [0, 40]],
      [[0, 0, 0], 3, 16, 16, [0]],
      [[1, 0, 1], 2, 65537, 3, [30, 0]],
      [[0, 1, 1], 3, 49, 7, [30, 30]],
    ];
    try {
      for (const [slotList, length, inFeatures, outFeatures, perSlot] of cases) {
        const rowSlots = Int32Array.from(slotList);
        const batch = rowSlots.length;
        const dims = [batch, length, inFeatures, outFeatures];
        const x = Float32Array.from({ length: batch * length * inFeatures }, (_, i) => Math.sin(i * 0.37));
        const { sorted, shuffled } = makeDeltas(perSlot, inFeatures, outFeatures, batch * 31 + length);
        const expected = reference(x, rowSlots, sorted, dims);
        for (const deltas of [sorted, shuffled]) {
          const results = [1, 2].map((threads) => {
            addon.setThreads(threads);
            const out = new Float32Array(batch * length * outFeatures).fill(Number.NaN); // all written
            addon.sparseRowDelta(out, x, rowSlots, deltas, batch, length, inFeatures, outFeatures);
            return out;
          });
          let error = 0;
          for (let i = 0; i < results[0]!.length; i++)
            error = Math.max(error, Math.abs(results[0]![i]! - expected[i]!));
          expect(error).toBeLessThan(1e-5);
          expect(results[1]).toEqual(results[0]);
        }
      }
    } finally {
      addon.setThreads(initial);
    }
  });

  it('rejects slots and δs out of range, arrays of the wrong length and dimensions over 2^30 (instead of writing out of bounds)', () => {
    const addon = nativeAddon();
    const x = new Float32Array(2 * 3 * 4);
    const out = new Float32Array(2 * 3 * 5);
    const delta = (indices: number[], values = indices.map(() => 1)) => ({
      indices: Uint32Array.from(indices),
      values: Float32Array.from(values),
    });
    const call = (rowSlots: number[], deltas: unknown[], outFeatures = 5, batch = 2) =>
      addon.sparseRowDelta(out, x, Int32Array.from(rowSlots), deltas as never, batch, 3, 4, outFeatures);
    expect(() => call([0, 0], [delta([0, 19])])).not.toThrow();
    expect(() => call([0, 1], [undefined, delta([3])])).not.toThrow();
    expect(() => call([0, 1], [delta([0])])).toThrow(/row slot out of range/);
    expect(() => call([0, -1], [delta([0])])).toThrow(/row slot out of range/);
    expect(() => call([0], [delta([0])])).toThrow(/one slot per batch row/);
    expect(() => call([0, 0], [delta([20])])).toThrow(/outside the weight/);
    expect(() => call([0, 0], [delta([0, 1], [1])])).toThrow(/differ in length/);
    expect(() => call([0, 0], [{ indices: Uint32Array.of(0) }])).toThrow(/typed array/);
    expect(() => call([0, 0], [delta([0])], 6)).toThrow(/batch·length·features/);
    expect(() => call([0, 0], [delta([0])], 5, 2 ** 31)).toThrow(/exceed 2\^30/);
  });
});
