import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { padEncoded, resolveModelSource, toEncodedBatch } from '@diffprune/bert';
import {
  checkFinite,
  type EventListener,
  InvalidArgumentError,
  type LoadedBackbone,
  readJsonFileSync,
} from '@diffprune/core';
import type { ScatterAdd } from '@diffprune/sparse-diff';
import * as tf from '@tensorflow/tfjs-core';
import { headOutputs, loadBackbone } from './backbones.js';
import { diffLabels } from './diff-metadata.js';
import { loadWithDiff } from './with-diff.js';

/** A loaded classifier and its class names (a task diff's recorded labels, else the config's). */
export type Classifier = LoadedBackbone & { labels?: string[] };

/** One text or text pair to classify. */
export interface TextPair {
  textA: string;
  textB?: string | null;
}

/** One prediction: logits, and probabilities and the argmax label (classification) or score (regression). */
export interface Prediction {
  logits: number[];
  probabilities?: number[];
  label?: number | string;
  score?: number;
}

/** Where a classifier comes from: a finetuned model, or a base model plus a task diff. */
export interface LoadClassifierOptions {
  /** A task diff (`.diff.safetensors`) applied to the model (then the base) before predicting. */
  diff?: string;
  revision?: string;
  offline?: boolean;
  cacheDirectory?: string;
  onEvent?: EventListener;
  /** A faster scatter-add for applying the diff (see {@link loadWithDiff}). */
  scatterAdd?: ScatterAdd;
}

/** The head size a checkpoint's config.json declares (`num_labels`, else the size of `id2label`). */
function configuredLabels(directory: string): number | undefined {
  const path = join(directory, 'config.json');
  if (!existsSync(path)) return undefined;
  const config = readJsonFileSync(path, 'config.json') as { num_labels?: unknown; id2label?: unknown };
  if (typeof config.num_labels === 'number') return config.num_labels;
  if (typeof config.id2label === 'object' && config.id2label !== null)
    return Object.keys(config.id2label).length;
  return undefined;
}

/**
 * Loads a model with a classifier head: a finetuned checkpoint (its config names the head size), or
 * a base model with a task diff applied (the diff names the head size). The caller disposes
 * `params` when done.
 */
export async function loadClassifier(
  model: string,
  options: LoadClassifierOptions = {},
): Promise<Classifier> {
  const hub = {
    ...(options.revision ? { revision: options.revision } : {}),
    ...(options.offline ? { offline: true } : {}),
    ...(options.cacheDirectory ? { cacheDirectory: options.cacheDirectory } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  };
  // Hub ids are downloaded (or found in the cache) first, so the config can be read.
  const { directory } = await resolveModelSource(model, hub);
  if (!options.diff) {
    const numLabels = configuredLabels(directory);
    if (numLabels === undefined) {
      throw new InvalidArgumentError({
        argument: '--model',
        expected: 'a finetuned model with a classifier (config.json num_labels), or --diff with a task diff',
        found: model,
      });
    }
    const loaded = await loadBackbone(directory, { head: { numLabels } });
    if (loaded.created.length > 0) {
      tf.dispose(Object.values(loaded.params));
      throw new InvalidArgumentError({
        argument: '--model',
        expected: 'a checkpoint with its classifier head (or --diff with a task diff)',
        found: `${model} without a classifier`,
      });
    }
    return loaded;
  }
  const withDiff = { ...hub, ...(options.scatterAdd ? { scatterAdd: options.scatterAdd } : {}) };
  const { loaded, diff } = await loadWithDiff(directory, options.diff, withDiff);
  const labels = diffLabels(diff, classifierOutputs(loaded));
  return labels ? { ...loaded, labels } : loaded;
}

/** The number of outputs of a loaded classifier's head (1: regression). */
export function classifierOutputs(loaded: LoadedBackbone): number {
  return (
    headOutputs(Object.entries(loaded.params).map(([name, tensor]) => ({ name, shape: tensor.shape }))) ?? 1
  );
}

/**
 * Tokenizes, batches (by length: less padding) and classifies texts with a loaded classifier;
 * returns one prediction per text, in input order. `maxLength` defaults to 128 tokens (the paper's)
 * or the model's positions if fewer.
 */
export async function predictTexts(
  loaded: Classifier,
  texts: readonly TextPair[],
  options: { maxLength?: number; batchSize?: number } = {},
): Promise<Prediction[]> {
  const { backbone, params } = loaded;
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new InvalidArgumentError({
      argument: '--batch-size',
      expected: 'a positive integer',
      found: batchSize,
    });
  }
  // The longest input the family takes (spec v2; RoBERTa's is max_position_embeddings − 2).
  const positions = backbone.maxPositions;
  const maxLength = options.maxLength ?? Math.min(128, positions);
  if (maxLength > positions) {
    throw new InvalidArgumentError({
      argument: '--max-length',
      expected: `at most the model's ${positions} positions`,
      found: maxLength,
    });
  }
  const encoded = texts.map((e) => backbone.encoder.encode(e.textA, e.textB ?? null, { maxLength }));
  const order = encoded
    .map((_, i) => i)
    .sort((a, b) => encoded[a]!.inputIds.length - encoded[b]!.inputIds.length);
  const predictions: Prediction[] = new Array(texts.length);
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
      predictions[exampleIndex] = toPrediction(
        rows[row]!,
        loaded.labels ?? (backbone.config as { labels?: string[] }).labels,
      );
    });
  }
  return predictions;
}

/**
 * A prediction from one row of logits: the score (one output) or softmax probabilities and the argmax
 * label, named when the model's config names its labels (not the default `LABEL_<n>`). Non-finite
 * logits are a `NonFiniteValueError`, never label -1.
 */
export function toPrediction(logits: number[], labels: string[] | undefined): Prediction {
  // NaN logits would give label -1 (indexOf(NaN)) or a NaN score: a diverged model or diff.
  checkFinite(logits, { tensor: 'logits' });
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
