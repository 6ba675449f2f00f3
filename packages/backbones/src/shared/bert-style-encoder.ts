import {
  additiveAttentionMask,
  type BertConfig,
  bertLayerNames,
  type DropoutSite,
  embedding,
  encoderLayer,
  firstRow,
  layerNorm,
  linear,
  requireParameter,
} from '@diffprune/bert';
import type { EncodedBatch, ParameterMap } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';

/** The BERT config fields a BERT-shaped encoder reads (RoBERTa and ELECTRA configs have them). */
export type EncoderConfig = Pick<
  BertConfig,
  | 'hiddenSize'
  | 'numHiddenLayers'
  | 'numAttentionHeads'
  | 'hiddenAct'
  | 'hiddenDropoutProb'
  | 'attentionProbsDropoutProb'
  | 'layerNormEps'
>;

export interface BertStyleEncoderOptions {
  /** `roberta`, `electra`: parameters are `{prefix}.embeddings.…`, `{prefix}.encoder.layer.{i}.…`. */
  prefix: string;
  config: EncoderConfig;
  /** Position ids, int32 [batch, length] or [length]. */
  positions: tf.Tensor;
  /** Token type ids to embed; undefined: type 0 everywhere. */
  tokenTypeIds: tf.Tensor | undefined;
  /** ELECTRA: `{prefix}.embeddings_project` maps the embedding size to the hidden size. */
  project: boolean;
  drop: DropoutSite;
  context: string;
}

/**
 * HF `BertEmbeddings` + `BertEncoder` under another prefix (RoBERTa and ELECTRA reuse BERT's modules
 * verbatim): word + position + token-type embeddings, LayerNorm, dropout, [projection,] post-LN layers.
 * Returns the last layer's output [batch, length, hidden].
 */
export function bertStyleEncode(
  params: ParameterMap,
  batch: EncodedBatch,
  options: BertStyleEncoderOptions,
): tf.Tensor3D {
  const { prefix, config: c, drop, context } = options;
  const p = (name: string) => requireParameter(params, name, context);
  const [size, length] = batch.inputIds.shape;
  const types = p(`${prefix}.embeddings.token_type_embeddings.weight`);
  let x = tf.add(
    tf.add(
      embedding(p(`${prefix}.embeddings.word_embeddings.weight`), batch.inputIds),
      options.tokenTypeIds ? embedding(types, options.tokenTypeIds) : firstRow(types),
    ),
    embedding(p(`${prefix}.embeddings.position_embeddings.weight`), options.positions),
  );
  x = layerNorm(
    x,
    p(`${prefix}.embeddings.LayerNorm.weight`),
    p(`${prefix}.embeddings.LayerNorm.bias`),
    c.layerNormEps,
  );
  x = drop(x, c.hiddenDropoutProb, 'embeddings');
  if (options.project)
    x = linear(x, p(`${prefix}.embeddings_project.weight`), p(`${prefix}.embeddings_project.bias`));
  const mask = additiveAttentionMask(batch.attentionMask);
  const settings = { ...c, context };
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const input = x;
    x = tf.tidy(() =>
      encoderLayer(params, bertLayerNames(`${prefix}.encoder.layer.${i}`), i, input, mask, settings, drop),
    );
  }
  return tf.reshape(x, [size, length, c.hiddenSize]);
}

/**
 * The two-layer head of RoBERTa and ELECTRA (`classifier.dense` → activation → `classifier.out_proj`,
 * dropout before each): HF `RobertaClassificationHead` / `ElectraClassificationHead`.
 */
export function twoLayerHead(
  params: ParameterMap,
  first: tf.Tensor2D,
  drop: DropoutSite,
  rate: number,
  activate: (x: tf.Tensor) => tf.Tensor,
  context: string,
): tf.Tensor2D {
  const p = (name: string) => requireParameter(params, name, context);
  const hidden = activate(
    linear(drop(first, rate, 'classifier.dense'), p('classifier.dense.weight'), p('classifier.dense.bias')),
  );
  return linear(
    drop(hidden, rate, 'classifier.out_proj'),
    p('classifier.out_proj.weight'),
    p('classifier.out_proj.bias'),
  ) as tf.Tensor2D;
}
