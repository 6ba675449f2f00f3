import { FormatError } from '@diffprune/core';

/** The activation functions of HF BERT configs that this backbone implements. */
export type BertActivation = 'gelu' | 'gelu_new' | 'gelu_pytorch_tanh' | 'relu';

/** A BERT `config.json`, with HF's names translated to camelCase and HF's defaults filled in. */
export interface BertConfig {
  modelType: 'bert';
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  /** `hidden_act`: `gelu` is the exact (erf) GELU, as in HF; `gelu_new` the tanh approximation. */
  hiddenAct: BertActivation;
  hiddenDropoutProb: number;
  attentionProbsDropoutProb: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  initializerRange: number;
  layerNormEps: number;
  padTokenId: number;
  /** `num_labels` (from `num_labels` or `id2label`) when the config names a head. */
  numLabels: number | undefined;
  /** `id2label`, ordered by id, when present. */
  labels: string[] | undefined;
  /** The config.json object as read, for round-tripping unknown fields. */
  raw: Record<string, unknown>;
}

const activations: readonly BertActivation[] = ['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'relu'];

/**
 * Upper bounds on config.json's sizes, checked before anything is allocated (a hostile
 * `num_hidden_layers: 1e7` used to end in a V8 out-of-memory abort). Generous: BERT-large is
 * 1024 / 24 / 16 / 4096 / 512, multilingual vocabularies ~250k.
 */
export const bertConfigLimits = {
  vocab_size: 2 ** 20,
  hidden_size: 16_384,
  num_hidden_layers: 256,
  num_attention_heads: 1024,
  intermediate_size: 65_536,
  max_position_embeddings: 65_536,
  type_vocab_size: 1024,
  num_labels: 100_000,
  /** Parameters of the whole model (float32 elements): 2^31, 8 GiB. */
  parameters: 2 ** 31,
} as const;

/** The backbone's parameter count (embeddings, layers, pooler), from the sizes alone. */
export function bertParameterCount(sizes: {
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
}): number {
  const h = sizes.hiddenSize;
  const embeddings = (sizes.vocabSize + sizes.maxPositionEmbeddings + sizes.typeVocabSize) * h + 2 * h;
  const layer = 4 * (h * h + h) + 2 * (h * sizes.intermediateSize) + sizes.intermediateSize + h + 4 * h;
  return embeddings + sizes.numHiddenLayers * layer + h * h + h;
}

/**
 * Parses and validates a BERT `config.json` object. Every problem names the file and the field.
 * `hidden_act` must be one of the implemented activations; `position_embedding_type` absolute.
 */
export function parseBertConfig(json: unknown, path = 'config.json'): BertConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new FormatError({
      path,
      expected: 'a JSON object',
      found: Array.isArray(json) ? 'an array' : String(json),
    });
  }
  const raw = json as Record<string, unknown>;
  const fail = (what: string, expected: string, found: unknown): never => {
    throw new FormatError({ path, what, expected, found: JSON.stringify(found) ?? String(found) });
  };
  const integer = (key: string, fallback?: number, minimum = 1): number => {
    const value = raw[key] ?? fallback;
    const maximum = (bertConfigLimits as Record<string, number>)[key] ?? Number.MAX_SAFE_INTEGER;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < minimum || value > maximum) {
      fail(
        key,
        maximum === Number.MAX_SAFE_INTEGER
          ? `an integer >= ${minimum}`
          : `an integer in [${minimum}, ${maximum}] (larger is refused before allocating)`,
        value,
      );
    }
    return value as number;
  };
  const probability = (key: string, fallback: number): number => {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'number' || !(value >= 0 && value < 1)) fail(key, 'a number in [0, 1)', value);
    return value as number;
  };
  const positive = (key: string, fallback: number): number => {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
      fail(key, 'a positive number', value);
    }
    return value as number;
  };

  const modelType = raw.model_type ?? 'bert';
  if (modelType !== 'bert') fail('model_type', '"bert"', modelType);
  const hiddenAct = raw.hidden_act ?? 'gelu';
  if (typeof hiddenAct !== 'string' || !(activations as readonly string[]).includes(hiddenAct)) {
    fail('hidden_act', `one of ${activations.join(', ')}`, hiddenAct);
  }
  const positionType = raw.position_embedding_type ?? 'absolute';
  if (positionType !== 'absolute') fail('position_embedding_type', '"absolute"', positionType);

  const hiddenSize = integer('hidden_size', 768);
  const numAttentionHeads = integer('num_attention_heads', 12);
  if (hiddenSize % numAttentionHeads !== 0) {
    fail('num_attention_heads', `a divisor of hidden_size (${hiddenSize})`, numAttentionHeads);
  }

  let labels: string[] | undefined;
  if (raw.id2label !== undefined) {
    const map = raw.id2label;
    if (typeof map !== 'object' || map === null) fail('id2label', 'an object of id → label', map);
    const entries = Object.entries(map as Record<string, unknown>);
    if (entries.length > bertConfigLimits.num_labels)
      fail('id2label', `at most ${bertConfigLimits.num_labels} labels`, `${entries.length} labels`);
    labels = [];
    for (const [id, label] of entries) {
      const index = Number(id);
      if (!Number.isInteger(index) || index < 0 || index >= entries.length || typeof label !== 'string') {
        fail(`id2label.${id}`, `a string label for an id in [0, ${entries.length})`, label);
      }
      labels[index] = label as string;
    }
  }
  const numLabels = raw.num_labels !== undefined ? integer('num_labels') : labels?.length;
  if (labels && numLabels !== labels.length)
    fail('num_labels', `${labels.length} (the size of id2label)`, numLabels);

  const sizes = {
    vocabSize: integer('vocab_size', 30522),
    hiddenSize,
    numHiddenLayers: integer('num_hidden_layers', 12),
    intermediateSize: integer('intermediate_size', 3072),
    maxPositionEmbeddings: integer('max_position_embeddings', 512),
    typeVocabSize: integer('type_vocab_size', 2),
  };
  const parameterCount = bertParameterCount(sizes);
  if (parameterCount > bertConfigLimits.parameters)
    fail(
      'sizes',
      `a model of at most ${bertConfigLimits.parameters} parameters (refused before allocating)`,
      `${parameterCount} parameters from vocab_size, hidden_size, num_hidden_layers and intermediate_size`,
    );
  const padTokenId = integer('pad_token_id', 0, 0);
  if (padTokenId >= sizes.vocabSize)
    fail('pad_token_id', `an id below vocab_size (${sizes.vocabSize})`, padTokenId);

  return {
    modelType: 'bert',
    vocabSize: sizes.vocabSize,
    hiddenSize,
    numHiddenLayers: sizes.numHiddenLayers,
    numAttentionHeads,
    intermediateSize: sizes.intermediateSize,
    hiddenAct: hiddenAct as BertActivation,
    hiddenDropoutProb: probability('hidden_dropout_prob', 0.1),
    attentionProbsDropoutProb: probability('attention_probs_dropout_prob', 0.1),
    maxPositionEmbeddings: sizes.maxPositionEmbeddings,
    typeVocabSize: sizes.typeVocabSize,
    initializerRange: positive('initializer_range', 0.02),
    layerNormEps: positive('layer_norm_eps', 1e-12),
    padTokenId,
    numLabels,
    labels,
    raw,
  };
}

/** The config.json object for a config (HF names), with `num_labels`/`id2label` set when given. */
export function bertConfigToJson(config: BertConfig, head?: { numLabels: number }): Record<string, unknown> {
  const json: Record<string, unknown> = {
    ...config.raw,
    model_type: 'bert',
    vocab_size: config.vocabSize,
    hidden_size: config.hiddenSize,
    num_hidden_layers: config.numHiddenLayers,
    num_attention_heads: config.numAttentionHeads,
    intermediate_size: config.intermediateSize,
    hidden_act: config.hiddenAct,
    hidden_dropout_prob: config.hiddenDropoutProb,
    attention_probs_dropout_prob: config.attentionProbsDropoutProb,
    max_position_embeddings: config.maxPositionEmbeddings,
    type_vocab_size: config.typeVocabSize,
    initializer_range: config.initializerRange,
    layer_norm_eps: config.layerNormEps,
    pad_token_id: config.padTokenId,
    position_embedding_type: 'absolute',
  };
  const numLabels = head?.numLabels ?? config.numLabels;
  if (numLabels !== undefined) {
    json.architectures = ['BertForSequenceClassification'];
    json.num_labels = numLabels;
    const labels =
      config.labels?.length === numLabels
        ? config.labels
        : Array.from({ length: numLabels }, (_, i) => `LABEL_${i}`);
    json.id2label = Object.fromEntries(labels.map((label, i) => [String(i), label]));
    json.label2id = Object.fromEntries(labels.map((label, i) => [label, i]));
  }
  return json;
}
