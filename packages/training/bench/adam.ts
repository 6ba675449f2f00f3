/**
 * Adam over BERT-Tiny's parameter count (4.4 M floats, 3.9 M of them the word embeddings): the
 * trainer's own `adamStep` (apps/trainer) with the `DiffpruneAdam` kernel unregistered (its tfjs op
 * sequence) and registered (fused, in place), both on `native`, CPU ms per step.
 *
 *   pnpm bench:adam [--size 4386178] [--steps 5]
 */
import { parseArgs } from 'node:util';
import { adamKernelName } from '@diffprune/core';
import * as native from '@diffprune/native';
import { initBackend } from '@diffprune/runtime';
import { adamStep, createAdamState, disposeAdamState } from '@diffprune/training';
import * as tf from '@tensorflow/tfjs-core';

const { values: args } = parseArgs({
  options: { size: { type: 'string', default: '4386178' }, steps: { type: 'string', default: '5' } },
});
await initBackend({ backend: 'native', threads: 1, loadNative: async () => native });
const size = Number(args.size);
const grads = { p: tf.randomUniform([size]) };

const cpuMs = (fused: boolean) => {
  const kernel = tf.getKernel(adamKernelName, 'native')!;
  if (!fused) tf.unregisterKernel(adamKernelName, 'native');
  const params = { p: tf.randomUniform([size]) };
  const state = createAdamState(params);
  const step = () => adamStep(params, grads, state, 1e-3, { betas: [0.9, 0.999], epsilon: 1e-8 });
  step();
  const times: number[] = [];
  for (let i = 0; i < Number(args.steps); i++) {
    const start = process.cpuUsage();
    step();
    params.p.dataSync();
    const used = process.cpuUsage(start);
    times.push((used.user + used.system) / 1000);
  }
  if (!fused) tf.registerKernel(kernel);
  disposeAdamState(state);
  params.p.dispose();
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
};
const ops = cpuMs(false);
const fused = cpuMs(true);
console.log(
  `Adam over ${size} floats, CPU ms per step: tfjs ops ${ops.toFixed(1)}, fused DiffpruneAdam in place ${fused.toFixed(1)} (${(ops / fused).toFixed(1)}×)`,
);
