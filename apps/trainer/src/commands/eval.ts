import { getTask, resolveDataDirectory } from '@diffprune/glue';
import { diffDataFields, diffLabels, evaluateDataset, evaluateTask, loadWithDiff } from '@diffprune/training';
import * as tf from '@tensorflow/tfjs-core';
import type { Command } from 'commander';
import { fastScatterAdd, startBackend } from '../backend.js';
import { action, integerOption, printJson, taskMismatchWarning } from '../cli-support.js';
import { addDataFileOptions, checkTaskOrFile, type DataFileOptions, readOptions } from '../data-options.js';
import { progressRenderer } from '../progress.js';

interface EvalOptions extends DataFileOptions {
  model: string;
  diff: string;
  task?: string;
  validationFile?: string;
  data?: string;
  maxLength?: number;
  batchSize: number;
  backend?: string;
  offline?: boolean;
  cache?: string;
  json?: boolean;
}

export function registerEvalCommand(program: Command): void {
  const command = program
    .command('eval')
    .description(
      "metrics of a trained task diff applied to its base model: a GLUE task's dev sets, or your own labelled file",
    )
    .requiredOption('--model <dir|hub-id>', 'the base model the diff was trained from')
    .requiredOption('--diff <file>', 'a <task>.diff.safetensors file')
    .option('--task <task>', 'GLUE task')
    .option(
      '--validation-file <file>',
      'your own labelled data instead of --task (.jsonl, .csv, .tsv, .parquet; labels from the diff)',
    );
  addDataFileOptions(command)
    .option('--data <dir>', 'GLUE data directory (default: $DIFFPRUNE_GLUE_DIR or the cache)')
    .option(
      '--max-length <n>',
      "max tokens per example (default 128, or the model's max positions if fewer)",
      integerOption('--max-length', 1),
    )
    .option('--batch-size <n>', 'evaluation batch size', integerOption('--batch-size', 1), 32)
    .option('--backend <name>', 'force a backend (tensorflow, native, wasm, cpu)')
    .option('--offline', 'never download')
    .option('--cache <dir>', 'download cache directory')
    .option('--json', 'print the metrics as JSON on stdout')
    .action(
      action(async (options: EvalOptions) => {
        const render = options.json ? undefined : progressRenderer();
        await startBackend({
          ...(options.backend ? { backend: options.backend } : {}),
          ...(render ? { onEvent: render } : {}),
        });
        checkTaskOrFile(options.task, options.validationFile, '--validation-file');
        const task = options.task ? getTask(options.task) : undefined;
        const { loaded, diff } = await loadWithDiff(options.model, options.diff, {
          ...(task ? { numLabels: task.numLabels } : {}),
          ...(options.offline ? { offline: true } : {}),
          ...(options.cache ? { cacheDirectory: options.cache } : {}),
          scatterAdd: await fastScatterAdd(),
        });
        // The default fits the family's positions (spec v2 maxPositions: 64-position fixtures, RoBERTa's − 2).
        const maxLength =
          options.maxLength !== undefined ? options.maxLength : Math.min(128, loaded.backbone.maxPositions);
        try {
          if (!task) {
            const labels = diffLabels(diff);
            const result = await evaluateDataset(loaded, {
              file: options.validationFile as string,
              ...diffDataFields(diff),
              ...readOptions(options),
              ...(labels ? { labels } : {}),
              maxLength,
              batchSize: options.batchSize,
            });
            const output = {
              task: diff.provenance.task,
              file: options.validationFile,
              diff: options.diff,
              method: diff.provenance.method,
              examples: result.examples,
              skippedRows: result.skipped.length,
              metrics: result.metrics,
            };
            if (options.json) printJson(output);
            else
              process.stdout.write(
                `${options.validationFile} (${result.examples} examples${result.skipped.length ? `, ${result.skipped.length} bad rows skipped` : ''}): ${Object.entries(
                  result.metrics,
                )
                  .map(([k, v]) => `${k} ${v.toFixed(4)}`)
                  .join(', ')}\n`,
              );
            return;
          }
          const mismatch = taskMismatchWarning(diff.provenance.task, task.name, options.diff);
          if (mismatch) {
            if (render) render(mismatch);
            else process.stderr.write(`warning: ${mismatch.message}\n`);
          }
          const dataDirectory = resolveDataDirectory(options.data);
          const results = await evaluateTask(loaded, task, {
            dataDirectory,
            maxLength,
            batchSize: options.batchSize,
          });
          const output = {
            task: task.name,
            diff: options.diff,
            method: diff.provenance.method,
            metrics: results,
          };
          if (options.json) printJson(output);
          else {
            for (const [split, metrics] of Object.entries(results)) {
              const text = Object.entries(metrics)
                .map(([k, v]) => `${k} ${v.toFixed(4)}`)
                .join(', ');
              process.stdout.write(`${task.displayName} ${split}: ${text}\n`);
            }
          }
        } finally {
          tf.dispose(Object.values(loaded.params));
        }
      }),
    );
}
