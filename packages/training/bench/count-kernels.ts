/**
 * Kernel calls per training step of the trainer's own step (`createTrainingState` + `trainStep`, the
 * step `diffprune-bench step` times) on a seeded random BERT: every kernel registered for the backend
 * is wrapped with a call counter after one warm-up step (so the state's setup is not counted), and
 * the calls of the next steps are averaged, by kernel name.
 *
 *   pnpm bench:count [--backend cpu|native|wasm] [--method diff-pruning|full] [--size tiny|mini]
 *                    [--batch 8] [--seq 32] [--steps 2]
 */
import { parseArgs } from 'node:util';
import { randomBatch, randomBert, type StepSize, stepConfigJson } from '@diffprune/bert/test';
import * as native from '@diffprune/native';
import { initBackend, parseBackendName } from '@diffprune/runtime';
import { createTrainingState, trainStep } from '@diffprune/training';
import * as tf from '@tensorflow/tfjs-core';

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: 'cpu' },
    method: { type: 'string', default: 'diff-pruning' },
    size: { type: 'string', default: 'tiny' },
    batch: { type: 'string', default: '8' },
    seq: { type: 'string', default: '32' },
    steps: { type: 'string', default: '2' },
  },
});

const backend = parseBackendName(args.backend, '--backend');
const info = await initBackend({ backend, threads: 1, loadNative: async () => native });
const calls = new Map<string, number>();
let counting = false;
for (const config of tf.getKernelsForBackend(info.backend)) {
  const inner = config.kernelFunc;
  tf.unregisterKernel(config.kernelName, info.backend);
  tf.registerKernel({
    ...config,
    kernelFunc: (kernelArgs) => {
      if (counting) calls.set(config.kernelName, (calls.get(config.kernelName) ?? 0) + 1);
      return inner(kernelArgs);
    },
  });
}

const seed = 1;
const configJson = stepConfigJson(args.size as StepSize);
const loaded = randomBert(configJson, seed);
const state = createTrainingState({
  loaded,
  method: args.method as 'full' | 'diff-pruning',
  numLabels: 2,
  settings: { seed },
});
const { batch, labels } = randomBatch(Number(args.batch), Number(args.seq), configJson.vocab_size, seed);
await trainStep(state, batch, labels, 0);
const steps = Number(args.steps);
counting = true;
for (let step = 1; step <= steps; step++) await trainStep(state, batch, labels, step);
counting = false;
state.dispose();

const rows = [...calls.entries()].sort((a, b) => b[1] - a[1]);
const total = rows.reduce((sum, [, n]) => sum + n, 0) / steps;
console.log(
  `${args.method} BERT-${args.size} ${args.batch}×${args.seq} on ${info.backend}: ${total} kernel calls per step (mean of ${steps})`,
);
for (const [name, n] of rows) console.log(`  ${name.padEnd(26)} ${(n / steps).toFixed(1).padStart(7)}`);
