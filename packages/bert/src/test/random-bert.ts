import { createRng, type EncodedBatch, type LoadedBackbone, type ParameterMap } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { parseBertConfig } from '../config.js';
import { BertBackbone } from '../model.js';

/** Model shapes of the step benchmark (google-research/bert's small BERTs and BERT-base). */
export const stepSizes = {
  tiny: { layers: 2, hidden: 128, heads: 2, intermediate: 512 },
  mini: { layers: 4, hidden: 256, heads: 4, intermediate: 1024 },
  base: { layers: 12, hidden: 768, heads: 12, intermediate: 3072 },
} as const;
export type StepSize = keyof typeof stepSizes;
export interface StepShape {
  layers: number;
  hidden: number;
  heads: number;
  intermediate: number;
}

export const stepVocabularySize = 30522;
export const stepMaxPositions = 512;
export const stepNumLabels = 2;

/** The HF `config.json` of a benchmark model (what apps/bench/scripts/torch_step.py builds too: keep the two in step). */
export function stepConfigJson(
  size: StepSize,
  vocabularySize = stepVocabularySize,
  shape: StepShape = stepSizes[size],
) {
  return {
    model_type: 'bert',
    vocab_size: vocabularySize,
    hidden_size: shape.hidden,
    num_hidden_layers: shape.layers,
    num_attention_heads: shape.heads,
    intermediate_size: shape.intermediate,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0.1,
    attention_probs_dropout_prob: 0.1,
    max_position_embeddings: stepMaxPositions,
    type_vocab_size: 2,
    initializer_range: 0.02,
    layer_norm_eps: 1e-12,
    num_labels: stepNumLabels,
  };
}

/** The benchmark never tokenises: batches are random token ids. */
const noEncoder = {
  padId: 0,
  encode(): never {
    throw new Error('the step benchmark uses random token ids; it has no tokenizer');
  },
};

/**
 * A randomly initialised BERT (HF's init: N(0, 0.02²) matrices and embeddings, zero biases, unit
 * LayerNorm weights), seeded, as a `LoadedBackbone` — what the trainer gets from `loadBert`.
 */
export function randomBert(configJson: Record<string, unknown>, seed: number): LoadedBackbone {
  const config = parseBertConfig(configJson, 'step benchmark config');
  const backbone = new BertBackbone(config, noEncoder);
  const rng = createRng(seed).fork('parameters');
  const params: ParameterMap = {};
  for (const spec of backbone.parameterSpecs({ numLabels: stepNumLabels })) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    if (spec.kind === 'norm-weight') values.fill(1);
    else if (spec.kind === 'weight' || spec.kind === 'embedding') {
      const stream = rng.fork(spec.name);
      for (let i = 0; i < size; i++) values[i] = stream.normal() * config.initializerRange;
    }
    params[spec.name] = tf.tensor(values, [...spec.shape], 'float32');
  }
  return {
    backbone,
    params,
    source: { id: 'random-init', revision: 'local', directory: '' },
    created: Object.keys(params),
  };
}

/** A batch of random token ids (no padding), segment A then B, and random binary labels. */
export function randomBatch(
  batchSize: number,
  length: number,
  vocabularySize: number,
  seed: number,
): { batch: EncodedBatch; labels: tf.Tensor1D } {
  const rng = createRng(seed).fork('batch');
  const ids = new Int32Array(batchSize * length);
  for (let i = 0; i < ids.length; i++) ids[i] = rng.int(vocabularySize);
  const types = new Int32Array(batchSize * length);
  for (let r = 0; r < batchSize; r++) types.fill(1, r * length + Math.floor(length / 2), (r + 1) * length);
  const labels = Int32Array.from({ length: batchSize }, () => rng.int(stepNumLabels));
  return {
    batch: {
      inputIds: tf.tensor2d(ids, [batchSize, length], 'int32'),
      tokenTypeIds: tf.tensor2d(types, [batchSize, length], 'int32'),
      attentionMask: tf.ones([batchSize, length], 'int32') as tf.Tensor2D,
    },
    labels: tf.tensor1d(labels, 'int32'),
  };
}
