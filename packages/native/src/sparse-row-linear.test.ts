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
 * δ_k summed from slot k's entries (repeats add up); bias [out], [K, out] or none.
 */
function reference(
  x: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  rowSlots: Int32Array,
  deltas: readonly (Delta | undefined)[],
  [batch, length, inFeatures, outFeatures]: [number, number, number, number],
): Float64Array {
  const slots = deltas.length;
  const merged = deltas.map((delta) => {
    const w = Float64Array.from(weight);
    delta?.indices.forEach((flat, e) => {
      w[flat]! += delta.values[e]!;
    });
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

/**
 * Slot k: `perSlot[k]` random entries of W [out, in] (undefined for 0 in odd slots, an empty δ in
 * even ones), unsorted, with repeated positions, the first ones at row edges (i·in and i·in + in − 1:
 * where splitting a flat position into (i, j) could be off by one).
 */
function makeDeltas(
  perSlot: readonly number[],
  inFeatures: number,
  outFeatures: number,
  random: () => number,
): (Delta | undefined)[] {
  return perSlot.map((count, k) => {
    if (count === 0 && k % 2 === 1) return undefined;
    const positions: number[] = [];
    for (let e = 0; e < count; e++) {
      const i = Math.floor(random() * outFeatures);
      // Every fourth entry repeats an earlier one's position; the first four are row edges.
      if (e > 0 && e % 4 === 0) positions.push(positions[Math.floor(random() * e)]!);
      else if (e < 4) positions.push(i * inFeatures + (e % 2 === 0 ? 0 : inFeatures - 1));
      else positions.push(i * inFeatures + Math.floor(random() * inFeatures));
    }
    return {
      indices: Uint32Array.from(positions),
      values: Float32Array.from(positions, () => random() * 2 - 1),
    };
  });
}

describe.skipIf(!built)('the compiled per-row sparse linear (DiffpruneSparseRowLinear)', () => {
  beforeAll(async () => {
    await import('@tensorflow/tfjs-backend-cpu');
    tf.env().set('PROD', true);
    registerNativeBackend({ threads: 2 });
  });

  it('equals x·(W + δ of the row’s slot)ᵀ + bias in double, bit-identical on 1 and 2 threads: slots of 0 to 14 rows, without a δ, unsorted and repeated entries, odd widths, shared, per-slot or no bias', () => {
    const addon = nativeAddon();
    const initial = addon.threads();
    // [rowSlots, length, inFeatures, outFeatures, δ entries per slot, bias]: small shapes (one thread's
    // path), BERT-Tiny-like ones big enough for the pool (slots split into token blocks: slot 0 of the
    // fourth has 14 rows), consecutive rows of one slot (read in place) and scattered ones (gathered),
    // a slot no row uses, slots without a δ, one slot only, a wide odd input (65537), an input of 49 (i·49 · (1/49) rounds below i in double).
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
      [[1, 0], 1, 65537, 3, [40, 60], 'slot'],
      [[0, 1, 1], 2, 49, 7, [30, 30], 'shared'],
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
        const deltas = makeDeltas(perSlot, inFeatures, outFeatures, random);
        const expected = reference(x, weight, bias, rowSlots, deltas, dims);
        const results = [1, 2, 1].map((threads) => {
          addon.setThreads(threads);
          const out = new Float32Array(batch * length * outFeatures).fill(Number.NaN); // all written
          addon.sparseRowLinear(
            out,
            x,
            weight,
            bias,
            rowSlots,
            deltas,
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

  it('keeps each δ’s packed positions on the δ for later calls, and recomputes them for another GEMM kernel or weight shape (a frozen δ: per call)', () => {
    const addon = nativeAddon();
    const initial = addon.gemmKernel();
    const random = generator(5);
    const [batch, length] = [3, 5];
    // One δ object used for a [40, 300] weight and, its positions below 300·20, a [20, 300] one too (with
    // more than 256 inputs the packed blocks' stride depends on the output count).
    const deltas = makeDeltas([60, 0, 30], 300, 20, random);
    const rowSlots = Int32Array.of(2, 0, 1);
    const x = Float32Array.from({ length: batch * length * 300 }, () => random() * 2 - 1);
    const run = (outFeatures: number) => {
      const weight = Float32Array.from({ length: outFeatures * 300 }, (_, i) => Math.cos(i));
      const out = new Float32Array(batch * length * outFeatures);
      addon.sparseRowLinear(out, x, weight, null, rowSlots, deltas, batch, length, 300, outFeatures);
      const expected = reference(x, weight, null, rowSlots, deltas, [batch, length, 300, outFeatures]);
      let error = 0;
      for (let i = 0; i < expected.length; i++) error = Math.max(error, Math.abs(out[i]! - expected[i]!));
      return error;
    };
    // A δ the binding cannot keep its positions on (frozen: no wrap) is computed per call.
    const frozen = deltas.map((d) => d && Object.freeze({ indices: d.indices, values: d.values }));
    const weight = Float32Array.from({ length: 40 * 300 }, (_, i) => Math.sin(i));
    const out = new Float32Array(batch * length * 40);
    addon.sparseRowLinear(out, x, weight, null, rowSlots, frozen, batch, length, 300, 40);
    const expected = reference(x, weight, null, rowSlots, frozen, [batch, length, 300, 40]);
    expect(Math.max(...expected.map((e, i) => Math.abs(out[i]! - e)))).toBeLessThan(1e-5);
    try {
      for (const kernel of ['generic', 'avx2', 'avx512', 'generic']) {
        if (!addon.setGemmKernel(kernel)) continue;
        for (const outFeatures of [40, 20, 40])
          expect(run(outFeatures), `${kernel}, ${outFeatures}`).toBeLessThan(1e-5);
      }
    } finally {
      addon.setGemmKernel(initial === 'avx2+fma' ? 'avx2' : initial);
    }
  });

  it('rejects slots, δs, weights and biases of the wrong size (instead of reading out of bounds)', () => {
    const addon = nativeAddon();
    const x = new Float32Array(2 * 3 * 4);
    const out = new Float32Array(2 * 3 * 5);
    const delta = (indices: number[], values = indices.map(() => 1)) => ({
      indices: Uint32Array.from(indices),
      values: Float32Array.from(values),
    });
    const call = (
      rowSlots: number[],
      deltas: unknown[],
      { weight = 20, bias = null as number | null, outFeatures = 5 } = {},
    ) =>
      addon.sparseRowLinear(
        out,
        x,
        new Float32Array(weight),
        bias === null ? null : new Float32Array(bias),
        Int32Array.from(rowSlots),
        deltas as never,
        2,
        3,
        4,
        outFeatures,
      );
    expect(() => call([0, 0], [delta([0, 19])])).not.toThrow();
    expect(() => call([0, 1], [delta([0]), undefined], { bias: 10 })).not.toThrow();
    expect(() => call([0, 1], [null, delta([])])).not.toThrow();
    expect(() => call([0, 1], [delta([0])])).toThrow(/row slot out of range/);
    expect(() => call([0, -1], [delta([0])])).toThrow(/row slot out of range/);
    expect(() => call([0], [delta([0])])).toThrow(/one slot per batch row/);
    expect(() => call([0, 0], [])).toThrow(/row slot out of range/);
    expect(() => call([0, 0], 'no' as never)).toThrow(/deltas must be an array/);
    expect(() => call([0, 0], [delta([20])])).toThrow(/outside the weight/);
    expect(() => call([0, 0], [delta([0, 1], [1])])).toThrow(/differ in length/);
    expect(() => call([0, 0], [{ indices: Int32Array.of(0), values: Float32Array.of(1) }])).toThrow(
      /wrong type/,
    );
    expect(() => call([0, 0], [7])).toThrow(/a δ must be/);
    expect(() => call([0, 0], [delta([0])], { weight: 19 })).toThrow(/weight does not have/);
    expect(() => call([0, 0], [delta([0])], { bias: 7 })).toThrow(/bias is neither/);
    expect(() => call([0, 0], [delta([0])], { outFeatures: 6, weight: 24 })).toThrow(/batch·length·features/);
  });
});
