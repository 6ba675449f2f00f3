import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { padEncoded, resolveModelSource, toEncodedBatch } from '@diffprune/bert';
import {
  type EventListener,
  InvalidArgumentError,
  type LoadedBackbone,
  MissingResourceError,
  writeFileAtomic,
} from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import type { Command } from 'commander';
import { loadBackbone } from '../backbones.js';
import { startBackend } from '../backend.js';
import { action } from '../cli-support.js';
import { progressRenderer } from '../progress.js';
import { loadWithDiff } from '../with-diff.js';

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

/** One output line: logits, and probabilities and the argmax label (classification) or score (regression). */
export interface Prediction {
  logits: number[];
  probabilities?: number[];
  label?: number | string;
  score?: number;
}

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

/** The head size a checkpoint's config.json declares (`num_labels`, else the size of `id2label`). */
function configuredLabels(directory: string): number | undefined {
  const path = join(directory, 'config.json');
  if (!existsSync(path)) return undefined;
  const config = JSON.parse(readFileSync(path, 'utf8')) as { num_labels?: unknown; id2label?: unknown };
  if (typeof config.num_labels === 'number') return config.num_labels;
  if (typeof config.id2label === 'object' && config.id2label !== null)
    return Object.keys(config.id2label).length;
  return undefined;
}

/** Loads the model, applying the diff when given (the diff names the head size). */
async function loadModel(options: PredictOptions): Promise<LoadedBackbone> {
  const hub = {
    ...(options.revision ? { revision: options.revision } : {}),
    ...(options.offline ? { offline: true } : {}),
    ...(options.cache ? { cacheDirectory: options.cache } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  };
  // Hub ids are downloaded (or found in the cache) first, so the config can be read.
  const { directory } = await resolveModelSource(options.model, hub);
  if (!options.diff) {
    const numLabels = configuredLabels(directory);
    if (numLabels === undefined) {
      throw new InvalidArgumentError({
        argument: '--model',
        expected: 'a finetuned model with a classifier (config.json num_labels), or --diff with a task diff',
        found: options.model,
      });
    }
    const loaded = await loadBackbone(directory, { head: { numLabels } });
    if (loaded.created.length > 0) {
      tf.dispose(Object.values(loaded.params));
      throw new InvalidArgumentError({
        argument: '--model',
        expected: 'a checkpoint with classifier.weight and classifier.bias (or --diff with a task diff)',
        found: `${options.model} without a classifier`,
      });
    }
    return loaded;
  }
  return (await loadWithDiff(directory, options.diff, hub)).loaded;
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
  const examples = await readExamples(options.input);
  const loaded = await loadModel(options);
  try {
    const { backbone, params } = loaded;
    const config = backbone.config as { maxPositionEmbeddings?: number; labels?: string[] };
    // Default 128 tokens (the paper's), or fewer when the model has fewer positions.
    const maxLength = options.maxLength ?? Math.min(128, config.maxPositionEmbeddings ?? 128);
    if (config.maxPositionEmbeddings !== undefined && maxLength > config.maxPositionEmbeddings) {
      throw new InvalidArgumentError({
        argument: '--max-length',
        expected: `at most the model's max_position_embeddings (${config.maxPositionEmbeddings})`,
        found: maxLength,
      });
    }
    const numLabels = params['classifier.bias']?.shape[0] ?? 1;
    const encoded = examples.map((e) => backbone.encoder.encode(e.textA, e.textB, { maxLength }));
    const order = encoded
      .map((_, i) => i)
      .sort((a, b) => encoded[a]!.inputIds.length - encoded[b]!.inputIds.length);
    const predictions: Prediction[] = new Array(examples.length);
    for (let start = 0; start < order.length; start += batchSize) {
      const indices = order.slice(start, start + batchSize);
      const batch = toEncodedBatch(
        padEncoded(
          indices.map((i) => encoded[i]!),
          backbone.encoder.padId,
        ),
      );
      const logits = backbone.classify(params, batch, { training: false });
      const rows = (await logits.array()) as number[][];
      tf.dispose([logits, batch.inputIds, batch.tokenTypeIds, batch.attentionMask]);
      indices.forEach((exampleIndex, row) => {
        predictions[exampleIndex] = toPrediction(rows[row]!, config.labels);
      });
    }
    await writeFileAtomic(options.output, predictions.map((p) => `${JSON.stringify(p)}\n`).join(''));
    return { examples: examples.length, numLabels };
  } finally {
    tf.dispose(Object.values(loaded.params));
  }
}

function toPrediction(logits: number[], labels: string[] | undefined): Prediction {
  if (logits.length === 1) return { logits, score: logits[0]! };
  const max = Math.max(...logits);
  const exps = logits.map((x) => Math.exp(x - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  const probabilities = exps.map((x) => x / sum);
  const best = logits.indexOf(max);
  const named =
    labels?.length === logits.length && !/^LABEL_\d+$/.test(labels[best] ?? '') ? labels[best] : undefined;
  return { logits, probabilities, label: named ?? best };
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
