/**
 * Adam over BERT-Tiny's parameter count (4.4 M floats, 3.9 M of them the word embeddings): the
 * trainer's tfjs op sequence vs the fused `DiffpruneAdam` kernel, both on `native`, CPU ms per step.
 *
 *   pnpm bench:adam [--size 4386178] [--steps 5]
 */
import { parseArgs } from 'node:util';
import { initBackend } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import * as native from '../src/index.js';

const { values: args } = parseArgs({
  options: { size: { type: 'string', default: '4386178' }, steps: { type: 'string', default: '5' } },
});
await initBackend({ backend: 'native', threads: 1, loadNative: async () => native });
const size = Number(args.size);
const [beta1, beta2, epsilon, stepSize, sqrtCorrection2] = [0.9, 0.999, 1e-8, 1e-3, 0.05];
let p = tf.randomUniform([size]);
let m = tf.zeros([size]);
let v = tf.zeros([size]);
const g = tf.randomUniform([size]);

const opsStep = () => {
  const [p1, m1, v1] = tf.tidy(() => {
    const mNext = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
    const vNext = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
    const denominator = tf.add(tf.div(tf.sqrt(vNext), sqrtCorrection2), epsilon);
    return [tf.sub(p, tf.mul(tf.div(mNext, denominator), stepSize)), mNext, vNext];
  });
  tf.dispose([p, m, v]);
  [p, m, v] = [p1!, m1!, v1!];
};
const fusedStep = () => {
  const [p1, m1, v1] = tf.engine().runKernel(native.adamKernelName, { p, m, v, g }, {
    beta1,
    beta2,
    stepSize,
    sqrtCorrection2,
    epsilon,
  } as unknown as tf.NamedAttrMap) as tf.Tensor[];
  tf.dispose([p, m, v]);
  [p, m, v] = [p1!, m1!, v1!];
};
const cpuMs = (step: () => void) => {
  step();
  const times: number[] = [];
  for (let i = 0; i < Number(args.steps); i++) {
    const start = process.cpuUsage();
    step();
    p.dataSync();
    const used = process.cpuUsage(start);
    times.push((used.user + used.system) / 1000);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
};
const ops = cpuMs(opsStep);
const fused = cpuMs(fusedStep);
console.log(
  `Adam over ${size} floats, CPU ms per step: tfjs ops ${ops.toFixed(1)}, fused DiffpruneAdam ${fused.toFixed(1)} (${(ops / fused).toFixed(1)}×)`,
);
