import { activation, checkEncodedBatch, dropoutSites, linear, requireParameter } from '@diffprune/bert';
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
import type { ElectraConfig } from './config.js';

const context = 'ElectraBackbone';

/** ELECTRA's parameters under HF `ElectraForSequenceClassification` names. */
export function electraParameterSpecs(config: ElectraConfig, head: HeadSpec): ParameterSpec[] {
  const h = config.hiddenSize;
  const e = config.embeddingSize;
  const list = specList();
  list.add('electra.embeddings.word_embeddings.weight', [config.vocabSize, e], 'embedding', 'embeddings');
  list.add(
    'electra.embeddings.position_embeddings.weight',
    [config.maxPositionEmbeddings, e],
    'embedding',
    'embeddings',
  );
  list.add(
    'electra.embeddings.token_type_embeddings.weight',
    [config.typeVocabSize, e],
    'embedding',
    'embeddings',
  );
  list.norm('electra.embeddings.LayerNorm', e, 'embeddings');
  if (e !== h) list.dense('electra.embeddings_project', h, e, 'embeddings');
  addBertStyleLayers(list, 'electra.encoder.layer', config.numHiddenLayers, h, config.intermediateSize);
  list.dense('classifier.dense', h, h, 'head');
  list.dense('classifier.out_proj', head.numLabels, h, 'head');
  return list.specs;
}

/**
 * The ELECTRA discriminator backbone (HF `modeling_electra`): BERT's embeddings at `embedding_size`,
 * a projection to the hidden size when they differ, BERT's encoder, and the head
 * `classifier.dense` → GELU → `classifier.out_proj` over [CLS] (no pooler).
 */
export class ElectraBackbone implements Backbone<ElectraConfig> {
  readonly specificationVersion = backboneSpecificationVersion;
  readonly modelType = 'electra';
  readonly tokenEmbedding = 'electra.embeddings.word_embeddings.weight';
  readonly tokenTypes = true;
  readonly tokenizer = 'word-piece' as const;
  readonly config: ElectraConfig;
  readonly encoder: TextPairEncoder;

  constructor(config: ElectraConfig, encoder: TextPairEncoder) {
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
    return electraParameterSpecs(this.config, head);
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

  /** The [CLS] token's hidden state (ELECTRA has no pooler). */
  forward(params: ParameterMap, batch: EncodedBatch, options: ForwardOptions): tf.Tensor2D {
    return tf.tidy(() => firstToken(this.encode(params, batch, dropoutSites(options))));
  }

  classify(params: ParameterMap, batch: EncodedBatch, options: ForwardOptions): tf.Tensor2D {
    return tf.tidy(() => {
      const drop = dropoutSites(options);
      const p = (name: string) => requireParameter(params, name, context);
      const first = firstToken(this.encode(params, batch, drop));
      const rate = this.config.classifierDropout;
      // HF ElectraClassificationHead: get_activation("gelu"), the exact (erf) GELU.
      const hidden = activation(
        'gelu',
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
    drop: ReturnType<typeof dropoutSites>,
  ): tf.Tensor3D {
    checkEncodedBatch(batch, this.maxPositions, context);
    return bertStyleEncode(params, batch, {
      prefix: 'electra',
      config: this.config,
      positions: tf.range(0, batch.inputIds.shape[1], 1, 'int32'),
      tokenTypeIds: batch.tokenTypeIds,
      project: this.config.embeddingSize !== this.config.hiddenSize,
      drop,
      context,
    });
  }
}
