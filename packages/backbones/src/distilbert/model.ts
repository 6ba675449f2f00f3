import {
  additiveAttentionMask,
  ClassificationBackbone,
  checkEncodedBatch,
  type DropoutSite,
  type EncoderLayerNames,
  embedding,
  encoderLayer,
  layerNorm,
  linear,
  requireParameter,
} from '@diffprune/bert';
import type { EncodedBatch, HeadSpec, ParameterMap, ParameterSpec } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
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
export class DistilbertBackbone extends ClassificationBackbone<DistilbertConfig> {
  readonly modelType = 'distilbert';
  readonly tokenEmbedding = 'distilbert.embeddings.word_embeddings.weight';
  readonly tokenTypes = false;
  readonly tokenizer = 'word-piece' as const;

  get maxPositions(): number {
    return this.config.maxPositionEmbeddings;
  }

  parameterSpecs(head: HeadSpec): ParameterSpec[] {
    return distilbertParameterSpecs(this.config, head);
  }

  /** HF DistilBertForSequenceClassification: pre_classifier, ReLU, dropout, classifier. */
  protected head(params: ParameterMap, first: tf.Tensor2D, drop: DropoutSite): tf.Tensor2D {
    const p = (name: string) => requireParameter(params, name, context);
    const pooled = tf.relu(linear(first, p('pre_classifier.weight'), p('pre_classifier.bias')));
    return linear(
      drop(pooled, this.config.seqClassifDropout, 'classifier'),
      p('classifier.weight'),
      p('classifier.bias'),
    ) as tf.Tensor2D;
  }

  protected encode(params: ParameterMap, batch: EncodedBatch, drop: DropoutSite): tf.Tensor3D {
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
