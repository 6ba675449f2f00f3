/**
 * One BERT training step (forward + backward with respect to every parameter, training mode with
 * dropout, full finetuning) on `native` and on tfjs `cpu` (or other backends), ms per step, and with
 * --profile the time per kernel name on the first backend (kernels wrapped with a timer).
 * Parameters are random (shapes are what matters). Needs @diffprune/bert (the workspace's source,
 * through the root tsconfig's paths).
 *
 *   pnpm bench:step [--size tiny|mini] [--batch 32] [--seq 64] [--backends native,cpu] [--threads 1]
 *                   [--steps 5] [--profile [--shapes]]
 */
import { parseArgs } from 'node:util';
import { initBackend, type ParameterMap } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { BertBackbone, parseBertConfig, WordPieceTokenizer } from '@diffprune/bert';
import * as native from '../src/index.js';

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

const shapes = {
  tiny: { num_hidden_layers: 2, hidden_size: 128, num_attention_heads: 2, intermediate_size: 512 },
  mini: { num_hidden_layers: 4, hidden_size: 256, num_attention_heads: 4, intermediate_size: 1024 },
} as const;

// The runtime's own path: registers tfjs's gradients and the native backend.
const info = await initBackend({
  backend: 'native',
  threads: Number(args.threads),
  loadNative: async () => native,
});
if (process.env.TUNE_ALLOCATOR) console.log('tuneAllocator', native.nativeAddon().tuneAllocator());
const batchSize = Number(args.batch);
const length = Number(args.seq);
const shape = shapes[args.size as keyof typeof shapes];
if (!shape) throw new Error(`--size: one of ${Object.keys(shapes).join(', ')}`);
console.log(`BERT-${args.size} training step, batch ${batchSize} × seq ${length}; ${info.reason}`);

const kernelTimes = new Map<string, { ms: number; calls: number }>();
function wrapKernels(backend: string): void {
  for (const config of tf.getKernelsForBackend(backend)) {
    const inner = config.kernelFunc;
    tf.unregisterKernel(config.kernelName, backend);
    tf.registerKernel({
      ...config,
      kernelFunc: (kernelArgs) => {
        const start = process.cpuUsage();
        const result = inner(kernelArgs);
        const used = process.cpuUsage(start);
        const key = args.shapes
          ? `${config.kernelName} ${Object.values(kernelArgs.inputs)
              .map((input) => `[${input?.shape}]`)
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
}

// CPU time of the process per step (all threads): steadier than wall time on a shared machine.
const cpuMs: Record<string, number> = {};
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function measure(backend: string, steps: number): Promise<number> {
  await tf.setBackend(backend);
  const config = parseBertConfig({ model_type: 'bert', ...shape });
  const backbone = new BertBackbone(
    config,
    new WordPieceTokenizer(['[PAD]', '[UNK]', '[CLS]', '[SEP]'], { lowercase: true }),
  );
  const head = { numLabels: 2 };
  const params: ParameterMap = {};
  for (const spec of backbone.parameterSpecs(head)) {
    params[spec.name] =
      spec.kind === 'norm-weight'
        ? tf.ones([...spec.shape])
        : spec.kind === 'bias' || spec.kind === 'norm-bias'
          ? tf.zeros([...spec.shape])
          : tf.randomNormal([...spec.shape], 0, 0.02, 'float32', 1);
  }
  const batch = {
    inputIds: tf.randomUniform([batchSize, length], 1000, 30000, 'int32', 2) as tf.Tensor2D,
    tokenTypeIds: tf.zeros([batchSize, length], 'int32') as tf.Tensor2D,
    attentionMask: tf.ones([batchSize, length], 'int32') as tf.Tensor2D,
  };
  const labels = tf.oneHot(tf.zeros([batchSize], 'int32'), 2);
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
    wrapKernels(backend);
    kernelTimes.clear();
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
  tf.dispose([...Object.values(params), batch.inputIds, batch.tokenTypeIds, batch.attentionMask, labels]);
  return median(times);
}

const results: Record<string, number> = {};
for (const backend of args.backends.split(',')) {
  const steps = backend === 'cpu' ? Number(args['cpu-steps']) : Number(args.steps);
  results[backend] = await measure(backend, steps);
  console.log(
    `${backend}: ${results[backend]!.toFixed(1)} ms/step wall, ${cpuMs[backend]!.toFixed(1)} ms CPU (medians of ${steps})`,
  );
  if (kernelTimes.size > 0) {
    const perStep = Number(args.steps);
    const rows = [...kernelTimes.entries()].sort((a, b) => b[1].ms - a[1].ms);
    const total = rows.reduce((sum, [, entry]) => sum + entry.ms, 0) / perStep;
    console.log(
      `  kernels: ${total.toFixed(1)} ms/step of ${results[backend]!.toFixed(1)} (the rest: engine, tape, JS)`,
    );
    for (const [name, entry] of rows.slice(0, 25)) {
      console.log(
        `  ${name.padEnd(args.shapes ? 60 : 22)} ${(entry.ms / perStep).toFixed(2).padStart(8)} ms  ${(entry.calls / perStep).toFixed(0).padStart(4)} calls`,
      );
    }
    kernelTimes.clear();
  }
}
if (results.native !== undefined && results.cpu !== undefined) {
  console.log(`native is ${(results.cpu / results.native).toFixed(1)}× faster than cpu`);
}
