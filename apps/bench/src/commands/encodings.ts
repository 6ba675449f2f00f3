import { existsSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { getTask } from '@diffprune/glue';
import {
  type IndexEncoding,
  readDiff,
  reencodeDiff,
  type SparseDiff,
  type ValueDtype,
  writeDiff,
} from '@diffprune/sparse-diff';
import { startBackend } from '@diffprune/trainer';
import {
  defaultSettings,
  encodeExamples,
  glueTaskData,
  loadWithDiff,
  predictExamples,
  runTraining,
} from '@diffprune/training';
import * as tf from '@tensorflow/tfjs-core';
import type { Command } from 'commander';

interface EncodingsOptions {
  model: string;
  data?: string;
  out: string;
  tasks: string[];
  maxSteps: string;
  maxTrainExamples: string;
  maxLength: string;
  backend?: string;
}

const encodings: [ValueDtype, IndexEncoding][] = [
  ['F32', 'varint-delta'],
  ['F16', 'varint-delta'],
  ['BF16', 'varint-delta'],
  ['I8', 'varint-delta'],
  ['F16', 'elias-fano'],
  ['I8', 'elias-fano'],
];

/** Stored entries the way the trainer counts them: sparse nonzeros plus every dense entry. */
const storedEntries = (diff: SparseDiff) =>
  diff.tensors.reduce((n, t) => n + (t.kind === 'sparse' ? t.indices.length : t.values.length), 0);

/** Dev predictions (class ids or scores) of base + the diff at `path`. */
async function devPredictions(
  model: string,
  path: string,
  task: string,
  data: string | undefined,
  maxLength: number,
) {
  const { loaded } = await loadWithDiff(model, path);
  try {
    const taskData = await glueTaskData(task, data ? { dataDirectory: data } : {});
    const examples = encodeExamples(loaded.backbone.encoder, taskData.dev, maxLength);
    const { predictions } = await predictExamples({
      backbone: loaded.backbone,
      parameters: () => loaded.params,
      examples,
      numLabels: taskData.numLabels,
      regression: taskData.kind === 'regression',
    });
    return predictions;
  } finally {
    tf.dispose(Object.values(loaded.params));
  }
}

/**
 * Trains each task's diff once in F32 (skipped when `<out>/<task>/<task>.diff.safetensors` exists),
 * re-encodes it with every value dtype and index encoding, and counts the dev predictions that
 * change (classes; STS-B: scores moved by more than 0.01) and the bytes per stored entry.
 */
export function registerEncodingsCommand(program: Command): void {
  program
    .command('encodings')
    .description('measure diff value dtypes and index encodings: dev predictions changed, bytes per nonzero')
    .requiredOption('--model <dir>', 'base model')
    .option('--data <dir>', 'GLUE data directory')
    .requiredOption('--out <dir>', 'where the F32 diffs are trained and kept')
    .option('--tasks <tasks...>', 'GLUE tasks', ['cola', 'sst2', 'mrpc', 'stsb', 'qnli', 'rte'])
    .option('--max-steps <n>', 'steps per stage', '100')
    .option('--max-train-examples <n>', 'training examples', '3200')
    .option('--max-length <n>', 'tokens per example', '128')
    .option('--backend <name>', 'force a backend')
    .action(async (options: EncodingsOptions) => {
      await startBackend(options.backend ? { backend: options.backend } : {});
      const maxLength = Number(options.maxLength);
      const rows: string[] = [
        '| task | dev rows | value dtype | index encoding | changed dev predictions | bytes / nonzero |',
        '|---|---|---|---|---|---|',
      ];
      for (const task of options.tasks) {
        const directory = join(options.out, task);
        const f32Path = join(directory, `${task}.diff.safetensors`);
        if (!existsSync(f32Path)) {
          await mkdir(directory, { recursive: true });
          const settings = {
            ...defaultSettings('diff-pruning'),
            maxSteps: Number(options.maxSteps),
            maxTrainExamples: Number(options.maxTrainExamples),
            maxLength,
          };
          await runTraining({
            model: options.model,
            task,
            ...(options.data ? { dataDirectory: options.data } : {}),
            settings,
            outputDirectory: directory,
            encoding: { valueDtype: 'F32', indexEncoding: 'varint-delta' },
          });
          await rm(join(directory, 'checkpoint'), { recursive: true, force: true });
        }
        const diff = await readDiff(f32Path);
        const regression = getTask(task).kind === 'regression';
        const reference = await devPredictions(options.model, f32Path, task, options.data, maxLength);
        for (const [valueDtype, indexEncoding] of encodings) {
          const path = join(directory, `${valueDtype.toLowerCase()}-${indexEncoding}.diff.safetensors`);
          const encoded = reencodeDiff(diff, { valueDtype, indexEncoding });
          await writeDiff(path, encoded);
          const bytes = (await stat(path)).size;
          const predictions =
            indexEncoding === 'varint-delta'
              ? await devPredictions(options.model, path, task, options.data, maxLength)
              : undefined;
          const changed = predictions
            ? predictions.filter((p, i) =>
                regression ? Math.abs(p - reference[i]!) > 0.01 : p !== reference[i],
              ).length
            : undefined;
          rows.push(
            `| ${task} | ${reference.length} | ${valueDtype} | ${indexEncoding} | ${changed ?? '(same values as varint-delta)'} | ${(bytes / storedEntries(encoded)).toFixed(2)} |`,
          );
          process.stderr.write(`${rows.at(-1)}\n`);
        }
      }
      process.stdout.write(`${rows.join('\n')}\n`);
    });
}
