import { ClassificationBackbone, checkEncodedBatch, type DropoutSite } from '@diffprune/bert';
import type { EncodedBatch, HeadSpec, ParameterMap, ParameterSpec } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { bertStyleEncode, twoLayerHead } from '../shared/bert-style-encoder.js';
import { addBertStyleLayers, specList } from '../shared/specs.js';
import type { RobertaConfig } from './config.js';

const context = 'RobertaBackbone';

/** RoBERTa's parameters under HF `RobertaForSequenceClassification` names (no pooler). */
export function robertaParameterSpecs(config: RobertaConfig, head: HeadSpec): ParameterSpec[] {
  const h = config.hiddenSize;
  const list = specList();
  list.add('roberta.embeddings.word_embeddings.weight', [config.vocabSize, h], 'embedding', 'embeddings');
  list.add(
    'roberta.embeddings.position_embeddings.weight',
    [config.maxPositionEmbeddings, h],
    'embedding',
    'embeddings',
  );
  list.add(
    'roberta.embeddings.token_type_embeddings.weight',
    [config.typeVocabSize, h],
    'embedding',
    'embeddings',
  );
  list.norm('roberta.embeddings.LayerNorm', h, 'embeddings');
  addBertStyleLayers(list, 'roberta.encoder.layer', config.numHiddenLayers, h, config.intermediateSize);
  list.dense('classifier.dense', h, h, 'head');
  list.dense('classifier.out_proj', head.numLabels, h, 'head');
  return list.specs;
}

/**
 * RoBERTa positions (HF `create_position_ids_from_input_ids`): padding_idx + 1, 2, … over non-pad
 * tokens, padding_idx on padding. Counted in float32 (exact below 2²⁴) and cast to int32.
 */
export function robertaPositions(inputIds: tf.Tensor2D, padId: number): tf.Tensor2D {
  return tf.tidy(() => {
    const real = tf.cast(tf.notEqual(inputIds, padId), 'float32');
    return tf.cast(tf.add(tf.mul(tf.cumsum(real, 1), real), padId), 'int32') as tf.Tensor2D;
  });
}

/**
 * The RoBERTa backbone (HF `modeling_roberta`): BERT's encoder with positions counted from
 * pad_token_id + 1, one token type, and the two-layer head `classifier.dense` → tanh →
 * `classifier.out_proj` over <s>. Pure functions of the parameter map.
 */
export class RobertaBackbone extends ClassificationBackbone<RobertaConfig> {
  readonly modelType = 'roberta';
  readonly tokenEmbedding = 'roberta.embeddings.word_embeddings.weight';
  /** RoBERTa has one token type; batches' token types are ignored (type 0). */
  readonly tokenTypes = false;
  readonly tokenizer = 'byte-level-bpe' as const;

  /** Positions start after padding_idx: 514 embeddings hold 512 tokens. */
  get maxPositions(): number {
    return this.config.maxPositionEmbeddings - this.config.padTokenId - 1;
  }

  parameterSpecs(head: HeadSpec): ParameterSpec[] {
    return robertaParameterSpecs(this.config, head);
  }

  /** HF RobertaClassificationHead: dropout, dense, tanh, dropout, out_proj. */
  protected head(params: ParameterMap, first: tf.Tensor2D, drop: DropoutSite): tf.Tensor2D {
    return twoLayerHead(params, first, drop, this.config.classifierDropout, tf.tanh, context);
  }

  protected encode(params: ParameterMap, batch: EncodedBatch, drop: DropoutSite): tf.Tensor3D {
    checkEncodedBatch(batch, this.maxPositions, context);
    return bertStyleEncode(params, batch, {
      prefix: 'roberta',
      config: this.config,
      positions: robertaPositions(batch.inputIds, this.config.padTokenId),
      tokenTypeIds: undefined,
      project: false,
      drop,
      context,
    });
  }
}
