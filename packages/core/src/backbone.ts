import type * as tf from '@tensorflow/tfjs-core';

/**
 * The backbone specification, version 1. A backbone (BERT today; RoBERTa, DistilBERT, … later)
 * implements this interface; diffprune's trainer only talks to backbones through it.
 *
 * Parameters are plain tensors in a map keyed by the checkpoint's own (HuggingFace) names, and
 * `forward` is a pure function of that map, so diff pruning is a parameter substitution
 * (θ = θ0 + z ⊙ w per name), not a change to the model.
 */
export const backboneSpecificationVersion = 'v1' as const;

/** Parameters keyed by their checkpoint names, e.g. `bert.encoder.layer.0.attention.self.query.weight`. */
export type ParameterMap = Record<string, tf.Tensor>;

/** What a parameter is, for grouping, reports and method defaults (BitFit = biases, ...). */
export type ParameterKind = 'embedding' | 'weight' | 'bias' | 'norm-weight' | 'norm-bias';

export interface ParameterSpec {
  /** The checkpoint name, verbatim. */
  name: string;
  shape: readonly number[];
  kind: ParameterKind;
  /**
   * Which block it belongs to, for per-layer reports: `embeddings`, `layer.0` … `layer.{L-1}`,
   * `pooler` or `head`.
   */
  block: string;
  /** True for task-head parameters (trained densely in diff pruning, created when missing). */
  head: boolean;
}

/** One text pair encoded as token ids (unpadded). */
export interface EncodedText {
  inputIds: number[];
  tokenTypeIds: number[];
}

/** A padded batch: int32 tensors of shape [batch, length]. */
export interface EncodedBatch {
  inputIds: tf.Tensor2D;
  tokenTypeIds: tf.Tensor2D;
  attentionMask: tf.Tensor2D;
}

export interface TextPairEncoder {
  /** Encodes one example, truncating to `maxLength` tokens including special tokens. */
  encode(textA: string, textB: string | null, options: { maxLength: number }): EncodedText;
  /** The id used for padding. */
  readonly padId: number;
}

export interface ForwardOptions {
  /** Dropout is applied only when training. */
  training: boolean;
  /** Seed for dropout masks; the same seed gives the same masks. */
  seed?: number;
}

export interface HeadSpec {
  /** Number of outputs: labels for classification, 1 for regression. */
  numLabels: number;
}

export interface Backbone<Config = unknown> {
  readonly specificationVersion: typeof backboneSpecificationVersion;
  /** The HF `config.json` `model_type`, e.g. `bert`. */
  readonly modelType: string;
  readonly config: Config;
  readonly hiddenSize: number;
  readonly encoder: TextPairEncoder;
  /**
   * Optional: the parameter whose rows `forward` looks up by `batch.inputIds`, and uses in no other
   * way (e.g. `bert.embeddings.word_embeddings.weight`). A trainer may then substitute only the rows a
   * batch uses, [k, hidden], with the batch's ids remapped to 0…k−1: the outputs are the same.
   */
  readonly tokenEmbedding?: string;
  /** Every parameter, encoder and head, keyed by checkpoint name. */
  parameterSpecs(head: HeadSpec): ParameterSpec[];
  /** The pooled representation [batch, hiddenSize]. Pure: reads only `params` and `batch`. */
  forward(params: ParameterMap, batch: EncodedBatch, options: ForwardOptions): tf.Tensor2D;
  /** Logits [batch, numLabels] (regression: numLabels = 1), head included. */
  classify(params: ParameterMap, batch: EncodedBatch, options: ForwardOptions): tf.Tensor2D;
  /**
   * The parameters diff pruning gates by default: every encoder parameter (embeddings, LayerNorm,
   * biases, pooler), never the head (trained densely, as in the paper).
   */
  gatedParameterNames(head: HeadSpec): string[];
}

/** Sums the element counts of a list of specs. */
export function countParameters(specs: readonly Pick<ParameterSpec, 'shape'>[]): number {
  let total = 0;
  for (const spec of specs) total += spec.shape.reduce((a, b) => a * b, 1);
  return total;
}

/** Disposes every tensor of a parameter map. */
export function disposeParameters(params: ParameterMap): void {
  for (const tensor of Object.values(params)) tensor.dispose();
}

export interface LoadBackboneOptions {
  /** Head to attach: created (seeded, N(0, initializer_range)) when the checkpoint has none. */
  head: HeadSpec;
  /** Seed for any parameters the loader creates. */
  seed?: number;
  /** Hub revision (branch, tag or commit); default `main`. */
  revision?: string;
  /** Where hub downloads are cached; default the user's cache directory. */
  cacheDirectory?: string;
  /** Never touch the network; a missing file is an error naming it and how to fetch it. */
  offline?: boolean;
  /** Hub endpoint, default https://huggingface.co (tests point it at a local server). */
  endpoint?: string;
  onEvent?: import('./events.js').EventListener;
}

/** Where a loaded model came from: recorded in every diff as its provenance. */
export interface ModelSource {
  /** Hub id or the directory as given. */
  id: string;
  /** Resolved hub commit, or `local`. */
  revision: string;
  /** Local directory holding config.json, model.safetensors and vocab files. */
  directory: string;
}

export interface LoadedBackbone<Config = unknown> {
  backbone: Backbone<Config>;
  /** Every parameter of `backbone.parameterSpecs(head)`, float32. */
  params: ParameterMap;
  source: ModelSource;
  /** Names of the parameters the loader created (head missing from the checkpoint). */
  created: string[];
}

/** Loads one kind of backbone; the trainer keeps an explicit registry of these keyed by model_type. */
export interface BackboneLoader<Config = unknown> {
  readonly modelType: string;
  load(source: string, options: LoadBackboneOptions): Promise<LoadedBackbone<Config>>;
}
