/**
 * One mixed 16-row pass (one input of each of 16 requests, the tasks of `--diffs` in turn, through
 * `predictMany`) against one 16-row pass of one task (`predict`), in process, in turns; medians and
 * their ratio (robust to a shared machine's load, unlike the absolute times).
 * `npx pnpm --filter @diffprune/serving bench:mixed-pass --diffs DIR [--rows 16] [--rounds 200]`.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { initBackend } from '@diffprune/runtime';
import { MultiTaskModel } from '../src/index.js';
import { sampleSentences as sentences } from '../src/test/index.js';

const { values: args } = parseArgs({
  options: {
    diffs: { type: 'string' },
    rows: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '200' },
  },
});
if (!args.diffs) throw new Error('--diffs <dir of NAME.diff.safetensors> is required');
const model = fileURLToPath(new URL('../../../../shared/models/bert-tiny-mlm-offline/', import.meta.url));
const backend = await initBackend({ loadNative: () => import('../../native/src/index.js') });
const m = await MultiTaskModel.load(model, {});
const files = readdirSync(args.diffs).filter((f) => f.endsWith('.diff.safetensors'));
const tasks = files.map((f) => f.replace(/\.diff\.safetensors$/, ''));
for (const [i, t] of tasks.entries()) await m.register(t, join(args.diffs, files[i]!));
const rows = Number(args.rows);
const inputs = Array.from({ length: rows }, (_, i) => sentences[i % sentences.length]!);
const mixed = inputs.map((input, i) => ({ task: tasks[i % tasks.length]!, inputs: [input] }));

const single: number[] = [];
const many: number[] = [];
const time = async (run: () => Promise<unknown>) => {
  const started = performance.now();
  await run();
  return performance.now() - started;
};
for (let round = 0; round < 20; round++) {
  await m.predict(tasks[0]!, inputs);
  await m.predictMany(mixed);
}
for (let round = 0; round < Number(args.rounds); round++) {
  single.push(await time(() => m.predict(tasks[0]!, inputs)));
  many.push(await time(() => m.predictMany(mixed)));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `${backend.backend}, ${rows} rows, ${tasks.length} tasks, ${args.rounds} rounds in turns: one task ${median(single).toFixed(2)} ms, mixed ${median(many).toFixed(2)} ms, mixed ÷ one task ${(median(many) / median(single)).toFixed(2)}×`,
);
m.dispose();
