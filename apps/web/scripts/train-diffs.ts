import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultDiffsDirectory, defaultModelDirectory } from '../src/data-server.js';

// Trains small task diffs for the page with the `diffprune` CLI (from source) and copies each
// `<task>.diff.safetensors` into the diffs directory the page serves, then prints the download sizes:
// the base once, each diff, and a whole finetuned model per task.
//   npx pnpm --filter @diffprune/web train-diffs [-- --tasks sst2,rte --max-steps 30 --max-train-examples 256]

const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));

export interface TrainDiffsOptions {
  model: string;
  glue: string;
  out: string;
  tasks: readonly string[];
  maxSteps: number;
  maxTrainExamples: number;
  maxEvalExamples?: number;
}

/** Trains one diff per task into `out`; returns their paths. Throws with the CLI's stderr on failure. */
export function trainDiffs(options: TrainDiffsOptions): string[] {
  mkdirSync(options.out, { recursive: true });
  return options.tasks.map((task) => {
    const work = mkdtempSync(join(tmpdir(), `diffprune-web-${task}-`));
    try {
      const args = [
        '--import',
        'tsx',
        join(repositoryRoot, 'apps/trainer/src/cli.ts'),
        'train',
        '--model',
        options.model,
        '--task',
        task,
        '--data',
        options.glue,
        '--max-steps',
        String(options.maxSteps),
        '--max-train-examples',
        String(options.maxTrainExamples),
        ...(options.maxEvalExamples ? ['--max-eval-examples', String(options.maxEvalExamples)] : []),
        '--out',
        join(work, 'run'),
        '--quiet',
      ];
      const run = spawnSync(process.execPath, args, { cwd: repositoryRoot, encoding: 'utf8' });
      if (run.status !== 0)
        throw new Error(`diffprune train --task ${task} failed (${run.status}): ${run.stderr}`);
      const target = join(options.out, `${task}.diff.safetensors`);
      copyFileSync(join(work, 'run', `${task}.diff.safetensors`), target);
      return target;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
}

/** Bytes a page downloads: the base's files once, each diff, or a whole model per task instead. */
export function downloadSizes(model: string, diffs: readonly string[]) {
  const baseFiles = ['config.json', 'vocab.txt', 'model.safetensors'];
  const base = baseFiles.reduce((sum, f) => sum + statSync(join(model, f)).size, 0);
  return {
    base,
    diffs: diffs.map((path) => ({ path, bytes: statSync(path).size })),
    // A finetuned copy per task: the whole checkpoint again (the head's few bytes aside).
    wholeModelPerTask: statSync(join(model, 'model.safetensors')).size,
  };
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const option = (name: string, fallback: string) => {
    const index = process.argv.indexOf(`--${name}`);
    return index >= 0 && process.argv[index + 1] ? process.argv[index + 1]! : fallback;
  };
  const model = defaultModelDirectory();
  const out = defaultDiffsDirectory();
  const paths = trainDiffs({
    model,
    glue: resolve(
      option('data', process.env.DIFFPRUNE_GLUE_DIR ?? join(repositoryRoot, '..', 'shared', 'data', 'glue')),
    ),
    out,
    tasks: option('tasks', 'sst2,rte').split(','),
    maxSteps: Number(option('max-steps', '30')),
    maxTrainExamples: Number(option('max-train-examples', '256')),
  });
  const sizes = downloadSizes(model, paths);
  const rows = [
    ['base (config.json, vocab.txt, model.safetensors), once', sizes.base],
    ...sizes.diffs.map((d) => [`diff ${d.path.slice(out.length + 1)}`, d.bytes] as const),
    ['a whole model per task (model.safetensors)', sizes.wholeModelPerTask],
  ] as const;
  for (const [what, bytes] of rows) process.stdout.write(`${String(bytes).padStart(10)}  ${what}\n`);
}
