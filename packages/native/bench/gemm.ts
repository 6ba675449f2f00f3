/**
 * GEMM throughput at BERT shapes through tf.matMul (output allocation included): native at 1 and 2
 * threads vs tfjs cpu. GFLOP/s = 2·batch·m·n·k / median time.
 *
 *   pnpm bench [--threads 1,2] [--no-cpu] [--seconds 0.5]
 */
import { parseArgs } from 'node:util';
import { initBackend } from '@diffprune/runtime';
import * as tf from '@tensorflow/tfjs-core';
import * as native from '../src/index.js';

const { values: args } = parseArgs({
  options: {
    threads: { type: 'string', default: '1,2' },
    'no-cpu': { type: 'boolean', default: false },
    seconds: { type: 'string', default: '0.5' },
  },
});

const info = await initBackend({ backend: 'native', threads: 1, loadNative: async () => native });
const addon = native.nativeAddon();
console.log(`${info.reason}`);

// [label, a shape, b shape, transposeA, transposeB]
const cases: [string, number[], number[], boolean, boolean][] = [
  ['x·W (Tiny QKV/out)', [2048, 128], [128, 128], false, false],
  ['x·W (Tiny FFN up)', [2048, 128], [128, 512], false, false],
  ['x·Wᵀ (HF Linear)', [2048, 128], [512, 128], false, true],
  ['dY·W (input grad)', [2048, 512], [512, 128], false, false],
  ['Xᵀ·dY (weight grad)', [2048, 128], [2048, 512], true, false],
  ['Mini x·Wᵀ', [2048, 256], [1024, 256], false, true],
  ['attention q·kᵀ', [64, 64, 64], [64, 64, 64], false, true],
  ['attention p·v', [64, 64, 64], [64, 64, 64], false, false],
];

const flops = (a: number[], b: number[], ta: boolean, tb: boolean) => {
  const batch = a.length === 3 ? a[0]! : 1;
  const m = ta ? a.at(-1)! : a.at(-2)!;
  const k = ta ? a.at(-2)! : a.at(-1)!;
  const n = tb ? b.at(-2)! : b.at(-1)!;
  return 2 * batch * m * n * k;
};

function gflops(a: number[], b: number[], ta: boolean, tb: boolean, seconds: number): number {
  const x = tf.randomUniform(a);
  const y = tf.randomUniform(b);
  // Not tf.tidy(() => ….dataSync()): tidy walks a returned typed array element by element.
  const run = () => {
    const product = tf.matMul(x, y, ta, tb);
    product.dataSync();
    product.dispose();
  };
  run();
  const times: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  do {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  } while (performance.now() < deadline && times.length < 200);
  tf.dispose([x, y]);
  const median = [...times].sort((p, q) => p - q)[Math.floor(times.length / 2)]!;
  return flops(a, b, ta, tb) / (median / 1000) / 1e9;
}

const columns: { name: string; setup: () => Promise<boolean> }[] = [];
for (const threads of args.threads.split(',').map(Number)) {
  columns.push({
    name: `native ${threads}t`,
    setup: async () => {
      addon.setThreads(threads);
      return tf.setBackend('native');
    },
  });
}
if (!args['no-cpu']) columns.push({ name: 'tfjs cpu', setup: () => tf.setBackend('cpu') });

const results: Record<string, (number | undefined)[]> = {};
for (const column of columns) {
  const ok = await column.setup();
  results[column.name] = cases.map(([, a, b, ta, tb]) =>
    ok ? gflops(a, b, ta, tb, column.name === 'tfjs cpu' ? 0.1 : Number(args.seconds)) : undefined,
  );
}
console.log(`GEMM micro-kernel: ${addon.gemmKernel()}; GFLOP/s (median), noisy on a shared machine`);
console.log(['case'.padEnd(44), ...columns.map((c) => c.name.padStart(10))].join(''));
cases.forEach(([label, a, b, ta, tb], i) => {
  const shape = `${label} [${a}]${ta ? 'ᵀ' : ''}·[${b}]${tb ? 'ᵀ' : ''}`;
  console.log(
    [shape.padEnd(44), ...columns.map((c) => (results[c.name]![i]?.toFixed(1) ?? 'n/a').padStart(10))].join(
      '',
    ),
  );
});
