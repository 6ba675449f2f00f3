import { createRng, fromFloat32, toFloat32 } from '@diffprune/core';
import { describe, expect, it } from 'vitest';
import { applyDiff } from './apply.js';
import { composeDiffs } from './compose.js';
import { createDiff } from './create.js';
import { encodeDiff } from './file.js';
import { readDiff } from './file-node.js';
import { reencodeDiff } from './reencode.js';
import { perturb, randomTensors, testProvenance } from './test-helpers.js';

const rng = createRng(3);
const base = randomTensors(rng, { 'a.weight': [40, 30], 'b.bias': [50] });
const { tuned } = perturb(rng, base, 0.05);
tuned['classifier.weight'] = randomTensors(rng, { c: [3, 30] }).c!;
const diff = createDiff({
  base,
  tuned,
  provenance: {
    ...testProvenance(),
    settings: { valueDtype: 'F32', indexEncoding: 'varint-delta', labels: ['x'] },
  },
  createdAt: '2026-01-02T03:04:05.000Z',
});

describe('reencodeDiff', () => {
  it('rounds every value to the new dtype and keeps positions and provenance', () => {
    const f16 = reencodeDiff(diff, { valueDtype: 'F16', indexEncoding: 'elias-fano' });
    expect(f16.provenance).toEqual({
      ...diff.provenance,
      settings: { ...diff.provenance.settings, valueDtype: 'F16', indexEncoding: 'elias-fano' },
    });
    diff.tensors.forEach((t, i) => {
      const r = f16.tensors[i]!;
      expect(r.name).toBe(t.name);
      expect(r.valueDtype).toBe('F16');
      // A second implementation of F16 rounding: core's safetensors conversion.
      const rounded = toFloat32({
        name: t.name,
        dtype: 'F16',
        shape: [t.values.length],
        data: fromFloat32(t.values, 'F16'),
      });
      expect(r.values).toEqual(rounded);
      if (t.kind === 'sparse' && r.kind === 'sparse') {
        expect(r.indices).toEqual(t.indices);
        expect(r.indexEncoding).toBe('elias-fano');
      }
    });
    // It survives the file format, which is what the CLI writes.
    const bytes = Buffer.concat(encodeDiff(f16));
    expect(readDiff(new Uint8Array(bytes)).tensors.map((t) => t.values)).toEqual(
      f16.tensors.map((t) => t.values),
    );
  });

  it('quantises to I8 with a per-tensor scale; applying it stays within half a step', () => {
    const i8 = reencodeDiff(diff, { valueDtype: 'I8' });
    const applied = applyDiff(base, i8);
    const exact = applyDiff(base, diff);
    for (const t of i8.tensors) {
      expect(t.scale).toBeGreaterThan(0);
      const got = applied[t.name]!.values;
      const want = exact[t.name]!.values;
      for (let i = 0; i < got.length; i++)
        expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(t.scale! / 2 + 1e-6);
    }
  });
});

describe('composeDiffs with heads', () => {
  const other = createDiff({
    base,
    tuned: { ...perturb(rng, base, 0.05).tuned, 'classifier.weight': tuned['classifier.weight']! },
    provenance: testProvenance(),
  });
  const names = ['classifier.weight'];

  it('keeps the head of the named diff only', () => {
    const { diff: composed } = composeDiffs([diff, other], { heads: { names, keep: 1 } });
    const head = composed.tensors.find((t) => t.name === 'classifier.weight')!;
    expect(head.values).toEqual(other.tensors.find((t) => t.name === 'classifier.weight')!.values);
  });

  it('leaves the heads apart without keep, and refuses a keep out of range', () => {
    const { diff: bodies } = composeDiffs([diff, other], { heads: { names } });
    expect(bodies.tensors.map((t) => t.name)).toEqual(['a.weight', 'b.bias']);
    // Two diffs adding the same head without the option are refused, as before.
    expect(() => composeDiffs([diff, other])).toThrow(/added by at most one diff/);
    expect(() => composeDiffs([diff, other], { heads: { names, keep: 2 } })).toThrow(/index of a diff/);
  });
});
