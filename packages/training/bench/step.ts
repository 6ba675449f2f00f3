/**
 * One BERT training step (forward + backward with respect to every parameter, training mode with
 * dropout, full finetuning) on `native` and on tfjs `cpu` (or other backends), ms per step, and with
 * --profile the time per kernel name on the first backend (kernels wrapped with a timer).
 * Parameters are random (shapes are what matters): @diffprune/bert/test's seeded random BERT and batch, the
 * ones `diffprune-bench step` uses.
 *
 *   pnpm bench:step [--size tiny|mini] [--batch 32] [--seq 64] [--backends native,cpu] [--threads 1]
 *                   [--steps 5] [--profile [--shapes]]
 */
import { parseArgs } from 'node:util';
import type { ParameterMap } from '@diffprune/core';
import { initBackend } from '@diffprune/runtime';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { randomBatch, randomBert, stepConfigJson, stepSizes } from '@diffprune/bert/test';
import * as native from '@diffprune/native';
import { median } from '@diffprune/training/test';
import { type KernelTimer, wrapKernels } from './kernel-timer.js';

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: 'tiny' },
    batch: { type: 'string', default: '32' },
    seq: { type: 'string', default: '64' },
    backends: { type: 'string', default: 'native,cpu' },
    threads: { type: 'string', default: '1' },
    steps: { type: 'string', default: '5' },
    'cpu-steps': { type: 'string', default: '1' },
    profile: { type: 'boolean', default: false },
    shapes: { type: 'boolean', default: false },
  },
});

// The runtime's own path: registers tfjs's gradients and the native backend.
const info = await initBackend({
  backend: 'native',
  threads: Number(args.threads),
  loadNative: async () => native,
});
if (process.env.TUNE_ALLOCATOR) console.log('tuneAllocator', native.nativeAddon().tuneAllocator());
const batchSize = Number(args.batch);
const length = Number(args.seq);
if (!(args.size in stepSizes)) throw new Error(`--size: one of ${Object.keys(stepSizes).join(', ')}`);
const size = args.size as keyof typeof stepSizes;
console.log(`BERT-${args.size} training step, batch ${batchSize} × seq ${length}; ${info.reason}`);

let timer: KernelTimer | undefined;

// CPU time of the process per step (all threads): steadier than wall time on a shared machine.
const cpuMs: Record<string, number> = {};

async function measure(backend: string, steps: number): Promise<number> {
  await tf.setBackend(backend);
  const { backbone, params } = randomBert(stepConfigJson(size), 1);
  const { batch, labels: classes } = randomBatch(batchSize, length, 30522, 2);
  const labels = tf.oneHot(classes, 2);
  const names = Object.keys(params);
  const gradient = tf.grads((...xs: tf.Tensor[]) => {
    const p: ParameterMap = {};
    names.forEach((n, i) => {
      p[n] = xs[i]!;
    });
    const logits = backbone.classify(p, batch, { training: true, seed: 1 });
    return tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.logSoftmax(logits)), 1)));
  });
  const step = () => {
    const grads = gradient(names.map((n) => params[n]!));
    for (const g of grads) g.dataSync();
    tf.dispose(grads);
  };
  step(); // warm-up
  if (args.profile && backend === args.backends.split(',')[0]) {
    timer = wrapKernels(backend, { shapes: args.shapes });
    timer.start();
  }
  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    step();
    times.push(performance.now() - start);
    const cpu = process.cpuUsage(cpuStart);
    cpuTimes.push((cpu.user + cpu.system) / 1000);
  }
  cpuMs[backend] = median(cpuTimes);
  timer?.stop();
  tf.dispose([
    ...Object.values(params),
    batch.inputIds,
    batch.tokenTypeIds,
    batch.attentionMask,
    labels,
    classes,
  ]);
  return median(times);
}

const results: Record<string, number> = {};
for (const backend of args.backends.split(',')) {
  const steps = backend === 'cpu' ? Number(args['cpu-steps']) : Number(args.steps);
  results[backend] = await measure(backend, steps);
  console.log(
    `${backend}: ${results[backend]!.toFixed(1)} ms/step wall, ${cpuMs[backend]!.toFixed(1)} ms CPU (medians of ${steps})`,
  );
  if (timer) {
    const { lines, totalMs } = timer.table(Number(args.steps));
    console.log(
      `  kernels: ${totalMs.toFixed(1)} ms/step of ${results[backend]!.toFixed(1)} (the rest: engine, tape, JS)`,
    );
    for (const line of lines) console.log(line);
    timer = undefined;
  }
}
if (results.native !== undefined && results.cpu !== undefined) {
  console.log(`native is ${(results.cpu / results.native).toFixed(1)}× faster than cpu`);
}
