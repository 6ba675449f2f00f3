import { describe, expect, it } from 'vitest';
import { applyDiff } from './apply.js';
import { createDiff, createDiffFromMask } from './create.js';
import { encodeDiff } from './file.js';
import { readDiff } from './file-node.js';
import {
  concat,
  createRng,
  firstMismatch,
  perturb,
  randomPositions,
  randomTensors,
  testProvenance,
} from './test-helpers.js';
import type { IndexEncoding, SparseDiffTensor, TensorArrays, ValueDtype } from './types.js';

const encodings: IndexEncoding[] = ['varint-delta', 'elias-fano'];
const dtypes: ValueDtype[] = ['F32', 'F16', 'BF16', 'I8'];
// Relative rounding error bounds (half an ulp) of each stored dtype.
// (I8 is absolute: half the per-tensor scale.)
const tolerance: Record<ValueDtype, number> = { F32: 0, F16: 2 ** -11, BF16: 2 ** -8, I8: 0 };

const shapes = { 'a.weight': [120, 50], 'a.bias': [50], 'b.weight': [3, 4, 5], 'c.embeddings': [997] };

/** The naive dense reference: θ[i] = fround(base[i] + δ[i]) with δ dense, built from the diff's entries. */
function denseReference(base: TensorArrays, tensor: SparseDiffTensor) {
  const b = base[tensor.name]!.values;
  const delta = new Float64Array(b.length);
  tensor.indices.forEach((p, i) => {
    delta[p] = tensor.values[i]!;
  });
  return Float32Array.from(b, (v, i) => v + delta[i]!);
}

describe('round trip: create → encode → read → apply', () => {
  for (const encoding of encodings) {
    for (const dtype of dtypes) {
      for (const density of [0.0001, 0.001, 0.01, 0.1, 0.5]) {
        it(`${encoding} ${dtype} at density ${density * 100} %`, () => {
          const rng = createRng(Math.round(density * 1e6) + dtype.length);
          const base = randomTensors(rng, shapes);
          // A larger tensor so that 0.01 % leaves a few entries.
          base['d.big'] = randomTensors(rng, { x: [200, 300] }).x!;
          const { tuned, changed } = perturb(rng, base, density);
          const diff = createDiff({
            base,
            tuned,
            provenance: testProvenance(),
            indexEncoding: encoding,
            valueDtype: dtype,
            createdAt: '2026-01-02T03:04:05.000Z',
          });
          const bytes = concat(encodeDiff(diff));
          const read = readDiff(bytes);
          expect(read.provenance).toEqual(diff.provenance);
          expect(read.tensors.map((t) => t.name)).toEqual(Object.keys(base).sort());
          for (const t of read.tensors) {
            if (t.kind !== 'sparse') throw new Error('expected sparse');
            expect(t.indexEncoding).toBe(encoding);
            expect(t.valueDtype).toBe(dtype);
            // Positions: exactly the perturbed ones.
            expect(firstMismatch(t.indices, changed[t.name]!)).toBe(-1);
            // Values: δ rounded to the dtype.
            const b = base[t.name]!.values;
            const u = tuned[t.name]!.values;
            let worst = 0;
            let worstAbsolute = 0;
            t.indices.forEach((p, i) => {
              const delta = Math.fround(u[p]! - b[p]!);
              worst = Math.max(worst, Math.abs(t.values[i]! - delta) / Math.abs(delta));
              worstAbsolute = Math.max(worstAbsolute, Math.abs(t.values[i]! - delta));
            });
            if (dtype === 'I8') {
              // Symmetric int8: scale = max |δ| / 127, every δ within half a step.
              let max = 0;
              t.indices.forEach((p) => {
                max = Math.max(max, Math.abs(Math.fround(u[p]! - b[p]!)));
              });
              if (t.indices.length > 0) expect(t.scale).toBeCloseTo(max / 127, 9);
              expect(worstAbsolute).toBeLessThanOrEqual((t.scale ?? 0) * 0.5001);
            } else {
              expect(worst).toBeLessThanOrEqual(Math.max(tolerance[dtype], 2 ** -23));
            }
            // Decoded equals what was kept in memory.
            const inMemory = diff.tensors.find((x) => x.name === t.name)!;
            expect(firstMismatch(t.values, inMemory.values)).toBe(-1);
          }
          const applied = applyDiff(base, read);
          for (const t of read.tensors) {
            const reference = denseReference(base, t as SparseDiffTensor);
            expect(firstMismatch(applied[t.name]!.values, reference)).toBe(-1);
            if (dtype === 'F32') {
              // createDiff picks the float32 δ that makes base + δ closest to tuned: within one ulp of
              // tuned (exact unless ties or δ's coarser float32 grid get in the way).
              const a = applied[t.name]!.values;
              const u = tuned[t.name]!.values;
              const b = base[t.name]!.values;
              let violations = 0;
              for (let i = 0; i < a.length; i++) {
                const bound = (Math.abs(u[i]! - b[i]!) + Math.abs(u[i]!)) * 2 ** -23;
                if (Math.abs(a[i]! - u[i]!) > bound) violations++;
              }
              expect(violations).toBe(0);
            }
          }
          // apply does not modify the base.
          expect(base['a.weight']!.values).not.toBe(applied['a.weight']!.values);
        });
      }
    }
  }
});

describe('edge cases', () => {
  for (const encoding of encodings) {
    for (const dtype of dtypes) {
      it(`${encoding} ${dtype}: empty diff, full tensor, first and last index`, () => {
        const rng = createRng(7);
        const base = randomTensors(rng, {
          empty: [10, 10],
          full: [33],
          ends: [1000],
          scalar: [],
          zero: [0, 4],
        });
        const tuned: TensorArrays = structuredClone(base);
        tuned.full!.values = tuned.full!.values.map((v) => v + 0.5);
        tuned.ends!.values[0]! += 1;
        tuned.ends!.values[999]! -= 1;
        tuned.scalar!.values[0]! += 0.25;
        const diff = createDiff({
          base,
          tuned,
          provenance: testProvenance(),
          indexEncoding: encoding,
          valueDtype: dtype,
        });
        const read = readDiff(concat(encodeDiff(diff)));
        const byName = Object.fromEntries(read.tensors.map((t) => [t.name, t as SparseDiffTensor]));
        expect(byName.empty!.indices.length).toBe(0);
        expect(byName.zero!.indices.length).toBe(0);
        expect(Array.from(byName.full!.indices)).toEqual([...Array(33).keys()]);
        expect(Array.from(byName.ends!.indices)).toEqual([0, 999]);
        expect(Array.from(byName.scalar!.indices)).toEqual([0]);
        const applied = applyDiff(base, read);
        expect(applied.ends!.values).toEqual(tuned.ends!.values);
        expect(applied.scalar!.values).toEqual(tuned.scalar!.values);
        expect(applied.empty!.values).toBe(base.empty!.values); // untouched: shared
      });

      it(`${encoding} ${dtype}: an all-unchanged diff of several tensors`, () => {
        const base = randomTensors(createRng(3), shapes);
        const diff = createDiff({
          base,
          tuned: base,
          provenance: testProvenance(),
          indexEncoding: encoding,
          valueDtype: dtype,
        });
        const read = readDiff(concat(encodeDiff(diff)));
        expect(read.tensors.every((t) => t.kind === 'sparse' && t.indices.length === 0)).toBe(true);
        expect(applyDiff(base, read)).toEqual(base);
      });
    }

    it(`${encoding}: a tensor over 2^24 elements (first, last and positions past 2^24)`, () => {
      const n = 2 ** 24 + 7;
      const rng = createRng(24);
      const random = randomPositions(rng, n, 5000);
      const set = new Set<number>([0, 2 ** 24 - 1, 2 ** 24, 2 ** 24 + 1, n - 1, ...random]);
      const indices = [...set].sort((a, b) => a - b);
      const values = Float32Array.from(indices, (_, i) => (i + 1) * 0.001);
      const diff = createDiffFromMask({
        shapes: { big: [n] },
        sparse: { big: { indices, values } },
        provenance: testProvenance(),
        indexEncoding: encoding,
      });
      const read = readDiff(concat(encodeDiff(diff)));
      const t = read.tensors[0] as SparseDiffTensor;
      expect(firstMismatch(t.indices, indices)).toBe(-1);
      expect(firstMismatch(t.values, values)).toBe(-1);
      const base = { big: { shape: [n], values: new Float32Array(n) } };
      const applied = applyDiff(base, read, { inPlace: true });
      expect(applied.big!.values).toBe(base.big.values);
      expect(applied.big!.values[n - 1]).toBe(values[values.length - 1]);
      expect(applied.big!.values[2 ** 24 + 1]).toBe(values[indices.indexOf(2 ** 24 + 1)]);
      let nonzero = 0;
      for (const v of applied.big!.values) if (v !== 0) nonzero++;
      expect(nonzero).toBe(indices.length);
    });
  }
});

describe('dense and added tensors', () => {
  it('stores dense tensors whole (replacing) and tensors the base lacks (added)', () => {
    const rng = createRng(11);
    const base = randomTensors(rng, { enc: [40], 'cls.old': [4] });
    const tuned = randomTensors(rng, { enc: [40], 'classifier.weight': [2, 40], 'classifier.bias': [2] });
    const headBase = randomTensors(rng, { 'classifier.weight': [2, 40] });
    Object.assign(base, headBase);
    tuned.enc!.values = base.enc!.values.map((v, i) => (i % 10 === 0 ? v + 1 : v));
    const diff = createDiff({ base, tuned, dense: ['classifier.weight'], provenance: testProvenance() });
    const read = readDiff(concat(encodeDiff(diff)));
    const kinds = Object.fromEntries(read.tensors.map((t) => [t.name, t.kind]));
    expect(kinds).toEqual({
      'classifier.bias': 'add',
      'classifier.weight': 'replace',
      'cls.old': 'sparse',
      enc: 'sparse',
    });
    const applied = applyDiff(base, read);
    expect(applied['classifier.weight']!.values).toEqual(tuned['classifier.weight']!.values);
    expect(applied['classifier.bias']!.values).toEqual(tuned['classifier.bias']!.values);
    expect(applied.enc!.values).toEqual(tuned.enc!.values);
    expect(applied['cls.old']!.values).toBe(base['cls.old']!.values);
  });

  it('createDiffFromMask: a mask with values per element or per kept entry', () => {
    const base = randomTensors(createRng(5), { w: [4, 5] });
    const mask = new Uint8Array(20);
    mask[3] = 1;
    mask[19] = 1;
    const full = Float32Array.from({ length: 20 }, (_, i) => i / 8);
    const a = createDiffFromMask({
      shapes: { w: [4, 5] },
      sparse: { w: { mask, values: full } },
      provenance: testProvenance(),
    });
    const b = createDiffFromMask({
      shapes: { w: [4, 5] },
      sparse: { w: { mask, values: Float32Array.of(3 / 8, 19 / 8) } },
      provenance: testProvenance(),
    });
    const t = a.tensors[0] as SparseDiffTensor;
    expect(Array.from(t.indices)).toEqual([3, 19]);
    expect(Array.from(t.values)).toEqual([3 / 8, 19 / 8]);
    expect(applyDiff(base, a)).toEqual(applyDiff(base, b));
  });
});
