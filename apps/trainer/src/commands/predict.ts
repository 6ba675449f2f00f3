import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  type EventListener,
  InvalidArgumentError,
  MissingResourceError,
  readJsonFileSync,
  writeFileAtomic,
} from '@diffprune/core';
import { readDataset, readTable, type Table } from '@diffprune/datasets';
import { readDiff } from '@diffprune/sparse-diff';
import {
  classifierOutputs,
  diffDataFields,
  loadClassifier,
  type Prediction,
  predictTexts,
} from '@diffprune/training';
import * as tf from '@tensorflow/tfjs-core';
import type { Command } from 'commander';
import { fastScatterAdd, startBackend } from '../backend.js';
import { action, integerOption } from '../cli-support.js';
import { addDataFileOptions, textFieldList } from '../data-options.js';
import { progressRenderer } from '../progress.js';

export interface PredictOptions {
  /** A model directory or hub id (a finetuned model, or the base of `diff`). */
  model: string;
  /** A task diff (`.diff.safetensors`) applied to `model` before predicting. */
  diff?: string;
  /**
   * JSONL with `text_a`/`text_b` per line, or any dataset file (.jsonl, .csv, .tsv, .parquet) read with
   * `textFields` (default: the diff's recorded fields, else text / sentence1,sentence2 / sentence).
   */
  input: string;
  /** `a` or `a,b`: the input's text field(s). */
  textFields?: string;
  /** Leave out rows with a missing or empty text field (counted) instead of failing. */
  skipBadRows?: boolean;
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

/** The `text_a`/`text_b` JSONL format: `text_a` a string, `text_b` a string, null or absent. */
function legacyExamples(table: Table): Example[] {
  return table.rows.map(({ line, fields }) => {
    const { text_a: textA, text_b: textB } = fields;
    if (typeof textA !== 'string') {
      throw new InvalidArgumentError({
        argument: `${table.path} line ${line}: text_a`,
        expected: 'a string',
        found: textA,
      });
    }
    if (textB !== undefined && textB !== null && typeof textB !== 'string') {
      throw new InvalidArgumentError({
        argument: `${table.path} line ${line}: text_b`,
        expected: 'a string, null or absent',
        found: textB,
      });
    }
    return { line, textA, textB: (textB as string | null | undefined) ?? null };
  });
}

/** The text fields a merged model exported by `diff apply` records (`diffprune_text_fields`). */
function exportedTextFields(model: string): string[] | undefined {
  const path = join(model, 'config.json');
  if (!existsSync(path)) return undefined;
  const fields = (readJsonFileSync(path, 'config.json') as { diffprune_text_fields?: unknown })
    .diffprune_text_fields;
  return Array.isArray(fields) && fields.every((f) => typeof f === 'string') ? fields : undefined;
}

/**
 * The input's texts: the `text_a`/`text_b` JSONL format when the file has `text_a` and no fields are
 * named; otherwise a dataset file read with the named fields, else the diff's recorded ones.
 */
async function readInput(options: PredictOptions): Promise<Example[]> {
  let textFields = textFieldList(options.textFields);
  if (!textFields) {
    if (!existsSync(options.input))
      throw new MissingResourceError({ resource: options.input, hint: '--input must be a data file' });
    const table = await readTable(options.input);
    if (table.format === 'jsonl' && table.columns.includes('text_a')) return legacyExamples(table);
    if (options.diff) textFields = diffDataFields(await readDiff(options.diff)).textFields;
    else textFields = exportedTextFields(options.model);
  }
  const dataset = await readDataset(options.input, {
    ...(textFields ? { textFields } : {}),
    requireLabels: false,
    ...(options.skipBadRows ? { skipBadRows: true } : {}),
  });
  if (dataset.skipped.length > 0)
    options.onEvent?.({
      type: 'warning-raise',
      message: `skipped ${dataset.skipped.length} bad rows of ${options.input}`,
    });
  return dataset.examples.map((e) => ({ line: e.line, textA: e.textA, textB: e.textB }));
}

/**
 * Predicts every example of a JSONL file and writes one JSON line per example, in input order:
 * `logits`, and `probabilities` + `label` (classification) or `score` (regression, one output).
 * Examples are batched by length (less padding); the output file is written atomically.
 */
export async function predict(options: PredictOptions): Promise<{ examples: number; numLabels: number }> {
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new InvalidArgumentError({
      argument: '--batch-size',
      expected: 'a positive integer',
      found: batchSize,
    });
  }
  const examples = await readInput(options);
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
      batchSize,
      ...(options.maxLength !== undefined ? { maxLength: options.maxLength } : {}),
    });
    await writeFileAtomic(options.output, predictions.map((p) => `${JSON.stringify(p)}\n`).join(''));
    return { examples: examples.length, numLabels: classifierOutputs(loaded) };
  } finally {
    tf.dispose(Object.values(loaded.params));
  }
}

const positiveInteger = (name: string) => integerOption(name, 1);

/** Registers `diffprune predict`. */
export function registerPredictCommand(program: Command): void {
  const command = program
    .command('predict')
    .description(
      'predict JSONL examples ({"text_a": …, "text_b": … | null} per line) with a finetuned model or a base model + task diff; writes {"logits", "probabilities", "label"} (or "score" for regression) per line, in input order',
    )
    .requiredOption('--model <dir|hub-id>', 'model directory or hub id (the base model when --diff is given)')
    .option('--diff <file>', 'task diff (.diff.safetensors) to apply to --model')
    .requiredOption(
      '--input <file>',
      'input: JSONL with text_a/text_b, or a .jsonl/.csv/.tsv/.parquet file read with --text-fields (default: the fields the diff was trained with)',
    )
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
    .option('--quiet', 'no progress output on stderr');
  addDataFileOptions(command, false).action(
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
