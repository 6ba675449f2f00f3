import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, serializeSafetensors } from '@diffprune/core';
import { afterAll, describe, expect, it } from 'vitest';
import { applyDiff, revertDiff, type ScatterAdd, scatterAddLoop } from './apply.js';
import { composeDiffs } from './compose.js';
import { createDiff, createDiffFromMask } from './create.js';
import { decodeEliasFano, decodeVarintDelta, encodeEliasFano, encodeVarintDelta } from './encodings.js';
import { BaseMismatchError } from './errors.js';
import { encodeDiff } from './file.js';
import { readDiff, writeDiff } from './file-node.js';
import { fingerprintTensorArrays, fingerprintTensors } from './fingerprint.js';
import { fingerprintCheckpoint } from './fingerprint-checkpoint.js';
import { diffStats, log2Binomial } from './stats.js';
import {
  concat,
  createRng,
  firstMismatch,
  perturb,
  randomPositions,
  randomTensors,
  testProvenance,
} from './test-helpers.js';
import type { SparseDiffTensor } from './types.js';
import { verifyDiff } from './verify.js';
import { libraryVersion } from './version.js';

const directories: string[] = [];
const temporaryDirectory = async () => {
  const d = await mkdtemp(join(tmpdir(), 'sparse-diff-'));
  directories.push(d);
  return d;
};
afterAll(async () => {
  for (const d of directories) await rm(d, { recursive: true, force: true });
});

const shapes = { 'l.weight': [30, 40], 'l.bias': [40], emb: [50, 8] };

describe('revertDiff', () => {
  it('base + diff − diff = base (exactly where float32 allows), added removed, replaced restored', () => {
    const rng = createRng(21);
    const base = randomTensors(rng, { ...shapes, head: [2, 8] });
    const { tuned } = perturb(rng, base, 0.05);
    tuned.head = randomTensors(rng, { head: [2, 8] }).head!;
    tuned.extra = { shape: [3], values: Float32Array.of(1, 2, 3) };
    const diff = createDiff({ base, tuned, dense: ['head'], provenance: testProvenance() });
    const applied = applyDiff(base, diff);
    expect(() => revertDiff(applied, diff)).toThrow(InvalidArgumentError);
    const reverted = revertDiff(applied, diff, { replaced: { head: base.head! } });
    expect(Object.keys(reverted).sort()).toEqual(Object.keys(base).sort());
    for (const name of Object.keys(base)) {
      const b = base[name]!.values;
      const r = reverted[name]!.values;
      // Reference: fround(fround(b + d) − d) per entry, from the diff's own entries.
      const t = diff.tensors.find((x) => x.name === name)!;
      const expected = b.slice();
      if (t.kind === 'sparse')
        t.indices.forEach((p, i) => {
          expected[p] = Math.fround(Math.fround(b[p]! + t.values[i]!) - t.values[i]!);
        });
      expect(firstMismatch(r, expected)).toBe(-1);
      // And within float32 rounding of the base: |r − b| ≤ (|b| + |δ|)·2^-22.
      const delta = new Float32Array(b.length);
      if (t.kind === 'sparse')
        t.indices.forEach((p, i) => {
          delta[p] = t.values[i]!;
        });
      let far = 0;
      for (let i = 0; i < b.length; i++)
        if (Math.abs(r[i]! - b[i]!) > (Math.abs(b[i]!) + Math.abs(delta[i]!)) * 2 ** -22) far++;
      expect(far).toBe(0);
    }
  });

  it('in place', () => {
    const rng = createRng(22);
    const base = randomTensors(rng, shapes);
    const { tuned } = perturb(rng, base, 0.1);
    const diff = createDiff({ base, tuned, provenance: testProvenance() });
    const copy = structuredClone(tuned);
    const out = revertDiff(copy, diff, { inPlace: true });
    expect(out).toBe(copy);
    expect(out['l.weight']!.values).toBe(copy['l.weight']!.values);
  });
});

describe('composeDiffs', () => {
  it('sums diffs: applying the composition = applying one after the other; overlaps reported', () => {
    const rng = createRng(31);
    const base = randomTensors(rng, { ...shapes, head: [2, 8] });
    const a = perturb(rng, base, 0.05).tuned;
    const b = perturb(rng, base, 0.05).tuned;
    a.head = randomTensors(rng, { head: [2, 8] }).head!;
    const da = createDiff({ base, tuned: a, dense: ['head'], provenance: testProvenance() });
    const db = createDiff({ base, tuned: b, provenance: testProvenance(), indexEncoding: 'elias-fano' });
    const { diff, overlaps } = composeDiffs([da, db]);
    // Reference: sequential application in float64 then rounding, compared with a tolerance, and the
    // overlap count from the position sets.
    const sequential = applyDiff(applyDiff(base, da), db);
    const composed = applyDiff(base, readDiff(concat(encodeDiff(diff))));
    for (const name of Object.keys(base)) {
      const s = sequential[name]!.values;
      const c = composed[name]!.values;
      for (let i = 0; i < s.length; i++)
        expect(Math.abs(s[i]! - c[i]!)).toBeLessThanOrEqual(Math.abs(s[i]!) * 2 ** -21 + 2 ** -40);
    }
    for (const name of Object.keys(shapes)) {
      const pa = new Set((da.tensors.find((t) => t.name === name) as SparseDiffTensor).indices);
      const pb = (db.tensors.find((t) => t.name === name) as SparseDiffTensor).indices;
      const shared = Array.from(pb).filter((p) => pa.has(p)).length;
      expect(overlaps.find((o) => o.tensor === name)?.entries ?? 0).toBe(shared);
      const merged = diff.tensors.find((t) => t.name === name) as SparseDiffTensor;
      expect(merged.indices.length).toBe(pa.size + pb.length - shared);
    }
    expect(overlaps.find((o) => o.tensor === 'head')).toEqual({ tensor: 'head', entries: 16, diffs: 2 });
    expect(diff.provenance.task).toBe('unit+unit');
  });

  it('refuses diffs of different bases, and double replacements without the base', () => {
    const base = randomTensors(createRng(32), { w: [4] });
    const tuned = { w: { shape: [4], values: Float32Array.of(1, 2, 3, 4) } };
    const d1 = createDiff({ base, tuned, provenance: testProvenance() });
    const d2 = createDiff({ base, tuned, provenance: testProvenance('cd'.repeat(32)) });
    expect(() => composeDiffs([d1, d2])).toThrow(BaseMismatchError);
    const r = createDiff({ base, tuned, dense: ['w'], provenance: testProvenance() });
    expect(() => composeDiffs([r, r])).toThrow(/options.base/);
    const { diff } = composeDiffs([r, r], { base });
    const expected = Float32Array.from(base.w!.values, (b, i) => 2 * tuned.w.values[i]! - b);
    expect(firstMismatch(applyDiff(base, diff).w!.values, expected)).toBe(-1);
  });
});

describe('diffStats', () => {
  it('densities with and without dense tensors, bytes per nonzero, untouched tensors', () => {
    const diff = createDiffFromMask({
      shapes: { a: [100], b: [1000], c: [10], head: [5] },
      sparse: {
        a: { indices: [0, 50, 99], values: new Float32Array(3) },
        b: { indices: [7], values: new Float32Array(1) },
      },
      dense: { head: { shape: [5], values: new Float32Array(5) } },
      added: { extra: { shape: [2], values: new Float32Array(2) } },
      provenance: testProvenance(),
      valueDtype: 'F16',
    });
    const s = diffStats(diff);
    expect(s.entries).toBe(100 + 1000 + 10 + 5 + 2);
    expect(s.nnz).toBe(3 + 1 + 5 + 2);
    expect(s.density).toBeCloseTo(11 / 1117, 12);
    expect(s.sparseDensity).toBeCloseTo(4 / 1110, 12);
    expect(s.untouchedTensors).toEqual(['c']);
    // Index bytes: a = varints 0, 50, 49 (1 byte each); b = varint 7 (1 byte). Values F16: 2 bytes.
    expect(s.indexBytes).toBe(4);
    expect(s.valueBytes).toBe(8);
    expect(s.denseBytes).toBe(7 * 4);
    expect(s.bytesPerNonzero).toBe(3);
    const fileBytes = concat(encodeDiff(diff));
    const stored = readDiff(fileBytes);
    expect(diffStats(stored).indexBytes).toBe(s.indexBytes);
  });

  it('elias-fano stays within 2 bits of the entropy bound; varint-delta sizes match the encoder', () => {
    const rng = createRng(41);
    for (const [n, k] of [
      [100_000, 100],
      [100_000, 1000],
      [1_000_000, 5000],
      [4096, 4096],
    ] as const) {
      const positions = randomPositions(rng, n, k);
      const ef = encodeEliasFano(positions, n).length * 8;
      const bound = log2Binomial(n, k);
      expect(ef).toBeGreaterThanOrEqual(bound);
      expect(ef).toBeLessThanOrEqual(bound + 2 * k + 16);
      const diff = createDiffFromMask({
        shapes: { w: [n] },
        sparse: { w: { indices: positions, values: new Float32Array(k) } },
        provenance: testProvenance(),
      });
      expect(diffStats(diff).indexBytes).toBe(encodeVarintDelta(positions).length);
    }
    // Low parts wider than 24 bits (n = 2^32, few positions) round-trip too; compare with varint-delta.
    for (const positions of [Uint32Array.of(0, 2 ** 32 - 1), Uint32Array.of(5, 2 ** 31, 2 ** 32 - 2)]) {
      const decoded = decodeEliasFano(encodeEliasFano(positions, 2 ** 32), 2 ** 32, positions.length, {
        tensor: 'x',
      });
      expect(Array.from(decoded)).toEqual(
        Array.from(
          decodeVarintDelta(encodeVarintDelta(positions), 2 ** 32, positions.length, { tensor: 'x' }),
        ),
      );
      expect(Array.from(decoded)).toEqual(Array.from(positions));
    }
    // log2 C(n, k) against a closed form: C(10, 3) = 120.
    expect(log2Binomial(10, 3)).toBeCloseTo(Math.log2(120), 12);
  });
});

describe('fingerprints and verifyDiff', () => {
  /** A second implementation of the spec in docs/format.md §5, written out byte by byte. */
  const specFingerprint = (tensors: { name: string; dtype: string; shape: number[]; data: Uint8Array }[]) => {
    const parts: Buffer[] = [];
    const u64 = (v: number) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt(v));
      return b;
    };
    for (const t of [...tensors].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      parts.push(
        u64(Buffer.byteLength(t.name)),
        Buffer.from(t.name),
        u64(t.dtype.length),
        Buffer.from(t.dtype),
      );
      parts.push(u64(t.shape.length), ...t.shape.map(u64), u64(t.data.length), Buffer.from(t.data));
    }
    return createHash('sha256').update(Buffer.concat(parts)).digest('hex');
  };

  it('fingerprintTensors follows the spec and ignores file layout; fingerprintCheckpoint reads the file', async () => {
    const rng = createRng(51);
    const base = randomTensors(rng, { 'b.w': [3, 2], 'a.w': [6], 'é.x': [1] });
    const tensors = Object.entries(base).map(([name, t]) => ({
      name,
      dtype: 'F32' as const,
      shape: t.shape,
      data: new Uint8Array(t.values.buffer.slice(0)),
    }));
    const fingerprint = fingerprintTensors(tensors);
    expect(fingerprint).toBe(specFingerprint(tensors));
    expect(fingerprintTensorArrays(base)).toBe(fingerprint);
    expect(fingerprintTensors([...tensors].reverse())).toBe(fingerprint);
    // Same bytes, other shape → different.
    expect(fingerprintTensors(tensors.map((t) => (t.name === 'b.w' ? { ...t, shape: [2, 3] } : t)))).not.toBe(
      fingerprint,
    );
    const directory = await temporaryDirectory();
    await writeFile(
      join(directory, 'model.safetensors'),
      concat(serializeSafetensors([...tensors].reverse(), { format: 'pt' })),
    );
    expect(await fingerprintCheckpoint(directory)).toBe(fingerprint);
  });

  it('verifyDiff accepts the right base and names the problems with another', () => {
    const rng = createRng(52);
    const base = randomTensors(rng, shapes);
    const { tuned } = perturb(rng, base, 0.05);
    const fingerprint = fingerprintTensorArrays(base);
    const diff = createDiff({ base, tuned, provenance: testProvenance(fingerprint) });
    expect(verifyDiff(diff, { base })).toMatchObject({ ok: true, fingerprintMatches: true, problems: [] });
    expect(verifyDiff(diff, { baseFingerprint: fingerprint }).ok).toBe(true);
    const other = perturb(rng, base, 0.01).tuned;
    const result = verifyDiff(diff, { base: other });
    expect(result.ok).toBe(false);
    expect(result.fingerprintMatches).toBe(false);
    expect(result.problems[0]).toMatch(/expected [0-9a-f]{64}; found [0-9a-f]{64}/);
    const reshaped = { ...base, emb: { shape: [8, 50], values: base.emb!.values } };
    expect(verifyDiff(diff, { base: reshaped }).problems.join('\n')).toMatch(
      /emb: expected shape \[50, 8\]; found \[8, 50\]/,
    );
    expect(() => applyDiff(other, diff, { baseFingerprint: fingerprintTensorArrays(other) })).toThrow(
      BaseMismatchError,
    );
  });
});

describe('files', () => {
  it('writeDiff writes atomically and readDiff(path) reads it back; a missing file is a typed error', async () => {
    const rng = createRng(61);
    const base = randomTensors(rng, shapes);
    const { tuned } = perturb(rng, base, 0.02);
    const diff = createDiff({
      base,
      tuned,
      provenance: testProvenance(),
      valueDtype: 'BF16',
      indexEncoding: 'elias-fano',
    });
    const directory = await temporaryDirectory();
    const path = join(directory, 'sst2.diff.safetensors');
    await writeDiff(path, diff);
    const read = await readDiff(path);
    expect(read.tensors.map((t) => t.name)).toEqual(diff.tensors.map((t) => t.name));
    await expect(readDiff(join(directory, 'nope.safetensors'))).rejects.toThrow(/is missing/);
  });

  it('the library version written into diffs equals package.json', async () => {
    const { default: manifest } = await import('../package.json', { with: { type: 'json' } });
    expect(libraryVersion).toBe(manifest.version);
  });
});

describe('applyDiff / revertDiff with a scatterAdd', () => {
  it('gives bit-identical results through a supplied scatter-add (the native one where built), and uses it', async () => {
    const rng = createRng(33);
    const base = randomTensors(rng, { ...shapes, big: [1 << 12, 64] });
    const { tuned } = perturb(rng, base, 0.02);
    const diff = readDiff(concat(encodeDiff(createDiff({ base, tuned, provenance: testProvenance() }))));
    const reference = applyDiff(base, diff);
    const calls: number[] = [];
    const recording: ScatterAdd = (target, indices, values, scale) => {
      calls.push(scale);
      scatterAddLoop(target, indices, values, scale);
    };
    const candidates: [string, ScatterAdd][] = [['recording', recording]];
    const { nativeScatterAdd } = await import('@diffprune/native');
    const native = nativeScatterAdd();
    if (native) candidates.push(['native', native]);
    else console.warn('@diffprune/native addon not built: only the JS scatter-add compared');
    for (const [, scatterAdd] of candidates) {
      const applied = applyDiff(base, diff, { scatterAdd });
      for (const name of Object.keys(base))
        expect(firstMismatch(applied[name]!.values, reference[name]!.values)).toBe(-1);
      const copy = Object.fromEntries(
        Object.entries(applied).map(([n, t]) => [n, { shape: t.shape, values: t.values.slice() }]),
      );
      const reverted = revertDiff(copy, diff, { inPlace: true, scatterAdd });
      const referenceReverted = revertDiff(reference, diff);
      for (const name of Object.keys(base))
        expect(firstMismatch(reverted[name]!.values, referenceReverted[name]!.values)).toBe(-1);
    }
    const sparseCount = diff.tensors.filter((t) => t.kind === 'sparse' && t.indices.length > 0).length;
    expect(calls).toEqual([...Array(sparseCount).fill(1), ...Array(sparseCount).fill(-1)]);
  });

  it('the native scatter-add refuses unsorted or out-of-range positions before writing anything', async () => {
    const native = (await import('@diffprune/native')).nativeScatterAdd();
    if (!native) return;
    const target = new Float32Array(10);
    expect(() => native(target, Uint32Array.of(3, 2), Float32Array.of(1, 1), 1)).toThrow(
      /strictly increasing/,
    );
    expect(() => native(target, Uint32Array.of(3, 3), Float32Array.of(1, 1), 1)).toThrow(
      /strictly increasing/,
    );
    expect(() => native(target, Uint32Array.of(2, 10), Float32Array.of(1, 1), 1)).toThrow(/in range/);
    expect(() => native(target, Uint32Array.of(2), Float32Array.of(1, 1), 1)).toThrow(/differ in length/);
    expect(Array.from(target)).toEqual(Array(10).fill(0));
    native(target, Uint32Array.of(0, 9), Float32Array.of(0.5, -2), -1);
    expect(target[0]).toBe(-0.5);
    expect(target[9]).toBe(2);
  });
});
