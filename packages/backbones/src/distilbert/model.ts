import {
  additiveAttentionMask,
  checkEncodedBatch,
  dropoutSites,
  type EncoderLayerNames,
  embedding,
  encoderLayer,
  layerNorm,
  linear,
  requireParameter,
} from '@diffprune/bert';
import {
  type Backbone,
  backboneSpecificationVersion,
  type EncodedBatch,
  type ForwardOptions,
  type HeadSpec,
  type ParameterMap,
  type ParameterSpec,
  type TextPairEncoder,
} from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { firstToken } from '../shared/bert-style-encoder.js';
import { specList } from '../shared/specs.js';
import type { DistilbertConfig } from './config.js';

const context = 'DistilbertBackbone';

const layerNames = (i: number): EncoderLayerNames => {
  const p = `distilbert.transformer.layer.${i}`;
  return {
    query: `${p}.attention.q_lin`,
    key: `${p}.attention.k_lin`,
    value: `${p}.attention.v_lin`,
    attentionOutput: `${p}.attention.out_lin`,
    attentionNorm: `${p}.sa_layer_norm`,
    intermediate: `${p}.ffn.lin1`,
    output: `${p}.ffn.lin2`,
    outputNorm: `${p}.output_layer_norm`,
  };
};

/** DistilBERT's parameters under HF `DistilBertForSequenceClassification` names. */
export function distilbertParameterSpecs(config: DistilbertConfig, head: HeadSpec): ParameterSpec[] {
  const h = config.hiddenSize;
  const list = specList();
  list.add('distilbert.embeddings.word_embeddings.weight', [config.vocabSize, h], 'embedding', 'embeddings');
  list.add(
    'distilbert.embeddings.position_embeddings.weight',
    [config.maxPositionEmbeddings, h],
    'embedding',
    'embeddings',
  );
  list.norm('distilbert.embeddings.LayerNorm', h, 'embeddings');
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const n = layerNames(i);
    const block = `layer.${i}`;
    list.dense(n.query, h, h, block);
    list.dense(n.key, h, h, block);
    list.dense(n.value, h, h, block);
    list.dense(n.attentionOutput, h, h, block);
    list.norm(n.attentionNorm, h, block);
    list.dense(n.intermediate, config.intermediateSize, h, block);
    list.dense(n.output, h, config.intermediateSize, block);
    list.norm(n.outputNorm, h, block);
  }
  list.dense('pre_classifier', h, h, 'head');
  list.dense('classifier', head.numLabels, h, 'head');
  return list.specs;
}

/**
 * The DistilBERT backbone (HF `modeling_distilbert`): word + position embeddings (no token types),
 * LayerNorm, post-LN transformer blocks (the same computation as BERT's layer under other names),
 * and the head `pre_classifier` → ReLU → dropout → `classifier` over [CLS]. The head's two layers
 * are new at fine-tuning (not in the pre-trained model), so both are the dense head.
 */
export class DistilbertBackbone implements Backbone<DistilbertConfig> {
  readonly specificationVersion = backboneSpecificationVersion;
  readonly modelType = 'distilbert';
  readonly tokenEmbedding = 'distilbert.embeddings.word_embeddings.weight';
  readonly tokenTypes = false;
  readonly tokenizer = 'word-piece' as const;
  readonly config: DistilbertConfig;
  readonly encoder: TextPairEncoder;

  constructor(config: DistilbertConfig, encoder: TextPairEncoder) {
    this.config = config;
    this.encoder = encoder;
  }

  get hiddenSize(): number {
    return this.config.hiddenSize;
  }

  get maxPositions(): number {
    return this.config.maxPositionEmbeddings;
  }

  get configuredLabels(): number | undefined {
    return this.config.numLabels;
  }

  parameterSpecs(head: HeadSpec): ParameterSpec[] {
    return distilbertParameterSpecs(this.config, head);
  }

  headParameterNames(head: HeadSpec): string[] {
    return this.parameterSpecs(head)
      .filter((spec) => spec.head)
      .map((spec) => spec.name);
  }

  gatedParameterNames(head: HeadSpec): string[] {
    return this.parameterSpecs(head)
      .filter((spec) => !spec.head)
      .map((spec) => spec.name);
  }

  sequenceOutput(params: ParameterMap, batch: EncodedBatch, options: ForwardOptions): tf.Tensor3D {
    return tf.tidy(() => this.encode(params, batch, dropoutSites(options)));
  }

  /** The [CLS] token's hidden state (DistilBERT has no pooler). */
  forward(params: ParameterMap, batch: EncodedBatch, options: ForwardOptions): tf.Tensor2D {
    return tf.tidy(() => firstToken(this.encode(params, batch, dropoutSites(options))));
  }

  classify(params: ParameterMap, batch: EncodedBatch, options: ForwardOptions): tf.Tensor2D {
    return tf.tidy(() => {
      const drop = dropoutSites(options);
      const p = (name: string) => requireParameter(params, name, context);
      const first = firstToken(this.encode(params, batch, drop));
      const pooled = tf.relu(linear(first, p('pre_classifier.weight'), p('pre_classifier.bias')));
      return linear(
        drop(pooled, this.config.seqClassifDropout, 'classifier'),
        p('classifier.weight'),
        p('classifier.bias'),
      ) as tf.Tensor2D;
    });
  }

  private encode(
    params: ParameterMap,
    batch: EncodedBatch,
    drop: ReturnType<typeof dropoutSites>,
  ): tf.Tensor3D {
    const c = this.config;
    const p = (name: string) => requireParameter(params, name, context);
    checkEncodedBatch(batch, c.maxPositionEmbeddings, context);
    const [size, length] = batch.inputIds.shape;
    let x = tf.add(
      embedding(p('distilbert.embeddings.word_embeddings.weight'), batch.inputIds),
      embedding(p('distilbert.embeddings.position_embeddings.weight'), tf.range(0, length, 1, 'int32')),
    );
    x = layerNorm(
      x,
      p('distilbert.embeddings.LayerNorm.weight'),
      p('distilbert.embeddings.LayerNorm.bias'),
      c.layerNormEps,
    );
    x = drop(x, c.hiddenDropoutProb, 'embeddings');
    const mask = additiveAttentionMask(batch.attentionMask);
    // DistilBERT's block has no dropout after the attention projection (HF TransformerBlock).
    const settings = { ...c, attentionOutputDropout: false, context };
    for (let i = 0; i < c.numHiddenLayers; i++) {
      const input = x;
      x = tf.tidy(() => encoderLayer(params, layerNames(i), i, input, mask, settings, drop));
    }
    return tf.reshape(x, [size, length, c.hiddenSize]);
  }
}
