/**
 * Per-kernel CPU time of the trainer's own training step (`createTrainingState` + `trainStep`, the step
 * `diffprune-bench step` times) on `native`, on a seeded random BERT: where a full-finetuning or
 * diff-pruning step spends its time. Kernels are wrapped with a CPU-time counter after two warm-up
 * steps on the same state (so neither the state's setup nor first-call costs are counted).
 *
 *   pnpm bench:profile [--method full|diff-pruning] [--size tiny|mini] [--batch 32] [--seq 64] [--steps 10]
 *                      [--threads 1] [--shapes]
 */
import { parseArgs } from 'node:util';
import { randomBatch, randomBert, type StepSize, stepConfigJson } from '@diffprune/bert/test';
import * as native from '@diffprune/native';
import { initBackend } from '@diffprune/runtime';
import { createTrainingState, trainStep } from '@diffprune/training';
import { wrapKernels } from './kernel-timer.js';

const { values: args } = parseArgs({
  options: {
    method: { type: 'string', default: 'diff-pruning' },
    size: { type: 'string', default: 'tiny' },
    batch: { type: 'string', default: '32' },
    seq: { type: 'string', default: '64' },
    steps: { type: 'string', default: '10' },
    threads: { type: 'string', default: '1' },
    shapes: { type: 'boolean', default: false },
  },
});

const info = await initBackend({
  backend: 'native',
  threads: Number(args.threads),
  loadNative: async () => native,
});
console.log(info.reason);
const timer = wrapKernels('native', { shapes: args.shapes });
const seed = 1;
const configJson = stepConfigJson(args.size as StepSize);
const state = createTrainingState({
  loaded: randomBert(configJson, seed),
  method: args.method as 'full' | 'diff-pruning',
  numLabels: 2,
  settings: { seed },
});
const { batch, labels } = randomBatch(Number(args.batch), Number(args.seq), configJson.vocab_size, seed);
for (let step = 0; step < 2; step++) await trainStep(state, batch, labels, step);
const steps = Number(args.steps);
const wallMs: number[] = [];
const cpuMs: number[] = [];
timer.start();
for (let step = 2; step < 2 + steps; step++) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  await trainStep(state, batch, labels, step);
  wallMs.push(performance.now() - start);
  const used = process.cpuUsage(cpu);
  cpuMs.push((used.user + used.system) / 1000);
}
timer.stop();
state.dispose();
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const { lines, totalMs: total, calls } = timer.table(steps, 40);
console.log(
  `${args.method} ${args.size} ${args.batch}×${args.seq}: ${median(wallMs).toFixed(1)} ms/step wall, ${median(cpuMs).toFixed(1)} ms CPU (medians of ${steps}); kernels ${total.toFixed(1)} ms CPU, ${calls} calls per step`,
);
for (const line of lines) console.log(line);
