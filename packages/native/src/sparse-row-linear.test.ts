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

/** A seeded uniform in [0, 1) (an LCG: the cases are the same on every run). */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/**
 * The definition, in double: y[b, t, i] = Σ_j x[b, t, j]·(W[i, j] + δ_k[i, j]) + bias, k = rowSlots[b],
 * δ_k summed from slot k's pairs (repeats add up); bias [out], [K, out] or none.
 */
function reference(
  x: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  rowSlots: Int32Array,
  pairs: SlotPairs,
  [batch, length, inFeatures, outFeatures]: [number, number, number, number],
): Float64Array {
  const slots = pairs.starts.length - 1;
  const merged = Array.from({ length: slots }, (_, k) => {
    const w = Float64Array.from(weight);
    for (let p = pairs.starts[k]!; p < pairs.starts[k + 1]!; p++)
      w[pairs.outs[p]! * inFeatures + pairs.ins[p]!]! += pairs.values[p]!;
    return w;
  });
  const perSlot = bias !== null && bias.length === slots * outFeatures && slots > 1;
  const y = new Float64Array(batch * length * outFeatures);
  for (let b = 0; b < batch; b++) {
    const k = rowSlots[b]!;
    const w = merged[k]!;
    for (let t = 0; t < length; t++)
      for (let i = 0; i < outFeatures; i++) {
        let sum = bias ? bias[(perSlot ? k * outFeatures : 0) + i]! : 0;
        for (let j = 0; j < inFeatures; j++)
          sum += x[(b * length + t) * inFeatures + j]! * w[i * inFeatures + j]!;
        y[(b * length + t) * outFeatures + i] = sum;
      }
  }
  return y;
}

/** Slot k: `perSlot[k]` random pairs of W [out, in], unsorted, with repeated (out, in) pairs. */
function makePairs(
  perSlot: readonly number[],
  inFeatures: number,
  outFeatures: number,
  random: () => number,
): SlotPairs {
  const lists = perSlot.map((count) => {
    const list: [number, number, number][] = [];
    for (let e = 0; e < count; e++) {
      // Every fourth pair repeats an earlier one's position.
      const repeat = e > 0 && e % 4 === 0 ? list[Math.floor(random() * e)]! : undefined;
      list.push([
        repeat?.[0] ?? Math.floor(random() * outFeatures),
        repeat?.[1] ?? Math.floor(random() * inFeatures),
        random() * 2 - 1,
      ]);
    }
    return list;
  });
  const starts = new Int32Array(lists.length + 1);
  lists.forEach((l, k) => {
    starts[k + 1] = starts[k]! + l.length;
  });
  const flat = lists.flat();
  return {
    starts,
    outs: Int32Array.from(flat, (e) => e[0]),
    ins: Int32Array.from(flat, (e) => e[1]),
    values: Float32Array.from(flat, (e) => e[2]),
  };
}

describe.skipIf(!built)('the compiled per-row sparse linear (DiffpruneSparseRowLinear)', () => {
  beforeAll(async () => {
    await import('@tensorflow/tfjs-backend-cpu');
    tf.env().set('PROD', true);
    registerNativeBackend({ threads: 2 });
  });

  it('equals x·(W + δ of the row’s slot)ᵀ + bias in double, bit-identical on 1 and 2 threads: slots of 0 to 14 rows, without pairs, unsorted and repeated pairs, shared, per-slot or no bias', () => {
    const addon = nativeAddon();
    const initial = addon.threads();
    // [rowSlots, length, inFeatures, outFeatures, pairs per slot, bias]: small shapes (one thread's
    // path), BERT-Tiny-like ones big enough for the pool (slots split into token blocks: slot 0 of the
    // fourth has 14 rows), consecutive rows of one slot (read in place) and scattered ones (gathered),
    // a slot no row uses, slots without pairs, one slot only.
    const cases: [number[], number, number, number, number[], 'none' | 'shared' | 'slot'][] = [
      [[0], 1, 5, 3, [4], 'none'],
      [[1, 0, 1, 2, 0], 8, 33, 17, [60, 20, 5], 'slot'],
      [
        [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3],
        12,
        128,
        512,
        [900, 0, 1500, 700, 1200, 30, 400],
        'slot',
      ],
      [[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0, 0], 12, 512, 128, [2000, 0, 1000], 'shared'],
      [[0, 1, 0], 9, 16, 16, [0, 40], 'none'],
      [[0, 0, 0], 3, 16, 16, [0], 'slot'],
      [[3, 2, 1, 0], 7, 24, 40, [50, 50, 50, 50], 'shared'],
    ];
    try {
      cases.forEach(([slotList, length, inFeatures, outFeatures, perSlot, biasKind], c) => {
        const random = generator(97 + c);
        const rowSlots = Int32Array.from(slotList);
        const batch = rowSlots.length;
        const slots = perSlot.length;
        const dims: [number, number, number, number] = [batch, length, inFeatures, outFeatures];
        const x = Float32Array.from({ length: batch * length * inFeatures }, () => random() * 2 - 1);
        const weight = Float32Array.from({ length: outFeatures * inFeatures }, () => random() - 0.5);
        const bias =
          biasKind === 'none'
            ? null
            : Float32Array.from(
                { length: (biasKind === 'slot' ? slots : 1) * outFeatures },
                () => random() - 0.5,
              );
        const pairs = makePairs(perSlot, inFeatures, outFeatures, random);
        const expected = reference(x, weight, bias, rowSlots, pairs, dims);
        const results = [1, 2, 1].map((threads) => {
          addon.setThreads(threads);
          const out = new Float32Array(batch * length * outFeatures).fill(Number.NaN); // all written
          addon.sparseRowLinear(
            out,
            x,
            weight,
            bias,
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
        let scale = 0;
        for (let i = 0; i < expected.length; i++) {
          error = Math.max(error, Math.abs(results[0]![i]! - expected[i]!));
          scale = Math.max(scale, Math.abs(expected[i]!));
        }
        expect(error / scale, `case ${c}`).toBeLessThan(1e-5);
        expect(results[1], `case ${c}: 2 threads`).toEqual(results[0]);
        // The scratch weight is restored after each slot: a second call gives the same bits.
        expect(results[2], `case ${c}: again`).toEqual(results[0]);
      });
    } finally {
      addon.setThreads(initial);
    }
  });

  it('rejects slots, offsets, pairs, weights and biases of the wrong size (instead of reading out of bounds)', () => {
    const addon = nativeAddon();
    const x = new Float32Array(2 * 3 * 4);
    const out = new Float32Array(2 * 3 * 5);
    const call = (
      rowSlots: number[],
      starts: number[],
      o: number[],
      i: number[],
      v: number[],
      { weight = 20, bias = null as number | null, outFeatures = 5 } = {},
    ) =>
      addon.sparseRowLinear(
        out,
        x,
        new Float32Array(weight),
        bias === null ? null : new Float32Array(bias),
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
    expect(() => call([0, 1], [0, 1, 1], [0], [0], [1], { bias: 10 })).not.toThrow();
    expect(() => call([0, 1], [0, 1], [0], [0], [1])).toThrow(/row slot out of range/);
    expect(() => call([0], [0, 1], [0], [0], [1])).toThrow(/one slot per batch row/);
    expect(() => call([0, 0], [0, 2], [0], [0], [1])).toThrow(/slotStarts/);
    expect(() => call([0, 0], [], [], [], [])).toThrow(/slotStarts/);
    expect(() => call([0, 0], [0, 1], [5], [0], [1])).toThrow(/pair out of range/);
    expect(() => call([0, 0], [0, 1], [0], [4], [1])).toThrow(/pair out of range/);
    expect(() => call([0, 0], [0, 1], [0, 1], [0], [1])).toThrow(/differ in length/);
    expect(() => call([0, 0], [0, 1], [0], [0], [1], { weight: 19 })).toThrow(/weight does not have/);
    expect(() => call([0, 0], [0, 1], [0], [0], [1], { bias: 7 })).toThrow(/bias is neither/);
    expect(() => call([0, 0], [0, 1], [0], [0], [1], { outFeatures: 6, weight: 24 })).toThrow(
      /batch·length·features/,
    );
  });
});
