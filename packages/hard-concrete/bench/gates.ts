/**
 * Benchmark: the diff-pruning parameter path over every gated tensor of BERT (base: 199 tensors,
 * ~109.5 M entries; tiny: 39 tensors, ~4.4 M), one call = one training step's worth of gate work:
 * θ = base + z ⊙ z_g ⊙ w forward, its backward (dw, dlogα, dlogα_g) and the expected-L0 penalty with its
 * gradient. Printed beside a plain `tf.add(base, w)` over the same tensors, as ratios.
 *
 *   pnpm bench [--size base|mini|tiny] [--repeats N] [--unstructured] [--backend native|wasm|cpu|tensorflow]
 *
 * Inputs are shared between tensors of the same shape (the wasm heap is 4 GiB); every output is
 * disposed before the next tensor, as a trainer that applies gradients tensor by tensor would.
 */
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { type BackendName, initBackend } from '@diffprune/runtime';
import * as tf from '@tensorflow/tfjs-core';
import {
  expectedL0,
  type GatedDiffParameterInputs,
  type GatedDiffParametersImplementation,
  gatedDiffParameter,
  gatedDiffParameterRows,
  gatedDiffParametersWith,
  gatedDiffsKernelsRegistered,
  groupExpectedL0,
  sampleUniform,
} from '../src/index.js';

const { values: args } = parseArgs({
  options: {
    size: { type: 'string', default: 'base' },
    repeats: { type: 'string', default: '3' },
    unstructured: { type: 'boolean', default: false },
    backend: { type: 'string' },
  },
});

const sizes = {
  tiny: { layers: 2, hidden: 128, intermediate: 512 },
  mini: { layers: 4, hidden: 256, intermediate: 1024 },
  base: { layers: 12, hidden: 768, intermediate: 3072 },
} as const;
const size = sizes[args.size as keyof typeof sizes];
if (!size) throw new Error(`--size must be one of ${Object.keys(sizes).join(', ')}`);

/** The gated (encoder) tensors of an uncased BERT, HF layout; the classifier head is not gated. */
function bertShapes({
  layers,
  hidden,
  intermediate,
}: {
  layers: number;
  hidden: number;
  intermediate: number;
}) {
  const shapes: number[][] = [[30522, hidden], [512, hidden], [2, hidden], [hidden], [hidden]];
  for (let i = 0; i < layers; i++) {
    for (let j = 0; j < 4; j++) shapes.push([hidden, hidden], [hidden]); // query, key, value, attention output
    shapes.push([hidden], [hidden]); // attention LayerNorm
    shapes.push([intermediate, hidden], [intermediate], [hidden, intermediate], [hidden]);
    shapes.push([hidden], [hidden]); // output LayerNorm
  }
  shapes.push([hidden, hidden], [hidden]); // pooler
  return shapes;
}

// tfjs-node is the workspace's optional dependency (a bench never reaches into an app to find it).
const requireFromWorkspace = createRequire(new URL('../../../package.json', import.meta.url));
const info = await initBackend({
  ...(args.backend ? { backend: args.backend as BackendName } : {}),
  loadTfjsNode: async () => requireFromWorkspace('@tensorflow/tfjs-node'),
  // The apps' optional fast path; resolved through the workspace tsconfig paths, where present.
  loadNative: () => import('@diffprune/native'),
});

const shapes = bertShapes(size);
const total = shapes.reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);
const structured = !args.unstructured;

interface Inputs {
  base: tf.Tensor;
  w: tf.Tensor;
  logAlpha: tf.Tensor;
  u: tf.Tensor;
  dy: tf.Tensor;
}
const byShape = new Map<string, Inputs>();
let seed = 1;
for (const shape of shapes) {
  const key = shape.join('x');
  if (byShape.has(key)) continue;
  byShape.set(key, {
    base: tf.randomNormal(shape, 0, 0.05, 'float32', seed++),
    w: tf.randomNormal(shape, 0, 0.01, 'float32', seed++),
    logAlpha: tf.randomNormal(shape, 3, 2, 'float32', seed++), // a mix of clamped and interior gates
    u: sampleUniform(shape, seed++),
    dy: tf.randomNormal(shape, 0, 1, 'float32', seed++),
  });
}
const groupLogAlpha = tf.tensor1d([4]);
const groupU = tf.tensor1d([0.3]);
const inputsFor = (shape: number[]) => byShape.get(shape.join('x')) as Inputs;

type Op = (inputs: GatedDiffParameterInputs) => tf.Tensor;

/** One tensor through the whole-model op with the implementation chosen (`auto`: `gatedDiffParameter`). */
const perTensor =
  (implementation: GatedDiffParametersImplementation): Op =>
  (inputs) => {
    if (implementation === 'auto') return gatedDiffParameter(inputs);
    const { parameters, penalty } = gatedDiffParametersWith([inputs], {}, implementation);
    penalty.dispose();
    return parameters[0]!;
  };

/** One step of gate work for one tensor: forward, backward with dθ = dy, penalty and its gradient. */
function gateStep(op: Op, { base, w, logAlpha, u, dy }: Inputs): void {
  tf.tidy(() => {
    if (structured) {
      tf.grads((wi: tf.Tensor, a: tf.Tensor, g: tf.Tensor) =>
        op({ base, w: wi, logAlpha: a, u, groupLogAlpha: g, groupU }),
      )([w, logAlpha, groupLogAlpha], dy);
      tf.grads((a: tf.Tensor, g: tf.Tensor) => groupExpectedL0(a, g))([logAlpha, groupLogAlpha]);
    } else {
      tf.grads((wi: tf.Tensor, a: tf.Tensor) => op({ base, w: wi, logAlpha: a, u }))([w, logAlpha], dy);
      tf.grad((a: tf.Tensor) => expectedL0(a))(logAlpha);
    }
  });
}

// A batch of 32 × 128 tokens touches at most 4,096 distinct rows of the 30,522 (GLUE: ~1,500–2,500).
const batchRows = Array.from(
  new Set(Array.from(sampleUniform([32 * 128], 99).dataSync(), (x) => Math.floor(x * 30522))),
).slice(0, 2048);
const forEachTensor = (work: (inputs: Inputs, shape: number[]) => void) => () => {
  for (const shape of shapes) work(inputsFor(shape), shape);
};
const variants: { name: string; run: () => void }[] = [
  { name: 'tf.add(base, w)', run: forEachTensor(({ base, w }) => tf.add(base, w).dispose()) },
  {
    name: 'fused gate step (kernels, u tensor)',
    run: forEachTensor((inputs) => gateStep(perTensor('auto'), inputs)),
  },
  {
    name: 'fused gate step (kernels, seed: no u tensor)',
    run: forEachTensor((inputs) =>
      gateStep(({ u: _, ...i }) => perTensor('auto')({ ...i, seed: 7 }), inputs),
    ),
  },
  {
    name: 'composite gate step (autograd)',
    run: forEachTensor((inputs) => gateStep(perTensor('composite'), inputs)),
  },
  {
    name: 'fused forward only (kernels, u tensor)',
    run: forEachTensor((inputs) => perTensor('auto')(inputs).dispose()),
  },
  {
    name: `fused step, word embeddings by rows (${batchRows.length} rows)`,
    run: forEachTensor((inputs, shape) => {
      if (shape[0] !== 30522) return gateStep(perTensor('auto'), inputs);
      tf.tidy(() => {
        const { base, w, logAlpha, u } = inputs;
        const dy = tf.slice(inputs.dy, [0, 0], [batchRows.length, shape[1]!]);
        tf.grads((wi: tf.Tensor, a: tf.Tensor, g: tf.Tensor) =>
          gatedDiffParameterRows({ base, w: wi, logAlpha: a, u, groupLogAlpha: g, groupU, rows: batchRows }),
        )([w, logAlpha, groupLogAlpha], dy);
        tf.grads((a: tf.Tensor, g: tf.Tensor) => groupExpectedL0(a, g))([logAlpha, groupLogAlpha]);
      });
    }),
  },
  ...(['kernel', 'composite'] as const).map((implementation) => ({
    name: `all tensors in one op, rows (${implementation})`,
    // gatedDiffParameters over every tensor at once (the trainer's path): θ, penalty and all gradients.
    run: () =>
      tf.tidy(() => {
        if (implementation === 'kernel' && !gatedDiffsKernelsRegistered()) return;
        const all = shapes.map(inputsFor);
        const dys = shapes.map((shape, t) =>
          shape[0] === 30522 ? tf.slice(all[t]!.dy, [0, 0], [batchRows.length, shape[1]!]) : all[t]!.dy,
        );
        const n = shapes.length;
        tf.grads((...xs: tf.Tensor[]) => {
          const { parameters, penalty } = gatedDiffParametersWith(
            shapes.map((shape, t) => ({
              base: all[t]!.base,
              w: xs[t]!,
              logAlpha: xs[n + t]!,
              u: all[t]!.u,
              ...(structured ? { groupLogAlpha: xs[2 * n]!, groupU } : {}),
              ...(shape[0] === 30522 ? { rows: batchRows } : {}),
            })),
            {},
            implementation,
          );
          return tf.addN([...parameters.map((p, t) => tf.sum(tf.mul(p, dys[t]!))), penalty]);
        })([...all.map((i) => i.w), ...all.map((i) => i.logAlpha), ...(structured ? [groupLogAlpha] : [])]);
      }),
  })),
  {
    name: 'fused forward + backward, no penalty',
    run: forEachTensor(({ base, w, logAlpha, u, dy }) =>
      tf.tidy(() => {
        tf.grads((wi: tf.Tensor, a: tf.Tensor, g: tf.Tensor) =>
          gatedDiffParameter({ base, w: wi, logAlpha: a, u, groupLogAlpha: g, groupU }),
        )([w, logAlpha, groupLogAlpha], dy);
      }),
    ),
  },
  {
    name: 'penalty + its gradient only',
    run: forEachTensor(({ logAlpha }) =>
      tf.tidy(() => {
        tf.grads((a: tf.Tensor, g: tf.Tensor) => groupExpectedL0(a, g))([logAlpha, groupLogAlpha]);
      }),
    ),
  },
  { name: 'sampleUniform (drawing u)', run: forEachTensor((_, shape) => sampleUniform(shape, 7).dispose()) },
];

const repeats = Number(args.repeats);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const tensorsBefore = tf.memory().numTensors;
// The machine is shared: wall time includes time spent descheduled, so the process's CPU time (user +
// system; these backends run one thread) is reported too, and ratios use it.
const times = variants.map(() => ({ wall: [] as number[], cpu: [] as number[] }));
for (const variant of variants) variant.run(); // warm-up (kernel registration, heap growth, JIT)
for (let r = 0; r < repeats; r++) {
  variants.forEach((variant, v) => {
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    variant.run();
    times[v]!.wall.push(performance.now() - start);
    const cpu = process.cpuUsage(cpuStart);
    times[v]!.cpu.push((cpu.user + cpu.system) / 1000);
  });
}
const leaked = tf.memory().numTensors - tensorsBefore;
const results = variants.map((variant, v) => ({
  name: variant.name,
  wall: Math.min(...times[v]!.wall),
  cpu: median(times[v]!.cpu),
}));

const add = results[0]!.cpu;
console.log(
  `backend ${info.backend}; BERT-${args.size}: ${shapes.length} gated tensors, ${(total / 1e6).toFixed(1)} M entries; ` +
    `${structured ? 'structured (group gates, sum penalty)' : 'unstructured'}; ${repeats} rounds (variants interleaved) ` +
    `after a warm-up; tensors leaked: ${leaked}`,
);
console.log(
  `${'variant'.padEnd(46)} ${'cpu ms'.padStart(9)} ${'wall ms'.padStart(9)} ${'ns/entry'.padStart(9)} ${'× tf.add'.padStart(9)}`,
);
for (const { name, wall, cpu } of results) {
  console.log(
    `${name.padEnd(46)} ${cpu.toFixed(1).padStart(9)} ${wall.toFixed(1).padStart(9)} ${((cpu * 1e6) / total).toFixed(2).padStart(9)} ${(cpu / add).toFixed(1).padStart(9)}`,
  );
}
console.log(
  'cpu ms: median CPU time of the process per call; wall ms: fastest wall time; ratios from cpu ms',
);
const byName = (prefix: string) => results.find((r) => r.name.startsWith(prefix))!.cpu;
console.log(
  `fused gate step vs composite: ${(byName('composite') / byName('fused gate step (kernels, u')).toFixed(2)}× less CPU time`,
);
