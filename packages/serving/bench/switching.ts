/**
 * Task-switching strategies of a multi-task model, on the offline BERT-Tiny with six task diffs:
 * mixed traffic (tasks round-robin), one input per request, answered one request at a time
 * (a switch per request) or grouped by task (what the server's per-task queue does).
 *
 * - apply/revert in place: one mutable copy of the parameters; per group, +δ in place, the touched
 *   tensors uploaded, forward, −δ in place (revertDiff; float32 round trip, so not bit-exact).
 * - resident: every task keeps its touched tensors built (`strategy: 'resident'`).
 * - per-batch: touched tensors rebuilt per group, token embedding rows only (`strategy: 'per-batch'`).
 *
 *   pnpm --filter @diffprune/serving bench [--diffs DIR] [--requests 48] [--rounds 3]
 *
 * DIR: `*.diff.safetensors` for the offline model (default: six synthetic diffs at the paper's 0.5 %
 * density, δ spread uniformly over every tensor, a new head each).
 */
import { readdirSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { padEncoded, toEncodedBatch } from '@diffprune/bert';
import { type ParameterMap, toFloat32 } from '@diffprune/core';
import { initBackend } from '@diffprune/runtime';
import {
  applyDiff,
  fingerprintCheckpoint,
  readCheckpointTensors,
  readDiff,
  revertDiff,
  type SparseDiff,
  type TensorArrays,
} from '@diffprune/sparse-diff';
import * as tf from '@tensorflow/tfjs-core';
import { MultiTaskModel, type SwitchingStrategy } from '../src/index.js';
import { sampleSentences as sentences, writeRandomDiff } from '../src/test/index.js';

const { values: args } = parseArgs({
  options: {
    diffs: { type: 'string' },
    requests: { type: 'string', default: '48' },
    rounds: { type: 'string', default: '3' },
  },
});
const model = fileURLToPath(new URL('../../../../shared/models/bert-tiny-mlm-offline/', import.meta.url));
const requests = Number(args.requests);
const rounds = Number(args.rounds);
const backend = await initBackend({ loadNative: () => import('../../native/src/index.js') });

// ---- diffs ----
let paths: string[];
if (args.diffs) {
  paths = readdirSync(args.diffs)
    .filter((f) => f.endsWith('.diff.safetensors'))
    .map((f) => join(args.diffs!, f));
} else {
  const base: TensorArrays = {};
  for (const t of await readCheckpointTensors(model))
    if (t.dtype === 'F32' && t.name.startsWith('bert.'))
      base[t.name] = { shape: t.shape, values: toFloat32(t) };
  const fingerprint = await fingerprintCheckpoint(model);
  const dir = await mkdtemp(join(tmpdir(), 'dp-switching-'));
  paths = [];
  for (let i = 0; i < 6; i++) {
    const path = join(dir, `task${i}.diff.safetensors`);
    await writeRandomDiff(path, { base, fingerprint, seed: i, numLabels: 2, density: 0.005 });
    paths.push(path);
  }
}
const names = paths.map((_, i) => `task${i}`);
// Every strategy keeps each task's δ (sorted positions and values) in memory.
let deltaBytes = 0;
for (const path of paths)
  for (const t of (await readDiff(path)).tensors)
    deltaBytes += t.values.byteLength + (t.kind === 'sparse' ? t.indices.byteLength : 0);
deltaBytes /= paths.length;

// Mixed traffic: request r is task r mod 6, one sentence.
const stream = Array.from({ length: requests }, (_, r) => ({
  task: r % names.length,
  text: sentences[r % sentences.length]!,
}));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const tensorBytes = () => tf.memory().numBytes;

async function timeLibrary(strategy: SwitchingStrategy) {
  const m = await MultiTaskModel.load(model, { strategy });
  const before = tensorBytes();
  for (const [i, path] of paths.entries()) await m.register(names[i]!, path);
  const perTaskBytes = (tensorBytes() - before) / paths.length;
  const ungrouped: number[] = [];
  const grouped: number[] = [];
  for (let round = 0; round < rounds; round++) {
    let started = performance.now();
    for (const r of stream) await m.predict(names[r.task]!, [r.text]);
    ungrouped.push((performance.now() - started) / requests);
    started = performance.now();
    for (const [t, name] of names.entries())
      await m.predict(
        name,
        stream.filter((r) => r.task === t).map((r) => r.text),
      );
    grouped.push((performance.now() - started) / requests);
  }
  m.dispose();
  return { ungrouped: median(ungrouped), grouped: median(grouped), perTaskBytes };
}

async function timeInPlace() {
  // The base as arrays plus live tensors; each group applies its diff in place and re-uploads.
  const m = await MultiTaskModel.load(model);
  const { backbone } = m.loaded;
  const arrays: TensorArrays = {};
  for (const [name, t] of Object.entries(m.loaded.params))
    arrays[name] = { shape: t.shape, values: ((await t.data()) as Float32Array).slice() };
  const diffs: SparseDiff[] = await Promise.all(paths.map((p) => readDiff(p)));
  const heads = diffs.map((d) => d.tensors.filter((t) => t.kind !== 'sparse').map((t) => t.name));
  const live: ParameterMap = { ...m.loaded.params };
  const run = (t: number, texts: string[]) => {
    const diff = diffs[t]!;
    applyDiff(arrays, diff, { inPlace: true });
    const touched = diff.tensors
      .filter((x) => x.kind !== 'sparse' || x.indices.length > 0)
      .map((x) => x.name);
    const uploaded: ParameterMap = {};
    for (const name of touched)
      uploaded[name] = tf.tensor(arrays[name]!.values, arrays[name]!.shape, 'float32');
    const encoded = texts.map((x) => backbone.encoder.encode(x, null, { maxLength: 128 }));
    const batch = toEncodedBatch(padEncoded(encoded, backbone.encoder.padId));
    const logits = backbone.classify({ ...live, ...uploaded }, batch, { training: false });
    logits.dataSync();
    tf.dispose([logits, batch.inputIds, batch.tokenTypeIds, batch.attentionMask, ...Object.values(uploaded)]);
    revertDiff(arrays, diff, { inPlace: true, replaced: {} });
    for (const name of heads[t]!) delete arrays[name];
  };
  const ungrouped: number[] = [];
  const grouped: number[] = [];
  for (let round = 0; round < rounds; round++) {
    let started = performance.now();
    for (const r of stream) run(r.task, [r.text]);
    ungrouped.push((performance.now() - started) / requests);
    started = performance.now();
    for (let t = 0; t < names.length; t++)
      run(
        t,
        stream.filter((r) => r.task === t).map((r) => r.text),
      );
    grouped.push((performance.now() - started) / requests);
  }
  m.dispose();
  return { ungrouped: median(ungrouped), grouped: median(grouped), perTaskBytes: 0 };
}

const rows: [string, { ungrouped: number; grouped: number; perTaskBytes: number }][] = [
  ['apply/revert in place', await timeInPlace()],
  ['resident overlays', await timeLibrary('resident')],
  ['per-batch overlays (default)', await timeLibrary('per-batch')],
];
console.log(
  `backend ${backend.backend}; ${paths.length} diffs; ${requests} one-input requests, tasks round-robin; median of ${rounds}`,
);
console.log(
  '| strategy | ms/request, a switch per request | ms/request, grouped by task | MB held per task (δ + built tensors) |',
);
console.log('|---|---:|---:|---:|');
for (const [name, r] of rows)
  console.log(
    `| ${name} | ${r.ungrouped.toFixed(2)} | ${r.grouped.toFixed(2)} | ${((deltaBytes + r.perTaskBytes) / 2 ** 20).toFixed(2)} |`,
  );
