/**
 * Per-kernel CPU time of the trainer's own training step (apps/bench's measureStep: the trainer's
 * createTrainingState + trainStep) on `native`: where a full-finetuning or diff-pruning step spends
 * its time. Kernels are wrapped with a CPU-time counter after the warm-up.
 *
 *   pnpm bench:profile [--method full|diff-pruning] [--size tiny|mini] [--batch 32] [--seq 64] [--steps 3]
 */
import { parseArgs } from 'node:util';
import * as native from '@diffprune/native';
import { initBackend } from '@diffprune/runtime';
import { measureStep } from '@diffprune/training/test';
import { wrapKernels } from './kernel-timer.js';

const { values: args } = parseArgs({
  options: {
    method: { type: 'string', default: 'diff-pruning' },
    size: { type: 'string', default: 'tiny' },
    batch: { type: 'string', default: '32' },
    seq: { type: 'string', default: '64' },
    steps: { type: 'string', default: '3' },
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
const common = {
  size: args.size as 'tiny',
  batch: Number(args.batch),
  seq: Number(args.seq),
  method: args.method as 'full' | 'diff-pruning',
  seed: 1,
};
await measureStep({ ...common, steps: 1, warmup: 1 });
timer.start();
const steps = Number(args.steps);
const timing = await measureStep({ ...common, steps, warmup: 0 });
timer.stop();
const { lines, totalMs: total } = timer.table(steps, 30);
console.log(
  `${args.method} ${args.size} ${args.batch}×${args.seq}: ${timing.medianMs.toFixed(1)} ms/step wall, ${timing.medianCpuMs.toFixed(1)} ms CPU; kernels ${total.toFixed(1)} ms CPU/step`,
);
for (const line of lines) console.log(line);
