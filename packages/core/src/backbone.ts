import type * as tf from '@tensorflow/tfjs-core';

/**
 * The backbone specification, version 2. A backbone (BERT, DistilBERT, RoBERTa, ELECTRA, …)
 * implements this interface; diffprune's trainer only talks to backbones through it.
 *
 * Parameters are plain tensors in a map keyed by the checkpoint's own (HuggingFace) names, and
 * `forward` is a pure function of that map, so diff pruning is a parameter substitution
 * (θ = θ0 + z ⊙ w per name), not a change to the model.
 *
 * v2 over v1 (what DistilBERT, RoBERTa and ELECTRA showed is needed): the head is named by the
 * backbone (`headParameterNames`; RoBERTa's is `classifier.dense.*` + `classifier.out_proj.*`), the
 * longest input (`maxPositions`; RoBERTa's is max_position_embeddings − 2), the tokenizer kind, whether
 * token type ids are read (`tokenTypes`; DistilBERT has none, so `EncodedBatch.tokenTypeIds` is
 * optional), the label count the checkpoint was saved with, and (on the loader) the files a model
 * directory needs. v1 backbones still load: `upgradeBackbone` fills the v2 fields from v1 facts.
 */
export const backboneSpecificationVersion = 'v2' as const;

/** Every version a loader may return; `upgradeBackbone` turns older ones into the current one. */
export type BackboneSpecificationVersion = 'v1' | 'v2';

/** The tokenizer families (see @diffprune/tokenizers). */
export type TokenizerKind = 'word-piece' | 'byte-level-bpe';

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

/**
 * One text pair encoded as token ids (unpadded). Encoders always give token type ids (all 0 for
 * families with one type), so batching code stays family-agnostic; backbones with `tokenTypes:
 * false` ignore them.
 */
export interface EncodedText {
  inputIds: number[];
  tokenTypeIds: number[];
}

/** A padded batch: int32 tensors of shape [batch, length]. */
export interface EncodedBatch {
  inputIds: tf.Tensor2D;
  /** Optional: absent means all 0 (as HF); backbones with `tokenTypes: false` never read it. */
  tokenTypeIds?: tf.Tensor2D;
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

/** The part of a backbone v1 already had. */
export interface BackboneV1<Config = unknown> {
  readonly specificationVersion: 'v1' | 'v2';
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

export interface Backbone<Config = unknown> extends BackboneV1<Config> {
  readonly specificationVersion: typeof backboneSpecificationVersion;
  /** The longest batch `forward` accepts, in tokens including special tokens. */
  readonly maxPositions: number;
  /** Whether `forward` reads `batch.tokenTypeIds` (false: DistilBERT, RoBERTa). */
  readonly tokenTypes: boolean;
  /** The tokenizer the family needs. */
  readonly tokenizer: TokenizerKind;
  /** Labels the checkpoint's config declares (`id2label`/`num_labels`), when it declares any. */
  readonly configuredLabels?: number;
  /**
   * The task head's parameter names (trained densely in diff pruning, created when missing): the
   * names of `parameterSpecs(head)` with `head: true`, e.g. BERT `classifier.weight`/`.bias`.
   */
  headParameterNames(head: HeadSpec): string[];
}

/**
 * A v2 backbone from a v1 one (loaded from an older package): the head from `parameterSpecs`,
 * token types read, the WordPiece tokenizer, and `maxPositions` from the config's
 * `maxPositionEmbeddings` (else unbounded). A v2 backbone is returned as is.
 */
export function upgradeBackbone<Config>(backbone: BackboneV1<Config> | Backbone<Config>): Backbone<Config> {
  if (backbone.specificationVersion === backboneSpecificationVersion) return backbone as Backbone<Config>;
  const positions = (backbone.config as { maxPositionEmbeddings?: unknown } | null)?.maxPositionEmbeddings;
  const upgraded = Object.create(backbone) as Backbone<Config> & Record<string, unknown>;
  Object.defineProperties(upgraded, {
    specificationVersion: { value: backboneSpecificationVersion },
    maxPositions: { value: typeof positions === 'number' ? positions : Number.POSITIVE_INFINITY },
    tokenTypes: { value: true },
    tokenizer: { value: 'word-piece' },
    headParameterNames: {
      value: (head: HeadSpec) =>
        backbone
          .parameterSpecs(head)
          .filter((spec) => spec.head)
          .map((spec) => spec.name),
    },
  });
  return upgraded;
}

/** The names of a backbone's head parameters, for v1 and v2 backbones alike. */
export function headParameterNames(backbone: BackboneV1, head: HeadSpec): string[] {
  return upgradeBackbone(backbone).headParameterNames(head);
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
  /**
   * Re-create head parameters whose checkpoint shape differs from `head` (a 3-label checkpoint
   * finetuned on a 2-label task), as HF `ignore_mismatched_sizes=True` does; listed in `created`.
   * Off by default: a mismatched head is then a `CheckpointMismatchError`.
   */
  replaceMismatchedHead?: boolean;
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
  /** A v1 loader returns a v1 backbone here; `loadWith` in the registry upgrades it. */
  backbone: Backbone<Config>;
  /** Every parameter of `backbone.parameterSpecs(head)`, float32. */
  params: ParameterMap;
  source: ModelSource;
  /** Names of the parameters the loader created (head missing from the checkpoint). */
  created: string[];
}

/** The files of an HF model directory a family needs (the weights are always `model.safetensors` or an index + shards). */
export interface ModelFiles {
  /** Every one must exist, e.g. `config.json`. */
  required: readonly string[];
  /** At least one of each group must exist, e.g. [`tokenizer.json`, `vocab.txt`]. */
  oneOf: readonly (readonly string[])[];
  /** Fetched when present. */
  optional: readonly string[];
}

/** Loads one kind of backbone; the registry (@diffprune/backbones) holds these keyed by model_type. */
export interface BackboneLoader<Config = unknown> {
  readonly modelType: string;
  /** v2: the files a model directory (or hub snapshot) needs. v1 loaders: WordPiece BERT's. */
  readonly files?: ModelFiles;
  /**
   * v2: the head parameter whose first dimension is the label count (BERT `classifier.bias`,
   * RoBERTa `classifier.out_proj.bias`), so a diff's or checkpoint's head size can be read before
   * loading. v1 loaders: `classifier.bias`.
   */
  readonly headOutput?: string;
  load(source: string, options: LoadBackboneOptions): Promise<LoadedBackbone<Config>>;
}
