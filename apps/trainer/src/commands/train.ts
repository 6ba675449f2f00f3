import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InterruptedError, InvalidArgumentError } from '@diffprune/core';
import { indexEncodings, parseValueDtype } from '@diffprune/sparse-diff';
import {
  defaultDiffEncoding,
  defaultSettings,
  runTraining,
  type TrainingMethod,
  type TrainSettings,
  trainingMethods,
  userTaskData,
} from '@diffprune/training';
import { type Command, Option } from 'commander';
import { startBackend } from '../backend.js';
import { action, integerOption, numberOption, printJson, stopOnInterrupt } from '../cli-support.js';
import { addDataFileOptions, checkTaskOrFile, type DataFileOptions, readOptions } from '../data-options.js';
import { fanOut, jsonlEventLog } from '../events-log.js';
import { progressRenderer } from '../progress.js';

const number = numberOption;
const integer = integerOption;

export interface TrainCommandOptions extends DataFileOptions {
  model: string;
  task?: string;
  trainFile?: string;
  validationFile?: string;
  validationSplit?: number;
  taskName: string;
  valueDtype: string;
  indexEncoding: string;
  data?: string;
  method: TrainingMethod;
  out: string;
  [key: string]: unknown;
}

/**
 * A finished run in --out (its metrics.json) is not overwritten silently, as `diff apply` asks for
 * --force: --resume continues it (a finished run just rewrites its outputs), --force replaces it (its
 * metrics, event log and checkpoints are removed first).
 */
export async function guardFinishedRun(out: string, resume: boolean, force: boolean): Promise<void> {
  if (resume || !existsSync(join(out, 'metrics.json'))) return;
  if (!force) {
    throw new InvalidArgumentError({
      argument: '--out',
      expected: 'a directory without a finished run (or --force to replace it, --resume to continue it)',
      found: `${out}, which holds one (metrics.json)`,
    });
  }
  for (const name of ['metrics.json', 'events.jsonl', 'checkpoint', 'checkpoint.previous'])
    await rm(join(out, name), { recursive: true, force: true });
}

/** Maps CLI options onto the method's default settings (only flags the user gave override). */
export function settingsFromOptions(options: Record<string, unknown>): TrainSettings {
  const settings = defaultSettings(options.method as TrainingMethod);
  const map: [string, keyof TrainSettings][] = [
    ['seed', 'seed'],
    ['batchSize', 'batchSize'],
    ['maxLength', 'maxLength'],
    ['epochs', 'epochs'],
    ['learningRate', 'learningRate'],
    ['alphaLearningRate', 'alphaLearningRate'],
    ['lambda', 'lambda'],
    ['groupPenalty', 'groupPenalty'],
    ['alphaInit', 'alphaInit'],
    ['targetDensity', 'targetDensity'],
    ['projectionScope', 'projectionScope'],
    ['fixedMaskLearningRate', 'fixedMaskLearningRate'],
    ['fixedMaskEpochs', 'fixedMaskEpochs'],
    ['fixedMaskInit', 'fixedMaskInit'],
    ['maxGradNorm', 'maxGradNorm'],
    ['evalGate', 'evalGate'],
    ['maxSteps', 'maxSteps'],
    ['maxTrainExamples', 'maxTrainExamples'],
    ['maxEvalExamples', 'maxEvalExamples'],
    ['evalEvery', 'evalEverySteps'],
    ['checkpointEvery', 'checkpointEverySteps'],
  ];
  const record = settings as unknown as Record<string, unknown>;
  for (const [option, key] of map) if (options[option] !== undefined) record[key] = options[option];
  if (options.structured === false) settings.structured = false;
  if (options.dropout === false) settings.dropout = false;
  return settings;
}

export function registerTrainCommand(program: Command): void {
  const command = program
    .command('train')
    .description(
      'train a method on a GLUE task (--task) or your own data (--train-file); writes <task>.diff.safetensors, metrics.json and events.jsonl to --out',
    )
    .requiredOption('--model <dir|hub-id>', 'pretrained model: an HF-layout directory or a hub id')
    .option('--task <task>', 'GLUE task (cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli)')
    .option('--data <dir>', 'GLUE data directory (default: $DIFFPRUNE_GLUE_DIR or the cache)')
    .option('--train-file <file>', 'your own training data instead of --task: .jsonl, .csv, .tsv or .parquet')
    .option(
      '--validation-file <file>',
      'your validation data (default: a seeded split of --train-file, see --validation-split)',
    )
    .option(
      '--validation-split <fraction>',
      'share of --train-file held out when no --validation-file is given (default 0.1; seeded by --seed)',
      number('--validation-split'),
    )
    .option('--task-name <name>', 'the name of your task, for the diff file and its provenance', 'custom');
  addDataFileOptions(command)
    .option(
      '--value-dtype <dtype>',
      'how the diff stores δ: f32 | f16 | bf16 | i8 (the measured default keeps every dev prediction)',
      defaultDiffEncoding.valueDtype.toLowerCase(),
    )
    .option(
      '--index-encoding <encoding>',
      `index encoding: ${indexEncodings.join(' | ')}`,
      defaultDiffEncoding.indexEncoding,
    )
    .addOption(
      new Option('--method <method>', 'training method')
        .choices([...trainingMethods])
        .default('diff-pruning'),
    )
    .requiredOption('--out <dir>', 'output directory')
    .option('--seed <n>', 'random seed', integer('--seed'))
    .option('--batch-size <n>', 'batch size (default 8)', integer('--batch-size', 1))
    .option('--max-length <n>', 'max tokens per example (default 128)', integer('--max-length', 1))
    .option('--epochs <n>', 'epochs of the first stage (default 3)', number('--epochs'))
    .option(
      '--learning-rate <x>',
      'first-stage learning rate (w: 1e-5 for diff pruning; 2e-5 for finetuning)',
      number('--learning-rate'),
    )
    .option(
      '--alpha-learning-rate <x>',
      'learning rate of log α (default 0.1)',
      number('--alpha-learning-rate'),
    )
    .option(
      '--lambda <x>',
      'expected-L0 penalty weight on a sum over gates (default 1.25e-7)',
      number('--lambda'),
    )
    .option('--no-structured', 'no group gates (structured is on by default, as in the authors\u2019 code)')
    .addOption(
      new Option(
        '--group-penalty <form>',
        'structured penalty: sum (authors\u2019 code) or product (paper)',
      ).choices(['sum', 'product']),
    )
    .option('--alpha-init <x>', 'initial log α (default 5)', number('--alpha-init'))
    .option(
      '--target-density <x>',
      'kept fraction after projection (default 0.005)',
      number('--target-density'),
    )
    .addOption(
      new Option('--projection-scope <scope>', 'top-k over all tensors (default) or gated ones').choices([
        'all',
        'gated',
      ]),
    )
    .option(
      '--fixed-mask-learning-rate <x>',
      'stage-3 learning rate (default 5e-5)',
      number('--fixed-mask-learning-rate'),
    )
    .option(
      '--fixed-mask-epochs <n>',
      'stage-3 epochs (default 5 for MRPC, STS-B, RTE; else 3)',
      integer('--fixed-mask-epochs'),
    )
    .addOption(
      new Option('--fixed-mask-init <init>', 'stage-3 start: raw w (authors) or z·w').choices([
        'raw',
        'gated',
      ]),
    )
    .option('--max-grad-norm <x>', 'gradient clipping per group (default 1)', number('--max-grad-norm'))
    .addOption(
      new Option('--eval-gate <gate>', 'z used for stage-1 evaluation').choices([
        'last',
        'sample',
        'deterministic',
      ]),
    )
    .option('--no-dropout', 'disable dropout in training')
    .option('--max-steps <n>', 'cap the steps of each stage (quick runs)', integer('--max-steps'))
    .option(
      '--max-train-examples <n>',
      'use a seeded random subset of N training examples (the same subset for the same --seed)',
      integer('--max-train-examples'),
    )
    .option(
      '--max-eval-examples <n>',
      'use a seeded random subset of N dev examples (the same for the same --seed)',
      integer('--max-eval-examples'),
    )
    .option('--eval-every <n>', 'also evaluate every N steps', integer('--eval-every'))
    .option('--checkpoint-every <n>', 'checkpoint every N steps (default 500)', integer('--checkpoint-every'))
    .option('--resume', 'continue from the checkpoint in --out')
    .option('--force', 'train into an --out that holds a finished run, replacing it')
    .option('--backend <name>', 'force a backend (tensorflow, native, wasm, cpu)')
    .option('--offline', 'never download; missing files are errors that say how to get them')
    .option('--cache <dir>', 'download cache directory')
    .option('--quiet', 'no progress output')
    .option('--json', 'print the final summary (metrics.json) as JSON on stdout, nothing else')
    .action(
      action(async (options: TrainCommandOptions) => {
        checkTaskOrFile(options.task, options.trainFile, '--train-file');
        const settings = settingsFromOptions(options);
        const valueDtype = parseValueDtype(options.valueDtype, '--value-dtype');
        if (!(indexEncodings as readonly string[]).includes(options.indexEncoding))
          throw new InvalidArgumentError({
            argument: '--index-encoding',
            expected: `one of ${indexEncodings.join(', ')}`,
            found: options.indexEncoding,
          });
        await guardFinishedRun(options.out, Boolean(options.resume), Boolean(options.force));
        const log = jsonlEventLog(join(options.out, 'events.jsonl'));
        const render = options.quiet || options.json ? undefined : progressRenderer();
        const onEvent = fanOut(log, render);
        await startBackend({ ...(options.backend ? { backend: options.backend as string } : {}), onEvent });
        const interrupt = stopOnInterrupt('stopping after this step (Ctrl-C again to quit without saving)…');
        try {
          const task = options.trainFile
            ? await userTaskData({
                name: options.taskName,
                trainFile: options.trainFile,
                ...(options.validationFile ? { validationFile: options.validationFile } : {}),
                ...(options.validationSplit !== undefined
                  ? { validationFraction: options.validationSplit }
                  : {}),
                seed: settings.seed,
                ...readOptions(options),
                onEvent,
              })
            : (options.task as string);
          const summary = await runTraining({
            model: options.model,
            task,
            encoding: {
              valueDtype,
              indexEncoding: options.indexEncoding as (typeof indexEncodings)[number],
            },
            ...(options.data ? { dataDirectory: options.data } : {}),
            settings,
            // Without --max-length the default 128 fits the model's positions.
            fitMaxLength: options.maxLength === undefined,
            outputDirectory: options.out,
            resume: Boolean(options.resume),
            onEvent,
            shouldStop: interrupt.requested,
            load: {
              ...(options.offline ? { offline: true } : {}),
              ...(options.cache ? { cacheDirectory: options.cache as string } : {}),
            },
          });
          if (options.json) printJson(summary);
          else if (!options.quiet) {
            process.stderr.write(
              `done: ${Object.entries(summary.metrics)
                .map(([k, v]) => `${k} ${v.toFixed(4)}`)
                .join(
                  ', ',
                )}; modified ${(summary.density * 100).toFixed(3)}% of parameters (${(summary.densityWithoutHead * 100).toFixed(3)}% without the head); diff ${summary.diffBytes} bytes at ${summary.diffPath}\n`,
            );
          }
        } catch (error) {
          // The library says where the checkpoint is; how to resume is this command's flag.
          if (error instanceof InterruptedError)
            throw new InterruptedError(`${error.message}; resume with the same command and --resume`);
          throw error;
        } finally {
          interrupt.dispose();
        }
      }),
    );
}
