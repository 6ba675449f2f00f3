import { type BertConfig, parseBertConfig } from '@diffprune/bert';
import { FormatError } from '@diffprune/core';
import { classifierDropout, configObject } from '../shared/config-fields.js';

/** An ELECTRA `config.json`: BERT's fields, the embedding size, and the classifier dropout. */
export interface ElectraConfig extends Omit<BertConfig, 'modelType'> {
  modelType: 'electra';
  /** `embedding_size`; when it differs from hidden_size, `electra.embeddings_project` maps between them. */
  embeddingSize: number;
  /** `classifier_dropout`, else `hidden_dropout_prob` (as HF's classification head). */
  classifierDropout: number;
}

/** Parses an ELECTRA config.json (HF `ElectraConfig` defaults: the small discriminator's). */
export function parseElectraConfig(json: unknown, path = 'config.json'): ElectraConfig {
  const raw = configObject(json, 'electra', path);
  const bert = parseBertConfig(
    { hidden_size: 256, num_attention_heads: 4, intermediate_size: 1024, ...raw, model_type: 'bert' },
    path,
  );
  const embeddingSize = raw.embedding_size ?? 128;
  if (typeof embeddingSize !== 'number' || !Number.isInteger(embeddingSize) || embeddingSize < 1) {
    throw new FormatError({
      path,
      what: 'embedding_size',
      expected: 'an integer >= 1',
      found: JSON.stringify(embeddingSize),
    });
  }
  return {
    ...bert,
    modelType: 'electra',
    embeddingSize,
    classifierDropout: classifierDropout(raw, bert.hiddenDropoutProb, path),
  };
}
