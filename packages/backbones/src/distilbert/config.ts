import { type BertConfig, parseBertConfig } from '@diffprune/bert';
import { FormatError } from '@diffprune/core';
import { configObject } from '../shared/config-fields.js';

/**
 * A DistilBERT `config.json` in BERT's terms (dim → hiddenSize, n_layers → numHiddenLayers,
 * n_heads → numAttentionHeads, hidden_dim → intermediateSize, activation → hiddenAct, dropout,
 * attention_dropout), plus `seq_classif_dropout`. LayerNorm eps is 1e-12 (fixed in HF's code).
 */
export interface DistilbertConfig extends Omit<BertConfig, 'modelType' | 'typeVocabSize'> {
  modelType: 'distilbert';
  seqClassifDropout: number;
  sinusoidalPositionEmbeddings: boolean;
}

const renamed: Record<string, string> = {
  dim: 'hidden_size',
  n_layers: 'num_hidden_layers',
  n_heads: 'num_attention_heads',
  hidden_dim: 'intermediate_size',
  activation: 'hidden_act',
  dropout: 'hidden_dropout_prob',
  attention_dropout: 'attention_probs_dropout_prob',
};

/** Parses a DistilBERT config.json; errors name DistilBERT's own fields. */
export function parseDistilbertConfig(json: unknown, path = 'config.json'): DistilbertConfig {
  const raw = configObject(json, 'distilbert', path);
  const bertFields: Record<string, unknown> = {
    vocab_size: 30522,
    max_position_embeddings: 512,
    hidden_size: 768,
    num_hidden_layers: 6,
    num_attention_heads: 12,
    intermediate_size: 3072,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0.1,
    attention_probs_dropout_prob: 0.1,
  };
  for (const [key, value] of Object.entries(raw)) bertFields[renamed[key] ?? key] = value;
  let bert: BertConfig;
  try {
    bert = parseBertConfig(
      { ...bertFields, model_type: 'bert', type_vocab_size: 1, layer_norm_eps: 1e-12 },
      path,
    );
  } catch (error) {
    // Name DistilBERT's field, not BERT's.
    if (FormatError.isInstance(error)) {
      const failed = error as FormatError;
      const what = /: ([\w.]+): expected/.exec(failed.message)?.[1];
      const original = Object.entries(renamed).find(([, bertName]) => bertName === what)?.[0];
      if (original) {
        throw new FormatError({ path, what: original, expected: failed.expected, found: failed.found });
      }
    }
    throw error;
  }
  const dropout = raw.seq_classif_dropout ?? 0.2;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) {
    throw new FormatError({
      path,
      what: 'seq_classif_dropout',
      expected: 'a number in [0, 1)',
      found: JSON.stringify(dropout),
    });
  }
  const { typeVocabSize: _, ...rest } = bert;
  return {
    ...rest,
    modelType: 'distilbert',
    seqClassifDropout: dropout,
    sinusoidalPositionEmbeddings: raw.sinusoidal_pos_embds === true,
  };
}
