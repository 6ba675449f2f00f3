import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { addonPath } from './addon.js';
import { nativeAddon, registerNativeBackend } from './backend.js';

const built = existsSync(addonPath);

interface SlotPairs {
  starts: Int32Array;
  outs: Int32Array;
  ins: Int32Array;
  values: Float32Array;
}

/** The definition, in double: c[b, t, outs[p]] += values[p]·x[b, t, ins[p]] for p of row b's slot. */
function reference(
  x: Float32Array,
  rowSlots: Int32Array,
  pairs: SlotPairs,
  [batch, length, inFeatures, outFeatures]: number[],
): Float64Array {
  const out = new Float64Array(batch! * length! * outFeatures!);
  for (let b = 0; b < batch!; b++)
    for (let p = pairs.starts[rowSlots[b]!]!; p < pairs.starts[rowSlots[b]! + 1]!; p++)
      for (let t = 0; t < length!; t++)
        out[(b * length! + t) * outFeatures! + pairs.outs[p]!]! +=
          pairs.values[p]! * x[(b * length! + t) * inFeatures! + pairs.ins[p]!]!;
  return out;
}

/**
 * Seeded slot pairs: slot k a sorted random subset of W's entries (`perSlot[k]` of them, 0 for a slot
 * without pairs), or each slot's pairs shuffled.
 */
function makePairs(perSlot: readonly number[], inFeatures: number, outFeatures: number, seed: number) {
  let state = seed;
  const random = () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const slots: [number, number, number][][] = perSlot.map((count) =>
    Array.from({ length: count }, () => Math.floor(random() * inFeatures * outFeatures))
      .sort((a, c) => a - c)
      .map((f): [number, number, number] => [Math.floor(f / inFeatures), f % inFeatures, random() * 2 - 1]),
  );
  const pack = (lists: [number, number, number][][]): SlotPairs => {
    const flat = lists.flat();
    const starts = new Int32Array(lists.length + 1);
    lists.forEach((l, k) => {
      starts[k + 1] = starts[k]! + l.length;
    });
    return {
      starts,
      outs: Int32Array.from(flat, (e) => e[0]),
      ins: Int32Array.from(flat, (e) => e[1]),
      values: Float32Array.from(flat, (e) => e[2]),
    };
  };
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

  it('equals the definition, bit-identical on 1 and 2 threads: sorted or shuffled pairs, 1 to 21 tokens, slots of 0 to 7 rows, slots without pairs', () => {
    const addon = nativeAddon();
    const initial = addon.threads();
    // [rowSlots, length, inFeatures, outFeatures, pairs per slot]: chunks of 8…64 tokens (105 tokens
    // of slot 0 in the third: two chunks), a slot no row uses (slot 1 of the third), rows whose slot has no pairs.
    const cases: [number[], number, number, number, number[]][] = [
      [[0], 1, 5, 3, [4]],
      [[1, 0, 1, 2, 0], 8, 33, 17, [60, 20, 5]],
      [[0, 2, 0, 0, 2, 0, 0], 21, 64, 48, [300, 100, 200]],
      [[0, 1, 0], 9, 16, 16, [0, 40]],
      [[0, 0, 0], 3, 16, 16, [0]],
    ];
    try {
      for (const [slotList, length, inFeatures, outFeatures, perSlot] of cases) {
        const rowSlots = Int32Array.from(slotList);
        const batch = rowSlots.length;
        const dims = [batch, length, inFeatures, outFeatures];
        const x = Float32Array.from({ length: batch * length * inFeatures }, (_, i) => Math.sin(i * 0.37));
        const { sorted, shuffled } = makePairs(perSlot, inFeatures, outFeatures, batch * 31 + length);
        const expected = reference(x, rowSlots, sorted, dims);
        for (const pairs of [sorted, shuffled]) {
          const results = [1, 2].map((threads) => {
            addon.setThreads(threads);
            const out = new Float32Array(batch * length * outFeatures).fill(Number.NaN); // all written
            addon.sparseRowDelta(
              out,
              x,
              rowSlots,
              pairs.starts,
              pairs.outs,
              pairs.ins,
              pairs.values,
              batch,
              length,
              inFeatures,
              outFeatures,
            );
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

  it('rejects slots, offsets and pairs out of range and arrays of the wrong length (instead of writing out of bounds)', () => {
    const addon = nativeAddon();
    const x = new Float32Array(2 * 3 * 4);
    const out = new Float32Array(2 * 3 * 5);
    const call = (
      rowSlots: number[],
      starts: number[],
      o: number[],
      i: number[],
      v: number[],
      outFeatures = 5,
    ) =>
      addon.sparseRowDelta(
        out,
        x,
        Int32Array.from(rowSlots),
        Int32Array.from(starts),
        Int32Array.from(o),
        Int32Array.from(i),
        Float32Array.from(v),
        2,
        3,
        4,
        outFeatures,
      );
    expect(() => call([0, 0], [0, 1], [0], [0], [1])).not.toThrow();
    expect(() => call([0, 1], [0, 1], [0], [0], [1])).toThrow(/row slot out of range/);
    expect(() => call([0, -1], [0, 1], [0], [0], [1])).toThrow(/row slot out of range/);
    expect(() => call([0], [0, 1], [0], [0], [1])).toThrow(/one slot per batch row/);
    expect(() => call([0, 0], [0, 2], [0], [0], [1])).toThrow(/slotStarts/);
    expect(() => call([0, 0], [1, 1], [0], [0], [1])).toThrow(/slotStarts/);
    expect(() => call([0, 1], [0, 1, 0], [0], [0], [1])).toThrow(/slotStarts/);
    expect(() => call([0, 0], [], [], [], [])).toThrow(/slotStarts/);
    expect(() => call([0, 0], [0, 1], [5], [0], [1])).toThrow(/pair out of range/);
    expect(() => call([0, 0], [0, 1], [0], [-1], [1])).toThrow(/pair out of range/);
    expect(() => call([0, 0], [0, 1], [0, 1], [0], [1])).toThrow(/differ in length/);
    expect(() => call([0, 0], [0, 1], [0], [0], [1], 6)).toThrow(/batch·length·features/);
  });
});
