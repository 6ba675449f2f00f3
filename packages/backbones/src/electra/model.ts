import { activation, ClassificationBackbone, checkEncodedBatch, type DropoutSite } from '@diffprune/bert';
import type { EncodedBatch, HeadSpec, ParameterMap, ParameterSpec } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { bertStyleEncode, twoLayerHead } from '../shared/bert-style-encoder.js';
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
export class ElectraBackbone extends ClassificationBackbone<ElectraConfig> {
  readonly modelType = 'electra';
  readonly tokenEmbedding = 'electra.embeddings.word_embeddings.weight';
  readonly tokenTypes = true;
  readonly tokenizer = 'word-piece' as const;

  get maxPositions(): number {
    return this.config.maxPositionEmbeddings;
  }

  parameterSpecs(head: HeadSpec): ParameterSpec[] {
    return electraParameterSpecs(this.config, head);
  }

  /** HF ElectraClassificationHead: dropout, dense, get_activation("gelu") (exact erf GELU), dropout, out_proj. */
  protected head(params: ParameterMap, first: tf.Tensor2D, drop: DropoutSite): tf.Tensor2D {
    return twoLayerHead(
      params,
      first,
      drop,
      this.config.classifierDropout,
      (x) => activation('gelu', x),
      context,
    );
  }

  protected encode(params: ParameterMap, batch: EncodedBatch, drop: DropoutSite): tf.Tensor3D {
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
