import { type BertConfig, parseBertConfig } from '@diffprune/bert';
import { FormatError } from '@diffprune/core';

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
  const raw = (typeof json === 'object' && json !== null && !Array.isArray(json) ? json : {}) as Record<
    string,
    unknown
  >;
  if (raw.model_type !== 'electra') {
    throw new FormatError({
      path,
      what: 'model_type',
      expected: '"electra"',
      found: JSON.stringify(raw.model_type) ?? String(json),
    });
  }
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
    modelType: 'electra',
    embeddingSize,
    classifierDropout: (dropout as number | null | undefined) ?? bert.hiddenDropoutProb,
  };
}
