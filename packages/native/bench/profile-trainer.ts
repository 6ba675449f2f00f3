/**
 * Per-kernel CPU time of the trainer's own training step (apps/bench's measureStep: the trainer's
 * createTrainingState + trainStep) on `native`: where a full-finetuning or diff-pruning step spends
 * its time. Kernels are wrapped with a CPU-time counter after the warm-up.
 *
 *   pnpm bench:profile [--method full|diff-pruning] [--size tiny|mini] [--batch 32] [--seq 64] [--steps 3]
 */
import { parseArgs } from 'node:util';
import { initBackend } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { measureStep } from '../../../apps/bench/src/step/measure.js';
import * as native from '../src/index.js';

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
const kernelTimes = new Map<string, { ms: number; calls: number }>();
let profiling = false;
for (const config of tf.getKernelsForBackend('native')) {
  const inner = config.kernelFunc;
  tf.unregisterKernel(config.kernelName, 'native');
  tf.registerKernel({
    ...config,
    kernelFunc: (kernelArgs) => {
      if (!profiling) return inner(kernelArgs);
      const start = process.cpuUsage();
      const result = inner(kernelArgs);
      const used = process.cpuUsage(start);
      const key = args.shapes
        ? `${config.kernelName} ${Object.values(kernelArgs.inputs)
            .map((input) => `${input?.dtype ?? ''}[${input?.shape}]`)
            .join(' ')}`
        : config.kernelName;
      const entry = kernelTimes.get(key) ?? { ms: 0, calls: 0 };
      entry.ms += (used.user + used.system) / 1000;
      entry.calls++;
      kernelTimes.set(key, entry);
      return result;
    },
  });
}
const common = {
  size: args.size as 'tiny',
  batch: Number(args.batch),
  seq: Number(args.seq),
  method: args.method as 'full' | 'diff-pruning',
  seed: 1,
};
await measureStep({ ...common, steps: 1, warmup: 1 });
profiling = true;
const steps = Number(args.steps);
const timing = await measureStep({ ...common, steps, warmup: 0 });
profiling = false;
const rows = [...kernelTimes.entries()].sort((a, b) => b[1].ms - a[1].ms);
const total = rows.reduce((sum, [, entry]) => sum + entry.ms, 0) / steps;
console.log(
  `${args.method} ${args.size} ${args.batch}×${args.seq}: ${timing.medianMs.toFixed(1)} ms/step wall, ${timing.medianCpuMs.toFixed(1)} ms CPU; kernels ${total.toFixed(1)} ms CPU/step`,
);
for (const [name, entry] of rows.slice(0, 30)) {
  console.log(
    `  ${name.padEnd(args.shapes ? 64 : 24)} ${(entry.ms / steps).toFixed(2).padStart(8)} ms  ${(entry.calls / steps).toFixed(0).padStart(4)} calls`,
  );
}
