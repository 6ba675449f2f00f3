import {
  type Backbone,
  backboneSpecificationVersion,
  type EncodedBatch,
  type ForwardOptions,
  type HeadSpec,
  type ParameterMap,
  type ParameterSpec,
  type TextPairEncoder,
  type TokenizerKind,
} from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { type DropoutSite, dropoutSites } from './encoder-layer.js';

/** The config fields every sequence-classification backbone has. */
export interface ClassificationConfig {
  hiddenSize: number;
  numLabels: number | undefined;
}

/**
 * What BERT, DistilBERT, RoBERTa and ELECTRA share as `Backbone`s: an encoder (`encode`), a pooled
 * representation (`pool`: the first token unless overridden, e.g. BERT's tanh pooler) and a head
 * (`head`). The public methods are pure functions of `params`, each in one `tf.tidy`, with the
 * dropout sites of `dropoutSites(options)`. The head is the specs with `head: true`; every other
 * parameter is gated.
 */
export abstract class ClassificationBackbone<Config extends ClassificationConfig>
  implements Backbone<Config>
{
  readonly specificationVersion = backboneSpecificationVersion;
  abstract readonly modelType: string;
  abstract readonly tokenTypes: boolean;
  abstract readonly tokenizer: TokenizerKind;
  abstract readonly maxPositions: number;
  readonly config: Config;
  readonly encoder: TextPairEncoder;

  constructor(config: Config, encoder: TextPairEncoder) {
    this.config = config;
    this.encoder = encoder;
  }

  get hiddenSize(): number {
    return this.config.hiddenSize;
  }

  get configuredLabels(): number | undefined {
    return this.config.numLabels;
  }

  abstract parameterSpecs(head: HeadSpec): ParameterSpec[];

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
      return this.head(params, this.pool(params, this.encode(params, batch, drop)), drop);
    });
  }

  protected abstract encode(params: ParameterMap, batch: EncodedBatch, drop: DropoutSite): tf.Tensor3D;

  /** The representation the head reads: by default the first token's hidden state. */
  protected pool(_params: ParameterMap, sequence: tf.Tensor3D): tf.Tensor2D {
    return firstToken(sequence);
  }

  /** Logits [batch, numLabels] from the pooled representation. */
  protected abstract head(params: ParameterMap, pooled: tf.Tensor2D, drop: DropoutSite): tf.Tensor2D;
}

/** The first token's hidden state [batch, hidden] ([CLS] / <s>). */
export function firstToken(sequence: tf.Tensor3D): tf.Tensor2D {
  const [batch, , hidden] = sequence.shape;
  return tf.reshape(tf.slice(sequence, [0, 0, 0], [batch, 1, hidden]), [batch, hidden]);
}
