/**
 * Cross-task serving's per-row linear on BERT-Tiny shapes, straight on the addon (no tfjs): one
 * `--batch`-row (16) × `--length`-token batch (12) over `--slots` task slots of 5 % δ each (the rows in turn), per weight shape
 * and thread count: matmul (x·Wᵀ, one task), sparseRowDelta (the correction), and sparseRowLinear with
 * and without the δs. Best of `--rounds` rounds of 5 calls, the variants in turns (a shared machine's
 * load moves absolute times; the comparison within a round holds better).
 *
 *   pnpm --filter @diffprune/native bench:row-linear [--slots 6] [--threads 1,2] [--rounds 40] [--length 12] [--batch 16]
 */
import { parseArgs } from 'node:util';
import { nativeAddon, registerNativeBackend } from '../src/index.js';

const { values: args } = parseArgs({
  options: {
    slots: { type: 'string', default: '6' },
    threads: { type: 'string', default: '1,2' },
    rounds: { type: 'string', default: '40' },
    length: { type: 'string', default: '12' },
    batch: { type: 'string', default: '16' },
  },
});
await import('@tensorflow/tfjs-backend-cpu');
registerNativeBackend({ threads: 1 });
const addon = nativeAddon();
const [batch, length, slots] = [Number(args.batch), Number(args.length), Number(args.slots)];
let state = 5;
const random = () => {
  state = (state * 1664525 + 1013904223) >>> 0;
  return state / 2 ** 32;
};
console.log(
  `${batch} rows × ${length} tokens, ${slots} slots of 5 % δ, best of ${args.rounds} rounds (µs per call)`,
);
console.log('| in→out | threads | matmul | sparseRowDelta | matmul + δ | sparseRowLinear | without δs |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const [inFeatures, outFeatures] of [
  [128, 128],
  [128, 512],
  [512, 128],
] as const) {
  const deltas = Array.from({ length: slots }, () => {
    const indices = Uint32Array.from(
      new Set(
        Array.from({ length: inFeatures * outFeatures * 0.05 }, () =>
          Math.floor(random() * inFeatures * outFeatures),
        ),
      ),
    ).sort();
    return { indices, values: Float32Array.from(indices, () => random() - 0.5) };
  });
  const rowSlots = Int32Array.from({ length: batch }, (_, b) => b % slots);
  const x = Float32Array.from({ length: batch * length * inFeatures }, () => random() - 0.5);
  const w = Float32Array.from({ length: inFeatures * outFeatures }, () => random() - 0.5);
  const bias = Float32Array.from({ length: slots * outFeatures }, () => random() - 0.5);
  const y = new Float32Array(batch * length * outFeatures);
  const none = deltas.map(() => undefined);
  const n = batch * length;
  const variants: Record<string, () => void> = {
    matmul: () => addon.matmul(x, w, y, 1, 1, 1, n, outFeatures, inFeatures, false, true),
    delta: () => addon.sparseRowDelta(y, x, rowSlots, deltas, batch, length, inFeatures, outFeatures),
    linear: () =>
      addon.sparseRowLinear(y, x, w, bias, rowSlots, deltas, batch, length, inFeatures, outFeatures),
    bare: () => addon.sparseRowLinear(y, x, w, bias, rowSlots, none, batch, length, inFeatures, outFeatures),
  };
  for (const threads of args.threads.split(',').map(Number)) {
    addon.setThreads(threads);
    const best: Record<string, number> = {};
    for (let round = 0; round < Number(args.rounds); round++)
      for (const [name, run] of Object.entries(variants)) {
        const started = performance.now();
        for (let call = 0; call < 5; call++) run();
        best[name] = Math.min(
          best[name] ?? Number.POSITIVE_INFINITY,
          ((performance.now() - started) / 5) * 1000,
        );
      }
    const us = (name: string) => best[name]!.toFixed(0);
    console.log(
      `| ${inFeatures}→${outFeatures} | ${threads} | ${us('matmul')} | ${us('delta')} | ${(best.matmul! + best.delta!).toFixed(0)} | ${us('linear')} | ${us('bare')} |`,
    );
  }
}
