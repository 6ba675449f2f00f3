import { createReadStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import {
  type EventListener,
  InvalidArgumentError,
  MissingResourceError,
  writeFileAtomic,
} from '@diffprune/core';
import { classifierOutputs, loadClassifier, type Prediction, predictTexts } from '@diffprune/training';
import * as tf from '@tensorflow/tfjs-core';
import type { Command } from 'commander';
import { fastScatterAdd, startBackend } from '../backend.js';
import { action } from '../cli-support.js';
import { progressRenderer } from '../progress.js';

export interface PredictOptions {
  /** A model directory or hub id (a finetuned model, or the base of `diff`). */
  model: string;
  /** A task diff (`.diff.safetensors`) applied to `model` before predicting. */
  diff?: string;
  /** JSONL: one `{"text_a": …, "text_b": … | null}` per line; blank lines are skipped. */
  input: string;
  /** JSONL: one prediction per input line, in input order. */
  output: string;
  maxLength?: number;
  batchSize?: number;
  revision?: string;
  offline?: boolean;
  cache?: string;
  onEvent?: EventListener;
}

export type { Prediction };

interface Example {
  line: number;
  textA: string;
  textB: string | null;
}

async function readExamples(path: string): Promise<Example[]> {
  if (!existsSync(path))
    throw new MissingResourceError({ resource: path, hint: '--input must be a JSONL file' });
  const examples: Example[] = [];
  let line = 0;
  for await (const text of createInterface({
    input: createReadStream(path, 'utf8'),
    crlfDelay: Number.POSITIVE_INFINITY,
  })) {
    line++;
    if (text.trim() === '') continue;
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch (error) {
      throw new InvalidArgumentError({
        argument: `${path} line ${line}`,
        expected: 'a JSON object',
        found: (error as Error).message,
      });
    }
    const { text_a: textA, text_b: textB } = (record ?? {}) as { text_a?: unknown; text_b?: unknown };
    if (typeof textA !== 'string') {
      throw new InvalidArgumentError({
        argument: `${path} line ${line}: text_a`,
        expected: 'a string',
        found: textA,
      });
    }
    if (textB !== undefined && textB !== null && typeof textB !== 'string') {
      throw new InvalidArgumentError({
        argument: `${path} line ${line}: text_b`,
        expected: 'a string, null or absent',
        found: textB,
      });
    }
    examples.push({ line, textA, textB: textB ?? null });
  }
  return examples;
}

/**
 * Predicts every example of a JSONL file and writes one JSON line per example, in input order:
 * `logits`, and `probabilities` + `label` (classification) or `score` (regression, one output).
 * Examples are batched by length (less padding); the output file is written atomically.
 */
export async function predict(options: PredictOptions): Promise<{ examples: number; numLabels: number }> {
  // predictTexts checks the batch size and the max length against the model.
  const examples = await readExamples(options.input);
  const scatterAdd = options.diff ? await fastScatterAdd() : undefined;
  const loaded = await loadClassifier(options.model, {
    ...(options.diff ? { diff: options.diff } : {}),
    ...(options.revision ? { revision: options.revision } : {}),
    ...(options.offline ? { offline: true } : {}),
    ...(options.cache ? { cacheDirectory: options.cache } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(scatterAdd ? { scatterAdd } : {}),
  });
  try {
    const predictions = await predictTexts(loaded, examples, {
      ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
      ...(options.maxLength !== undefined ? { maxLength: options.maxLength } : {}),
    });
    await writeFileAtomic(options.output, predictions.map((p) => `${JSON.stringify(p)}\n`).join(''));
    return { examples: examples.length, numLabels: classifierOutputs(loaded) };
  } finally {
    tf.dispose(Object.values(loaded.params));
  }
}

const positiveInteger = (name: string) => (value: string) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) {
    throw new InvalidArgumentError({ argument: name, expected: 'a positive integer', found: value });
  }
  return parsed;
};

/** Registers `diffprune predict`. */
export function registerPredictCommand(program: Command): void {
  program
    .command('predict')
    .description(
      'predict JSONL examples ({"text_a": …, "text_b": … | null} per line) with a finetuned model or a base model + task diff; writes {"logits", "probabilities", "label"} (or "score" for regression) per line, in input order',
    )
    .requiredOption('--model <dir|hub-id>', 'model directory or hub id (the base model when --diff is given)')
    .option('--diff <file>', 'task diff (.diff.safetensors) to apply to --model')
    .requiredOption('--input <file>', 'input JSONL (blank lines are skipped)')
    .requiredOption('--output <file>', 'output JSONL (written atomically)')
    .option(
      '--max-length <n>',
      "max tokens per example, special tokens included (default 128, or the model's max positions if fewer)",
      positiveInteger('--max-length'),
    )
    .option('--batch-size <n>', 'examples per batch (default 32)', positiveInteger('--batch-size'))
    .option('--revision <rev>', 'hub revision (branch, tag or commit; default main)')
    .option('--offline', 'never download; missing files are errors that say how to get them')
    .option('--cache <dir>', 'download cache directory')
    .option('--backend <name>', 'force a backend (tensorflow, native, wasm, cpu)')
    .option('--quiet', 'no progress output on stderr')
    .action(
      action(async (options: Omit<PredictOptions, 'onEvent'> & { backend?: string; quiet?: boolean }) => {
        const render = options.quiet ? undefined : progressRenderer();
        await startBackend({
          ...(options.backend ? { backend: options.backend } : {}),
          ...(render ? { onEvent: render } : {}),
        });
        const started = Date.now();
        const result = await predict({ ...options, ...(render ? { onEvent: render } : {}) });
        if (!options.quiet) {
          process.stderr.write(
            `wrote ${result.examples} predictions (${result.numLabels === 1 ? 'regression' : `${result.numLabels} labels`}) to ${options.output} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
          );
        }
      }),
    );
}
