import { checkEncodedBatch, dropoutSites, linear, requireParameter } from '@diffprune/bert';
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
import { bertStyleEncode, firstToken } from '../shared/bert-style-encoder.js';
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
export class RobertaBackbone implements Backbone<RobertaConfig> {
  readonly specificationVersion = backboneSpecificationVersion;
  readonly modelType = 'roberta';
  readonly tokenEmbedding = 'roberta.embeddings.word_embeddings.weight';
  /** RoBERTa has one token type; batches' token types are ignored (type 0). */
  readonly tokenTypes = false;
  readonly tokenizer = 'byte-level-bpe' as const;
  readonly config: RobertaConfig;
  readonly encoder: TextPairEncoder;

  constructor(config: RobertaConfig, encoder: TextPairEncoder) {
    this.config = config;
    this.encoder = encoder;
  }

  get hiddenSize(): number {
    return this.config.hiddenSize;
  }

  /** Positions start after padding_idx: 514 embeddings hold 512 tokens. */
  get maxPositions(): number {
    return this.config.maxPositionEmbeddings - this.config.padTokenId - 1;
  }

  get configuredLabels(): number | undefined {
    return this.config.numLabels;
  }

  parameterSpecs(head: HeadSpec): ParameterSpec[] {
    return robertaParameterSpecs(this.config, head);
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

  /** The last layer's output [batch, length, hidden]. */
  sequenceOutput(params: ParameterMap, batch: EncodedBatch, options: ForwardOptions): tf.Tensor3D {
    return tf.tidy(() => this.encode(params, batch, options, dropoutSites(options)));
  }

  /** The <s> token's hidden state (RoBERTa has no pooler). */
  forward(params: ParameterMap, batch: EncodedBatch, options: ForwardOptions): tf.Tensor2D {
    return tf.tidy(() => firstToken(this.encode(params, batch, options, dropoutSites(options))));
  }

  classify(params: ParameterMap, batch: EncodedBatch, options: ForwardOptions): tf.Tensor2D {
    return tf.tidy(() => {
      const drop = dropoutSites(options);
      const p = (name: string) => requireParameter(params, name, context);
      const first = firstToken(this.encode(params, batch, options, drop));
      const rate = this.config.classifierDropout;
      const hidden = tf.tanh(
        linear(
          drop(first, rate, 'classifier.dense'),
          p('classifier.dense.weight'),
          p('classifier.dense.bias'),
        ),
      );
      return linear(
        drop(hidden, rate, 'classifier.out_proj'),
        p('classifier.out_proj.weight'),
        p('classifier.out_proj.bias'),
      ) as tf.Tensor2D;
    });
  }

  private encode(
    params: ParameterMap,
    batch: EncodedBatch,
    _options: ForwardOptions,
    drop: ReturnType<typeof dropoutSites>,
  ): tf.Tensor3D {
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
