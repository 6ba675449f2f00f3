// pnpm bench (in packages/sparse-diff): storage per nonzero and apply time at bert-base scale.
// Positions are uniform at random within each tensor (the hardest case for an index code; real
// diffs cluster, e.g. in the head and biases, and compress a little better).
import { performance } from 'node:perf_hooks';
import { nativeScatterAdd } from '@diffprune/native';
import { applyDiff, revertDiff } from '../src/apply.js';
import { createDiffFromMask } from '../src/create.js';
import { encodeDiff } from '../src/file.js';
import { readDiff } from '../src/file-node.js';
import { diffStats } from '../src/stats.js';
import { concat, createRng, randomPositions, testProvenance } from '../src/test-helpers.js';
import type { IndexEncoding, TensorArrays, ValueDtype } from '../src/types.js';

/** bert-base-uncased parameter shapes (HF names), 109.5 M entries. */
function bertBaseShapes(): Record<string, number[]> {
  const h = 768;
  const f = 3072;
  const s: Record<string, number[]> = {
    'bert.embeddings.word_embeddings.weight': [30522, h],
    'bert.embeddings.position_embeddings.weight': [512, h],
    'bert.embeddings.token_type_embeddings.weight': [2, h],
    'bert.embeddings.LayerNorm.weight': [h],
    'bert.embeddings.LayerNorm.bias': [h],
  };
  for (let l = 0; l < 12; l++) {
    const p = `bert.encoder.layer.${l}.`;
    for (const m of [
      'attention.self.query',
      'attention.self.key',
      'attention.self.value',
      'attention.output.dense',
    ]) {
      s[`${p}${m}.weight`] = [h, h];
      s[`${p}${m}.bias`] = [h];
    }
    s[`${p}attention.output.LayerNorm.weight`] = [h];
    s[`${p}attention.output.LayerNorm.bias`] = [h];
    s[`${p}intermediate.dense.weight`] = [f, h];
    s[`${p}intermediate.dense.bias`] = [f];
    s[`${p}output.dense.weight`] = [h, f];
    s[`${p}output.dense.bias`] = [h];
    s[`${p}output.LayerNorm.weight`] = [h];
    s[`${p}output.LayerNorm.bias`] = [h];
  }
  s['bert.pooler.dense.weight'] = [h, h];
  s['bert.pooler.dense.bias'] = [h];
  return s;
}

const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const shapes = bertBaseShapes();
const total = Object.values(shapes).reduce((a, s) => a + count(s), 0);
const rng = createRng(2021);

function randomDiff(density: number, indexEncoding: IndexEncoding, valueDtype: ValueDtype, seed: number) {
  const r = createRng(seed);
  const sparse: Record<string, { indices: Uint32Array; values: Float32Array }> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const n = count(shape);
    const k = Math.round(n * density);
    const values = new Float32Array(k);
    for (let i = 0; i < k; i++) values[i] = r.normal() * 1e-3;
    sparse[name] = { indices: randomPositions(r, n, k), values };
  }
  return createDiffFromMask({ shapes, sparse, provenance: testProvenance(), indexEncoding, valueDtype });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const time = (run: () => void, repeats: number) => {
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  return { median: median(times), min: Math.min(...times) };
};

console.log(
  `# sparse-diff benchmark: ${(total / 1e6).toFixed(1)} M entries (bert-base shapes, ${Object.keys(shapes).length} tensors)`,
);
console.log(`node ${process.version}, ${new Date().toISOString()}\n`);
console.log('## Bytes per nonzero (index + value; file = whole file incl. header ÷ nnz)\n');
console.log(
  '| density | encoding | values | index bits/nnz | entropy bound bits/nnz | bytes/nnz | file bytes/nnz | naive int32+f32 |',
);
console.log('|---|---|---|---|---|---|---|---|');
for (const density of [0.001, 0.005, 0.01]) {
  for (const encoding of ['varint-delta', 'elias-fano'] as IndexEncoding[]) {
    for (const dtype of ['F32', 'F16', 'BF16', 'I8'] as ValueDtype[]) {
      const diff = randomDiff(density, encoding, dtype, Math.round(density * 1e4));
      const stats = diffStats(diff);
      const fileBytes = encodeDiff(diff).reduce((a, c) => a + c.byteLength, 0);
      console.log(
        `| ${(density * 100).toFixed(1)} % | ${encoding} | ${dtype} | ${stats.bitsPerIndex!.toFixed(2)} | ${stats.entropyBoundBitsPerIndex!.toFixed(2)} | ${stats.bytesPerNonzero!.toFixed(3)} | ${(fileBytes / stats.nnz).toFixed(3)} | 8 |`,
      );
    }
  }
}

console.log('\n## Apply / revert / read of a 0.5 % diff (F32 values) to the bert-base-sized parameter set\n');
const base: TensorArrays = {};
for (const [name, shape] of Object.entries(shapes)) {
  const values = new Float32Array(count(shape));
  for (let i = 0; i < values.length; i += 97) values[i] = rng.normal() * 0.02;
  base[name] = { shape, values };
}
const applyMedians: number[] = [];
const nativeMedians: number[] = [];
// @diffprune/native's prefetching scatter-add, where its addon is built (its pool has one thread
// unless a backend registration sets more; the scatter is latency-bound, see the README).
const scatterAdd = nativeScatterAdd();
console.log('| operation | encoding | median ms | min ms | runs |');
console.log('|---|---|---|---|---|');
for (const encoding of ['varint-delta', 'elias-fano'] as IndexEncoding[]) {
  const diff = randomDiff(0.005, encoding, 'F32', 5);
  const bytes = concat(encodeDiff(diff));
  const read = time(() => readDiff(bytes), 5);
  console.log(
    `| readDiff (decode + validate ${(bytes.length / 1e6).toFixed(2)} MB) | ${encoding} | ${read.median.toFixed(1)} | ${read.min.toFixed(1)} | 5 |`,
  );
  const decoded = readDiff(bytes);
  // Warm up, then apply and revert in place (each pair leaves the base as it was, up to rounding).
  for (let i = 0; i < 3; i++)
    revertDiff(applyDiff(base, decoded, { inPlace: true }), decoded, { inPlace: true });
  const applyTimes: number[] = [];
  const revertTimes: number[] = [];
  for (let i = 0; i < 15; i++) {
    let start = performance.now();
    applyDiff(base, decoded, { inPlace: true });
    applyTimes.push(performance.now() - start);
    start = performance.now();
    revertDiff(base, decoded, { inPlace: true });
    revertTimes.push(performance.now() - start);
  }
  applyMedians.push(median(applyTimes));
  const nativeApply: number[] = [];
  const nativeRevert: number[] = [];
  if (scatterAdd) {
    for (let i = 0; i < 3; i++)
      revertDiff(applyDiff(base, decoded, { inPlace: true, scatterAdd }), decoded, {
        inPlace: true,
        scatterAdd,
      });
    for (let i = 0; i < 15; i++) {
      let start = performance.now();
      applyDiff(base, decoded, { inPlace: true, scatterAdd });
      nativeApply.push(performance.now() - start);
      start = performance.now();
      revertDiff(base, decoded, { inPlace: true, scatterAdd });
      nativeRevert.push(performance.now() - start);
    }
    nativeMedians.push(median(nativeApply));
  }
  // The same additions by a bare loop over the same arrays (what applyDiff adds on top of it).
  const pairs = decoded.tensors.flatMap((t) =>
    t.kind === 'sparse' ? [[base[t.name]!.values, t.indices, t.values] as const] : [],
  );
  const bare = time(() => {
    for (const [target, indices, values] of pairs)
      for (let i = 0; i < indices.length; i++) target[indices[i]!]! += values[i]!;
  }, 15);
  console.log(
    `| bare loop, same arrays and entries | ${encoding} | ${bare.median.toFixed(2)} | ${bare.min.toFixed(2)} | 15 |`,
  );
  console.log(
    `| applyDiff in place (${(decoded.tensors.reduce((a, t) => a + (t.kind === 'sparse' ? t.indices.length : 0), 0) / 1e3).toFixed(0)} k entries) | ${encoding} | ${median(applyTimes).toFixed(2)} | ${Math.min(...applyTimes).toFixed(2)} | 15 |`,
  );
  console.log(
    `| revertDiff in place | ${encoding} | ${median(revertTimes).toFixed(2)} | ${Math.min(...revertTimes).toFixed(2)} | 15 |`,
  );
  if (scatterAdd) {
    console.log(
      `| applyDiff in place, scatterAdd: nativeScatterAdd() | ${encoding} | ${median(nativeApply).toFixed(2)} | ${Math.min(...nativeApply).toFixed(2)} | 15 |`,
    );
    console.log(
      `| revertDiff in place, scatterAdd: nativeScatterAdd() | ${encoding} | ${median(nativeRevert).toFixed(2)} | ${Math.min(...nativeRevert).toFixed(2)} | 15 |`,
    );
  }
  if (encoding === 'varint-delta') {
    const copy = time(() => applyDiff(base, decoded), 3);
    console.log(
      `| applyDiff copying (new arrays for every changed tensor, ${((total * 4) / 1e6).toFixed(0)} MB) | ${encoding} | ${copy.median.toFixed(1)} | ${copy.min.toFixed(1)} | 3 |`,
    );
  }
}
// The floor on this machine: the same number of sorted random float32 additions into one flat
// array of the same total size (memory- and TLB-bound), measured in the same run.
{
  const flat = new Float32Array(total);
  for (let i = 0; i < total; i += 97) flat[i] = 1;
  const k = Math.round(total * 0.005);
  const positions = randomPositions(createRng(9), total, k);
  const values = new Float32Array(k).fill(1e-3);
  const scatter = () => {
    for (let i = 0; i < k; i++) flat[positions[i]!]! += values[i]!;
  };
  for (let i = 0; i < 3; i++) scatter();
  const floor = time(scatter, 15);
  console.log(
    `| floor: a bare loop of ${(k / 1e3).toFixed(0)} k sorted scattered adds into one ${(total / 1e6).toFixed(0)} M array | - | ${floor.median.toFixed(2)} | ${floor.min.toFixed(2)} | 15 |`,
  );
  console.log(
    `\napplyDiff in place ÷ the one-array floor (medians, varint-delta): ${(applyMedians[0]! / floor.median).toFixed(2)}×`,
  );
}
if (nativeMedians.length > 0) {
  console.log(
    `applyDiff in place with nativeScatterAdd() (medians, varint-delta / elias-fano): ${nativeMedians.map((m) => m.toFixed(2)).join(' / ')} ms`,
  );
} else {
  console.log('@diffprune/native addon not built: the nativeScatterAdd() rows were skipped');
}
console.log('Target: applyDiff of a 0.5 % diff ≤ 10 ms (in place, diff already read).');
