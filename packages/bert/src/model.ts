import type { EncodedBatch, HeadSpec, ParameterMap, ParameterSpec } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { ClassificationBackbone, firstToken } from './classification-backbone.js';
import type { BertConfig } from './config.js';
import {
  bertLayerNames,
  checkEncodedBatch,
  type DropoutSite,
  encoderLayer,
  requireParameter,
} from './encoder-layer.js';
import { additiveAttentionMask, embedding, firstRow, layerNorm, linear } from './ops.js';
import { bertParameterSpecs } from './parameters.js';

/**
 * The BERT backbone (HF `modeling_bert`): embeddings + LayerNorm, post-LN encoder layers, tanh
 * pooler over [CLS], and a sequence classification / regression head. `forward` and `classify` are
 * pure functions of the parameter map (keyed by HF names), so θ0 + z ⊙ w can be passed in directly.
 */
export class BertBackbone extends ClassificationBackbone<BertConfig> {
  readonly modelType = 'bert';
  /** Looked up by input ids only (no tied output layer here), so trainers may pass just the batch's rows. */
  readonly tokenEmbedding = 'bert.embeddings.word_embeddings.weight';
  readonly tokenTypes = true;
  readonly tokenizer = 'word-piece' as const;

  get maxPositions(): number {
    return this.config.maxPositionEmbeddings;
  }

  parameterSpecs(head: HeadSpec): ParameterSpec[] {
    return bertParameterSpecs(this.config, head);
  }

  protected override head(params: ParameterMap, pooled: tf.Tensor2D, drop: DropoutSite): tf.Tensor2D {
    const hidden = drop(pooled, this.config.hiddenDropoutProb, 'classifier');
    return linear(
      hidden,
      parameter(params, 'classifier.weight'),
      parameter(params, 'classifier.bias'),
    ) as tf.Tensor2D;
  }

  /** BERT's pooler: tanh(dense([CLS])). */
  protected override pool(params: ParameterMap, sequence: tf.Tensor3D): tf.Tensor2D {
    return tf.tanh(
      linear(
        firstToken(sequence),
        parameter(params, 'bert.pooler.dense.weight'),
        parameter(params, 'bert.pooler.dense.bias'),
      ),
    ) as tf.Tensor2D;
  }

  protected encode(params: ParameterMap, batch: EncodedBatch, drop: DropoutSite): tf.Tensor3D {
    const c = this.config;
    const p = (name: string) => parameter(params, name);
    checkEncodedBatch(batch, c.maxPositionEmbeddings, 'BertBackbone');
    const [size, length] = batch.inputIds.shape;

    const positions = tf.range(0, length, 1, 'int32');
    let x = tf.add(
      tf.add(
        embedding(p('bert.embeddings.word_embeddings.weight'), batch.inputIds),
        batch.tokenTypeIds
          ? embedding(p('bert.embeddings.token_type_embeddings.weight'), batch.tokenTypeIds)
          : // Absent token types are all 0 (as HF): row 0, broadcast.
            firstRow(p('bert.embeddings.token_type_embeddings.weight')),
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
    const settings = { ...c, context: 'BertBackbone' };
    for (let i = 0; i < c.numHiddenLayers; i++) {
      // One tidy per layer: at eval the layer's intermediates are freed as soon as it is done (under
      // a gradient tape the tensors backprop needs are kept by the tape regardless).
      const input = x;
      x = tf.tidy(() =>
        encoderLayer(params, bertLayerNames(`bert.encoder.layer.${i}`), i, input, mask, settings, drop),
      );
    }
    return tf.reshape(x, [size, length, c.hiddenSize]);
  }
}

const parameter = (params: ParameterMap, name: string): tf.Tensor =>
  requireParameter(params, name, 'BertBackbone');
