import { getTask, readSplit, resolveDataDirectory, writeSubmission } from '@diffprune/glue';
import { loadClassifier, type Prediction, predictTexts } from '@diffprune/training';
import * as tf from '@tensorflow/tfjs-core';
import type { Command } from 'commander';
import { fastScatterAdd, startBackend } from '../backend.js';
import { action, integerOption, printJson } from '../cli-support.js';
import { progressRenderer } from '../progress.js';

interface SubmitOptions {
  model: string;
  diff?: string;
  task: string;
  data?: string;
  out: string;
  maxLength?: number;
  batchSize: number;
  allowIncomplete?: boolean;
  backend?: string;
  offline?: boolean;
  cache?: string;
  json?: boolean;
}

/** The class index (argmax, first maximum wins) or the score of a prediction. */
const predictionValue = (p: Prediction) => p.score ?? p.logits.indexOf(Math.max(...p.logits));

/** Registers `diffprune submit`: a task's test split(s) predicted into the GLUE server's files. */
export function registerSubmitCommand(program: Command): void {
  program
    .command('submit')
    .description(
      "predict a GLUE task's test split(s) and write the files the GLUE server expects (e.g. RTE.tsv; MNLI: MNLI-m.tsv and MNLI-mm.tsv; AX with an MNLI model), checking the row counts",
    )
    .requiredOption('--model <dir|hub-id>', 'a finetuned model, or the base of --diff')
    .option('--diff <file>', 'a task diff applied to --model')
    .requiredOption('--task <task>', 'GLUE task (cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli, ax)')
    .option('--data <dir>', 'GLUE data directory (default: $DIFFPRUNE_GLUE_DIR or the cache)')
    .requiredOption('--out <dir>', 'directory for the submission files (zip it with the other tasks)')
    .option('--max-length <n>', 'max tokens per example (default 128)', integerOption('--max-length', 1))
    .option('--batch-size <n>', 'examples per batch', integerOption('--batch-size', 1), 32)
    .option('--allow-incomplete', 'write even when a test split has fewer rows than the official count')
    .option('--backend <name>', 'force a backend (tensorflow, native, wasm, cpu)')
    .option('--offline', 'never download')
    .option('--cache <dir>', 'download cache directory')
    .option('--json', 'print the files written as JSON')
    .action(
      action(async (options: SubmitOptions) => {
        const render = options.json ? undefined : progressRenderer();
        await startBackend({
          ...(options.backend ? { backend: options.backend } : {}),
          ...(render ? { onEvent: render } : {}),
        });
        const task = getTask(options.task);
        const dataDirectory = resolveDataDirectory(options.data);
        // Read every test split first: a missing or short split fails before the model loads.
        const splits = await Promise.all(
          task.testSplits.map(async (split) => ({
            split,
            ...(await readSplit(task, split, { dataDirectory })),
          })),
        );
        const model = await loadClassifier(options.model, {
          ...(options.diff ? { diff: options.diff, scatterAdd: await fastScatterAdd() } : {}),
          ...(options.offline ? { offline: true } : {}),
          ...(options.cache ? { cacheDirectory: options.cache } : {}),
        });
        try {
          const written = [];
          for (const { split, examples } of splits) {
            const predictions = await predictTexts(model, examples, {
              batchSize: options.batchSize,
              ...(options.maxLength !== undefined ? { maxLength: options.maxLength } : {}),
            });
            written.push({
              split,
              ...(await writeSubmission({
                task,
                split,
                examples,
                predictions: predictions.map(predictionValue),
                directory: options.out,
                ...(options.allowIncomplete ? { allowIncomplete: true } : {}),
              })),
            });
          }
          if (options.json) printJson({ task: task.name, files: written });
          else
            for (const w of written)
              process.stdout.write(`${task.displayName} ${w.split}: ${w.rows} rows → ${w.path}\n`);
        } finally {
          tf.dispose(Object.values(model.params));
        }
      }),
    );
}
