import {
  createRng,
  type EncodedBatch,
  type ForwardOptions,
  InvalidArgumentError,
  type ParameterMap,
} from '@diffprune/core';
import type * as tf from '@tensorflow/tfjs-core';
import type { BertActivation } from './config.js';
import { activation, dropout, layerNorm, linear, multiHeadAttention } from './ops.js';

/**
 * The post-LayerNorm transformer encoder layer BERT, RoBERTa, ELECTRA and DistilBERT share (HF
 * `BertLayer` / DistilBERT's `TransformerBlock`), keyed by each family's parameter names, plus the
 * helpers every functional forward needs. Backbones other than BERT import these from here.
 */

/** Where dropout is applied; each site (and layer) gets its own seed derived from the forward's seed. */
export type DropoutSite = (x: tf.Tensor, rate: number, site: string) => tf.Tensor;

/**
 * The dropout mask seed of one site (e.g. `embeddings`, `layer.0.attention.probabilities`,
 * `layer.0.attention.output`, `layer.0.output`, `classifier`) in a forward seeded with `forwardSeed`.
 */
export const dropoutSiteSeed = (forwardSeed: number, site: string): number =>
  createRng(forwardSeed >>> 0)
    .fork(site)
    .nextUint32();

/** The dropout of a forward: identity at eval; seeded per site when `options.seed` is given. */
export const dropoutSites = (options: ForwardOptions): DropoutSite => {
  if (!options.training) return (x) => x;
  const { seed } = options;
  return (x, rate, site) =>
    dropout(x, rate, seed === undefined ? Math.floor(Math.random() * 2 ** 32) : dropoutSiteSeed(seed, site));
};

/** A parameter by name, or an `InvalidArgumentError` naming it and the backbone. */
export const requireParameter = (params: ParameterMap, name: string, context: string): tf.Tensor => {
  const tensor = params[name];
  if (!tensor) {
    throw new InvalidArgumentError({
      argument: `params[${JSON.stringify(name)}]`,
      expected: 'a tensor (every parameter of parameterSpecs)',
      found: tensor,
      context,
    });
  }
  return tensor;
};

/** The full parameter-name prefixes (no `.weight`/`.bias`) of one encoder layer's modules. */
export interface EncoderLayerNames {
  query: string;
  key: string;
  value: string;
  attentionOutput: string;
  attentionNorm: string;
  intermediate: string;
  output: string;
  outputNorm: string;
}

/** BERT's names (also RoBERTa's and ELECTRA's) under `prefix`, e.g. `roberta.encoder.layer.0`. */
export const bertLayerNames = (prefix: string): EncoderLayerNames => ({
  query: `${prefix}.attention.self.query`,
  key: `${prefix}.attention.self.key`,
  value: `${prefix}.attention.self.value`,
  attentionOutput: `${prefix}.attention.output.dense`,
  attentionNorm: `${prefix}.attention.output.LayerNorm`,
  intermediate: `${prefix}.intermediate.dense`,
  output: `${prefix}.output.dense`,
  outputNorm: `${prefix}.output.LayerNorm`,
});

export interface EncoderLayerSettings {
  numAttentionHeads: number;
  hiddenAct: BertActivation;
  hiddenDropoutProb: number;
  attentionProbsDropoutProb: number;
  layerNormEps: number;
  /** Dropout after the attention output projection (BERT: yes; DistilBERT: no). Default true. */
  attentionOutputDropout?: boolean;
  /** Used in error messages. */
  context: string;
}

/**
 * One post-LN encoder layer: self-attention + residual + LayerNorm, FFN + residual + LayerNorm.
 * Dropout sites are named `layer.{index}.…` (the same as BERT's, so seeds are comparable).
 */
export function encoderLayer(
  params: ParameterMap,
  names: EncoderLayerNames,
  index: number,
  x: tf.Tensor,
  mask: tf.Tensor4D,
  settings: EncoderLayerSettings,
  drop: DropoutSite,
): tf.Tensor {
  const p = (name: string) => requireParameter(params, name, settings.context);
  const dense = (prefix: string, input: tf.Tensor) =>
    linear(input, p(`${prefix}.weight`), p(`${prefix}.bias`));
  const context = multiHeadAttention(
    dense(names.query, x),
    dense(names.key, x),
    dense(names.value, x),
    mask,
    settings.numAttentionHeads,
    (probabilities) =>
      drop(probabilities, settings.attentionProbsDropoutProb, `layer.${index}.attention.probabilities`),
  );
  const projected = dense(names.attentionOutput, context);
  const attended =
    settings.attentionOutputDropout === false
      ? projected
      : drop(projected, settings.hiddenDropoutProb, `layer.${index}.attention.output`);
  const hidden = layerNorm(
    attended,
    p(`${names.attentionNorm}.weight`),
    p(`${names.attentionNorm}.bias`),
    settings.layerNormEps,
    x,
  );
  const intermediate = activation(settings.hiddenAct, dense(names.intermediate, hidden));
  const output = drop(dense(names.output, intermediate), settings.hiddenDropoutProb, `layer.${index}.output`);
  return layerNorm(
    output,
    p(`${names.outputNorm}.weight`),
    p(`${names.outputNorm}.bias`),
    settings.layerNormEps,
    hidden,
  );
}

/**
 * Checks a batch against a backbone: rank-2 int32 ids, mask (and token types, when given) of the
 * same shape, and no longer than `maxPositions`.
 */
export function checkEncodedBatch(batch: EncodedBatch, maxPositions: number, context: string): void {
  const { inputIds, tokenTypeIds, attentionMask } = batch;
  if (inputIds.rank !== 2) {
    throw new InvalidArgumentError({
      argument: 'batch.inputIds',
      expected: 'a [batch, length] tensor',
      found: inputIds.shape,
      context,
    });
  }
  for (const [name, tensor] of [
    ['tokenTypeIds', tokenTypeIds],
    ['attentionMask', attentionMask],
  ] as const) {
    if (tensor === undefined) continue;
    if (tensor.shape[0] !== inputIds.shape[0] || tensor.shape[1] !== inputIds.shape[1] || tensor.rank !== 2) {
      throw new InvalidArgumentError({
        argument: `batch.${name}`,
        expected: `shape [${inputIds.shape.join(', ')}] (as inputIds)`,
        found: tensor.shape,
        context,
      });
    }
  }
  if (inputIds.shape[1] > maxPositions) {
    throw new InvalidArgumentError({
      argument: 'batch length',
      expected: `at most ${maxPositions} tokens (the model's maximum positions)`,
      found: inputIds.shape[1],
      context,
    });
  }
  if (inputIds.dtype !== 'int32' || (tokenTypeIds && tokenTypeIds.dtype !== 'int32')) {
    throw new InvalidArgumentError({
      argument: 'batch.inputIds / batch.tokenTypeIds dtype',
      expected: 'int32',
      found: `${inputIds.dtype} / ${tokenTypeIds?.dtype}`,
      context,
    });
  }
}
