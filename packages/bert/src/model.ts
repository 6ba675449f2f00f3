import {
  type Backbone,
  backboneSpecificationVersion,
  createRng,
  type EncodedBatch,
  type ForwardOptions,
  type HeadSpec,
  InvalidArgumentError,
  type ParameterMap,
  type ParameterSpec,
  type TextPairEncoder,
} from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import type { BertConfig } from './config.js';
import {
  activation,
  additiveAttentionMask,
  dropout,
  embedding,
  layerNorm,
  linear,
  multiHeadAttention,
} from './ops.js';
import { bertParameterSpecs } from './parameters.js';

/** Where dropout is applied; each site (and layer) gets its own seed derived from the forward's seed. */
type DropoutSite = (x: tf.Tensor, rate: number, site: string) => tf.Tensor;

const dropoutSites = (options: ForwardOptions): DropoutSite => {
  if (!options.training) return (x) => x;
  const rng = options.seed === undefined ? undefined : createRng(options.seed >>> 0);
  return (x, rate, site) => {
    const seed = rng ? rng.fork(site).nextUint32() : Math.floor(Math.random() * 2 ** 32);
    return dropout(x, rate, seed);
  };
};

/**
 * The BERT backbone (HF `modeling_bert`): embeddings + LayerNorm, post-LN encoder layers, tanh
 * pooler over [CLS], and a sequence classification / regression head. `forward` and `classify` are
 * pure functions of the parameter map (keyed by HF names), so θ0 + z ⊙ w can be passed in directly.
 */
export class BertBackbone implements Backbone<BertConfig> {
  readonly specificationVersion = backboneSpecificationVersion;
  readonly modelType = 'bert';
  /** Looked up by input ids only (no tied output layer here), so trainers may pass just the batch's rows. */
  readonly tokenEmbedding = 'bert.embeddings.word_embeddings.weight';
  readonly config: BertConfig;
  readonly encoder: TextPairEncoder;

  constructor(config: BertConfig, encoder: TextPairEncoder) {
    this.config = config;
    this.encoder = encoder;
  }

  get hiddenSize(): number {
    return this.config.hiddenSize;
  }

  parameterSpecs(head: HeadSpec): ParameterSpec[] {
    return bertParameterSpecs(this.config, head);
  }

  gatedParameterNames(head: HeadSpec): string[] {
    return this.parameterSpecs(head)
      .filter((spec) => !spec.head)
      .map((spec) => spec.name);
  }

  /** The last encoder layer's output [batch, length, hidden]. */
  sequenceOutput(params: ParameterMap, batch: EncodedBatch, options: ForwardOptions): tf.Tensor3D {
    return tf.tidy(() => this.encode(params, batch, dropoutSites(options)));
  }

  forward(params: ParameterMap, batch: EncodedBatch, options: ForwardOptions): tf.Tensor2D {
    return tf.tidy(() => this.pool(params, this.encode(params, batch, dropoutSites(options))));
  }

  classify(params: ParameterMap, batch: EncodedBatch, options: ForwardOptions): tf.Tensor2D {
    return tf.tidy(() => {
      const drop = dropoutSites(options);
      const pooled = this.pool(params, this.encode(params, batch, drop));
      const hidden = drop(pooled, this.config.hiddenDropoutProb, 'classifier');
      return linear(
        hidden,
        parameter(params, 'classifier.weight'),
        parameter(params, 'classifier.bias'),
      ) as tf.Tensor2D;
    });
  }

  private pool(params: ParameterMap, sequence: tf.Tensor3D): tf.Tensor2D {
    const [batch, , hidden] = sequence.shape;
    const first = tf.reshape(tf.slice(sequence, [0, 0, 0], [batch, 1, hidden]), [batch, hidden]);
    return tf.tanh(
      linear(
        first,
        parameter(params, 'bert.pooler.dense.weight'),
        parameter(params, 'bert.pooler.dense.bias'),
      ),
    ) as tf.Tensor2D;
  }

  /** One post-LN encoder layer: self-attention + residual + LayerNorm, FFN + residual + LayerNorm. */
  private layer(
    params: ParameterMap,
    i: number,
    x: tf.Tensor,
    mask: tf.Tensor4D,
    drop: DropoutSite,
  ): tf.Tensor {
    const c = this.config;
    const p = (name: string) => parameter(params, name);
    const l = `bert.encoder.layer.${i}`;
    const dense = (name: string, input: tf.Tensor) =>
      linear(input, p(`${l}.${name}.weight`), p(`${l}.${name}.bias`));
    const context = multiHeadAttention(
      dense('attention.self.query', x),
      dense('attention.self.key', x),
      dense('attention.self.value', x),
      mask,
      c.numAttentionHeads,
      (probabilities) =>
        drop(probabilities, c.attentionProbsDropoutProb, `layer.${i}.attention.probabilities`),
    );
    const attended = drop(
      dense('attention.output.dense', context),
      c.hiddenDropoutProb,
      `layer.${i}.attention.output`,
    );
    const hidden = layerNorm(
      attended,
      p(`${l}.attention.output.LayerNorm.weight`),
      p(`${l}.attention.output.LayerNorm.bias`),
      c.layerNormEps,
      x,
    );
    const intermediate = activation(c.hiddenAct, dense('intermediate.dense', hidden));
    const output = drop(dense('output.dense', intermediate), c.hiddenDropoutProb, `layer.${i}.output`);
    return layerNorm(
      output,
      p(`${l}.output.LayerNorm.weight`),
      p(`${l}.output.LayerNorm.bias`),
      c.layerNormEps,
      hidden,
    );
  }

  private encode(params: ParameterMap, batch: EncodedBatch, drop: DropoutSite): tf.Tensor3D {
    const c = this.config;
    const p = (name: string) => parameter(params, name);
    checkBatch(batch, c);
    const [size, length] = batch.inputIds.shape;

    const positions = tf.range(0, length, 1, 'int32');
    let x = tf.add(
      tf.add(
        embedding(p('bert.embeddings.word_embeddings.weight'), batch.inputIds),
        embedding(p('bert.embeddings.token_type_embeddings.weight'), batch.tokenTypeIds),
      ),
      embedding(p('bert.embeddings.position_embeddings.weight'), positions),
    );
    x = layerNorm(
      x,
      p('bert.embeddings.LayerNorm.weight'),
      p('bert.embeddings.LayerNorm.bias'),
      c.layerNormEps,
    );
    x = drop(x, c.hiddenDropoutProb, 'embeddings');

    const mask = additiveAttentionMask(batch.attentionMask);
    for (let i = 0; i < c.numHiddenLayers; i++) {
      // One tidy per layer: at eval the layer's intermediates are freed as soon as it is done (under
      // a gradient tape the tensors backprop needs are kept by the tape regardless).
      const input = x;
      x = tf.tidy(() => this.layer(params, i, input, mask, drop));
    }
    return tf.reshape(x, [size, length, c.hiddenSize]);
  }
}

const parameter = (params: ParameterMap, name: string): tf.Tensor => {
  const tensor = params[name];
  if (!tensor) {
    throw new InvalidArgumentError({
      argument: `params[${JSON.stringify(name)}]`,
      expected: 'a tensor (every parameter of parameterSpecs)',
      found: tensor,
      context: 'BertBackbone',
    });
  }
  return tensor;
};

const checkBatch = (batch: EncodedBatch, config: BertConfig) => {
  const { inputIds, tokenTypeIds, attentionMask } = batch;
  if (inputIds.rank !== 2) {
    throw new InvalidArgumentError({
      argument: 'batch.inputIds',
      expected: 'a [batch, length] tensor',
      found: inputIds.shape,
      context: 'BertBackbone',
    });
  }
  for (const [name, tensor] of [
    ['tokenTypeIds', tokenTypeIds],
    ['attentionMask', attentionMask],
  ] as const) {
    if (tensor.shape[0] !== inputIds.shape[0] || tensor.shape[1] !== inputIds.shape[1] || tensor.rank !== 2) {
      throw new InvalidArgumentError({
        argument: `batch.${name}`,
        expected: `shape [${inputIds.shape.join(', ')}] (as inputIds)`,
        found: tensor.shape,
        context: 'BertBackbone',
      });
    }
  }
  if (inputIds.shape[1] > config.maxPositionEmbeddings) {
    throw new InvalidArgumentError({
      argument: 'batch length',
      expected: `at most max_position_embeddings (${config.maxPositionEmbeddings})`,
      found: inputIds.shape[1],
      context: 'BertBackbone',
    });
  }
  if (inputIds.dtype !== 'int32' || tokenTypeIds.dtype !== 'int32') {
    throw new InvalidArgumentError({
      argument: 'batch.inputIds / batch.tokenTypeIds dtype',
      expected: 'int32',
      found: `${inputIds.dtype} / ${tokenTypeIds.dtype}`,
      context: 'BertBackbone',
    });
  }
};
