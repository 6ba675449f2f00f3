import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { addonPath } from './addon.js';
import { nativeAddon, registerNativeBackend } from './backend.js';

const built = existsSync(addonPath);

/** The definition, in double: c[rows[p], t, outs[p]] += values[p]·x[rows[p], t, ins[p]]. */
function reference(
  x: Float32Array,
  pairs: { rows: Int32Array; outs: Int32Array; ins: Int32Array; values: Float32Array },
  [batch, length, inFeatures, outFeatures]: number[],
): Float64Array {
  const out = new Float64Array(batch! * length! * outFeatures!);
  for (let p = 0; p < pairs.rows.length; p++)
    for (let t = 0; t < length!; t++)
      out[(pairs.rows[p]! * length! + t) * outFeatures! + pairs.outs[p]!]! +=
        pairs.values[p]! * x[(pairs.rows[p]! * length! + t) * inFeatures! + pairs.ins[p]!]!;
  return out;
}

/** Seeded pairs: each row a sorted random subset of W's entries (rows in order), or shuffled. */
function makePairs(batch: number, perRow: number, inFeatures: number, outFeatures: number, seed: number) {
  let state = seed;
  const random = () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const list: [number, number, number, number][] = [];
  for (let b = 0; b < batch; b++) {
    const flat = Array.from({ length: perRow }, () => Math.floor(random() * inFeatures * outFeatures)).sort(
      (a, c) => a - c,
    );
    for (const f of flat) list.push([b, Math.floor(f / inFeatures), f % inFeatures, random() * 2 - 1]);
  }
  const pack = (l: typeof list) => ({
    rows: Int32Array.from(l, (e) => e[0]),
    outs: Int32Array.from(l, (e) => e[1]),
    ins: Int32Array.from(l, (e) => e[2]),
    values: Float32Array.from(l, (e) => e[3]),
  });
  const shuffled = [...list];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  return { grouped: pack(list), shuffled: pack(shuffled) };
}

describe.skipIf(!built)('the compiled per-row sparse δ (DiffpruneSparseRowDelta)', () => {
  beforeAll(async () => {
    await import('@tensorflow/tfjs-backend-cpu');
    tf.env().set('PROD', true);
    registerNativeBackend({ threads: 2 });
  });

  it('equals the definition: rows in order or shuffled, 1 to 21 tokens (blocks of 8 and padding), 1 and 2 threads, empty rows', () => {
    const addon = nativeAddon();
    const initial = addon.threads();
    try {
      for (const threads of [1, 2]) {
        addon.setThreads(threads);
        for (const [batch, length, inFeatures, outFeatures, perRow] of [
          [1, 1, 5, 3, 4],
          [5, 8, 33, 17, 60],
          [7, 21, 64, 48, 300],
          [3, 9, 16, 16, 0],
        ] as const) {
          const dims = [batch, length, inFeatures, outFeatures];
          const x = Float32Array.from({ length: batch * length * inFeatures }, (_, i) => Math.sin(i * 0.37));
          const { grouped, shuffled } = makePairs(
            batch,
            perRow,
            inFeatures,
            outFeatures,
            batch * 31 + length,
          );
          const expected = reference(x, grouped, dims);
          for (const pairs of [grouped, shuffled]) {
            const out = new Float32Array(batch * length * outFeatures).fill(Number.NaN); // all written
            addon.sparseRowDelta(
              out,
              x,
              pairs.rows,
              pairs.outs,
              pairs.ins,
              pairs.values,
              batch,
              length,
              inFeatures,
              outFeatures,
            );
            let error = 0;
            for (let i = 0; i < out.length; i++) error = Math.max(error, Math.abs(out[i]! - expected[i]!));
            expect(error).toBeLessThan(1e-5);
          }
        }
      }
    } finally {
      addon.setThreads(initial);
    }
  });

  it('rejects pairs out of range and arrays of the wrong length (instead of writing out of bounds)', () => {
    const addon = nativeAddon();
    const x = new Float32Array(2 * 3 * 4);
    const out = new Float32Array(2 * 3 * 5);
    const one = (row: number, o: number, i: number) =>
      [Int32Array.of(row), Int32Array.of(o), Int32Array.of(i), Float32Array.of(1)] as const;
    expect(() => addon.sparseRowDelta(out, x, ...one(2, 0, 0), 2, 3, 4, 5)).toThrow(/pair out of range/);
    expect(() => addon.sparseRowDelta(out, x, ...one(0, 5, 0), 2, 3, 4, 5)).toThrow(/pair out of range/);
    expect(() => addon.sparseRowDelta(out, x, ...one(0, 0, -1), 2, 3, 4, 5)).toThrow(/pair out of range/);
    expect(() =>
      addon.sparseRowDelta(
        out,
        x,
        Int32Array.of(0, 1),
        Int32Array.of(0),
        Int32Array.of(0),
        Float32Array.of(1),
        2,
        3,
        4,
        5,
      ),
    ).toThrow(/differ in length/);
    expect(() => addon.sparseRowDelta(out, x, ...one(0, 0, 0), 2, 3, 4, 6)).toThrow(/batch·length·features/);
  });
});
