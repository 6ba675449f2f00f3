import { getTask, resolveDataDirectory } from '@diffprune/glue';
import { evaluateTask, loadWithDiff } from '@diffprune/training';
import * as tf from '@tensorflow/tfjs-core';
import type { Command } from 'commander';
import { fastScatterAdd, startBackend } from '../backend.js';
import { action, printJson } from '../cli-support.js';
import { progressRenderer } from '../progress.js';

interface EvalOptions {
  model: string;
  diff: string;
  task: string;
  data?: string;
  maxLength: string;
  batchSize: string;
  backend?: string;
  offline?: boolean;
  cache?: string;
  json?: boolean;
}

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description('dev-set metrics of a trained task diff applied to its base model')
    .requiredOption('--model <dir|hub-id>', 'the base model the diff was trained from')
    .requiredOption('--diff <file>', 'a <task>.diff.safetensors file')
    .requiredOption('--task <task>', 'GLUE task')
    .option('--data <dir>', 'GLUE data directory (default: $DIFFPRUNE_GLUE_DIR or the cache)')
    .option('--max-length <n>', 'max tokens per example', '128')
    .option('--batch-size <n>', 'evaluation batch size', '32')
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
        const task = getTask(options.task);
        const dataDirectory = resolveDataDirectory(options.data);
        const { loaded, diff } = await loadWithDiff(options.model, options.diff, {
          numLabels: task.numLabels,
          ...(options.offline ? { offline: true } : {}),
          ...(options.cache ? { cacheDirectory: options.cache } : {}),
          scatterAdd: await fastScatterAdd(),
        });
        try {
          const results = await evaluateTask(loaded, task, {
            dataDirectory,
            maxLength: Number(options.maxLength),
            batchSize: Number(options.batchSize),
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
