import { type BertConfig, parseBertConfig } from '@diffprune/bert';
import { FormatError } from '@diffprune/core';

/** A RoBERTa `config.json`: BERT's fields (RoBERTa's defaults), plus the classifier dropout. */
export interface RobertaConfig extends Omit<BertConfig, 'modelType'> {
  modelType: 'roberta';
  /** `classifier_dropout`, else `hidden_dropout_prob` (as HF's classification head). */
  classifierDropout: number;
}

/**
 * Parses a RoBERTa config.json. The fields are BERT's (validated by `parseBertConfig`) with
 * RoBERTa's defaults: pad 1, 514 positions, one token type, LayerNorm eps 1e-5.
 */
export function parseRobertaConfig(json: unknown, path = 'config.json'): RobertaConfig {
  const raw = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  if (typeof json !== 'object' || json === null || Array.isArray(json) || raw.model_type !== 'roberta') {
    throw new FormatError({
      path,
      what: 'model_type',
      expected: '"roberta"',
      found: JSON.stringify(raw.model_type) ?? String(json),
    });
  }
  const bert = parseBertConfig(
    {
      vocab_size: 50265,
      max_position_embeddings: 514,
      type_vocab_size: 1,
      layer_norm_eps: 1e-5,
      pad_token_id: 1,
      ...raw,
      model_type: 'bert',
    },
    path,
  );
  const dropout = raw.classifier_dropout;
  if (
    dropout !== undefined &&
    dropout !== null &&
    (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1))
  ) {
    throw new FormatError({
      path,
      what: 'classifier_dropout',
      expected: 'null or a number in [0, 1)',
      found: JSON.stringify(dropout),
    });
  }
  return {
    ...bert,
    modelType: 'roberta',
    classifierDropout: (dropout as number | null | undefined) ?? bert.hiddenDropoutProb,
  };
}
