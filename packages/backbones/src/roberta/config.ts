import { type BertConfig, parseBertConfig } from '@diffprune/bert';
import { classifierDropout, configObject } from '../shared/config-fields.js';

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
  const raw = configObject(json, 'roberta', path);
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
  return {
    ...bert,
    modelType: 'roberta',
    classifierDropout: classifierDropout(raw, bert.hiddenDropoutProb, path),
  };
}
