/**
 * Per-task groups against cross-task batching, in process (no HTTP). First one mixed pass of
 * `--connections` rows (one input of each of as many requests, the tasks of `--diffs` in turn, through
 * `predictMany`) against one pass of as many rows of one task (`predict`), `--passes` of each in
 * turns: medians and their ratio (robust to a shared machine's load, unlike the absolute times); the
 * same with `--connections` of the 50 tasks below (drawn afresh each pass); where the backend registers the fused
 * `DiffpruneSparseRowLinear`, both mixed passes also without it (base matmul + sparse δ), in turns.
 * Then 16 clients each send one-input requests in a loop for `--seconds`, over one task, the diffs in
 * `--diffs` (NAME.diff.safetensors) and 50 copies of them under new names; requests/s and the mean
 * inputs per forward pass. `npx pnpm --filter @diffprune/serving bench:cross-task --diffs DIR`.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sparseRowLinearKernelName } from '@diffprune/core';
import { initBackend } from '@diffprune/runtime';
import * as tf from '@tensorflow/tfjs-core';
import { MultiTaskModel, PredictionQueue } from '../src/index.js';
import { sampleSentences as sentences } from '../src/test/index.js';

const { values: args } = parseArgs({
  options: {
    diffs: { type: 'string' },
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    connections: { type: 'string', default: '16' },
    passes: { type: 'string', default: '100' },
  },
});
if (!args.diffs) throw new Error('--diffs <dir of NAME.diff.safetensors> is required');
const model = fileURLToPath(new URL('../../../../shared/models/bert-tiny-mlm-offline/', import.meta.url));
const backend = await initBackend({ loadNative: () => import('../../native/src/index.js') });
const m = await MultiTaskModel.load(model, {});
const files = readdirSync(args.diffs).filter((f) => f.endsWith('.diff.safetensors'));
const tasks = files.map((f) => f.replace(/\.diff\.safetensors$/, ''));
for (const [i, t] of tasks.entries()) await m.register(t, join(args.diffs, files[i]!));
const many = Array.from({ length: 50 }, (_, i) => `copy${i}`);
for (const [i, t] of many.entries()) await m.register(t, join(args.diffs, files[i % files.length]!));
const passRows = Number(args.connections);
const inputs = Array.from({ length: passRows }, (_, i) => sentences[i % sentences.length]!);
const mixed = inputs.map((input, i) => ({ task: tasks[i % tasks.length]!, inputs: [input] }));
// Each pass draws its own `--connections` of the 50 tasks (seeded): every mixed pass plans a new set
// of task versions, as a server's batches do under traffic over 50 tasks.
let state = 7;
const random = () => {
  state = (state * 1664525 + 1013904223) >>> 0;
  return state / 2 ** 32;
};
const drawMany = () =>
  inputs.map((input) => ({ task: many[Math.floor(random() * many.length)]!, inputs: [input] }));
const time = async (run: () => Promise<unknown>) => {
  const started = performance.now();
  await run();
  return performance.now() - started;
};
// The per-row linear's two paths on this backend: the fused kernel where registered, and without it
// (x·Wᵀ plus the per-slot sparseRowDelta), in turns in one process.
const fused = tf.getKernel(sparseRowLinearKernelName, tf.getBackend());
const paths: [string, boolean][] = fused
  ? [
      ['fused sparse linear', true],
      ['base matmul + sparse δ', false],
    ]
  : [['base matmul + sparse δ', false]];
const single: number[] = [];
const mixedMs = paths.map((): number[] => []);
const manyMs = paths.map((): number[] => []);
for (let pass = -10; pass < Number(args.passes); pass++) {
  const one = await time(() => m.predict(tasks[0]!, inputs));
  if (pass >= 0) single.push(one);
  const mixedMany = drawMany();
  for (const [p, [, on]] of paths.entries()) {
    if (fused && !on) tf.unregisterKernel(sparseRowLinearKernelName, tf.getBackend());
    const all = await time(() => m.predictMany(mixed));
    const all50 = await time(() => m.predictMany(mixedMany));
    if (fused && !on) tf.registerKernel(fused);
    if (pass >= 0) {
      mixedMs[p]!.push(all);
      manyMs[p]!.push(all50);
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `${backend.backend}, one pass of ${passRows} rows, ${args.passes} of each in turns (medians): one task ${median(single).toFixed(2)} ms`,
);
for (const [p, [label]] of paths.entries())
  console.log(
    `  ${label}: ${tasks.length} tasks mixed ${median(mixedMs[p]!).toFixed(2)} ms (÷ one task ${(median(mixedMs[p]!) / median(single)).toFixed(2)}×), ${passRows} random of the 50 tasks mixed ${median(manyMs[p]!).toFixed(2)} ms (${(median(manyMs[p]!) / median(single)).toFixed(2)}×)`,
  );
console.log('');

const sizes: number[] = [];
m.subscribe((e) => {
  if (e.type === 'batch-end') sizes.push(e.inputs);
});

async function run(names: string[], crossTask: boolean): Promise<string> {
  const queue = new PredictionQueue(m, { crossTask });
  let done = 0;
  let stop = false;
  let next = 0;
  sizes.length = 0;
  const client = async () => {
    while (!stop) {
      const k = next++;
      await queue.submit(names[k % names.length]!, [sentences[k % sentences.length]!]);
      done++;
    }
  };
  const started = performance.now();
  setTimeout(() => {
    stop = true;
  }, Number(args.seconds) * 1000);
  await Promise.all(Array.from({ length: Number(args.connections) }, client));
  await queue.close();
  const perSecond = done / ((performance.now() - started) / 1000);
  return `${perSecond.toFixed(0)} (${(sizes.reduce((a, b) => a + b, 0) / sizes.length).toFixed(1)})`;
}

const rows: [string, string[], boolean][] = [
  ['single task', [tasks[0]!], false],
  [`${tasks.length} tasks`, tasks, false],
  [`${tasks.length} tasks`, tasks, true],
  ['50 tasks', many, false],
  ['50 tasks', many, true],
];
const results: string[][] = rows.map(() => []);
for (let round = 0; round < Number(args.rounds); round++)
  for (const [i, [, names, cross]] of rows.entries()) results[i]!.push(await run(names, cross));
console.log(
  `${backend.backend}, ${args.connections} clients, one input per request, ${args.seconds} s per run, runs in turns: requests/s (inputs per forward pass)\n`,
);
console.log('| traffic | grouping | requests/s per run |');
console.log('|---|---|---|');
for (const [i, [label, , cross]] of rows.entries())
  console.log(`| ${label} | ${cross ? 'cross-task' : 'per task'} | ${results[i]!.join(' / ')} |`);
m.dispose();
