import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { baseConfig, classifierConfig } from './export-config.js';

const shared = fileURLToPath(new URL('../../../../shared/', import.meta.url));
let base: Record<string, unknown>;
try {
  base = JSON.parse(readFileSync(`${shared}models/bert-tiny-mlm-offline/config.json`, 'utf8'));
} catch {
  base = { architectures: ['BertForMaskedLM'], model_type: 'bert', hidden_size: 128 };
}

describe('classifierConfig', () => {
  it('declares a sequence classifier with the label names, as transformers reads it', () => {
    const config = classifierConfig(base, { numLabels: 3, labels: ['neg', 'neu', 'pos'] });
    expect(config).toMatchObject({
      architectures: ['BertForSequenceClassification'],
      num_labels: 3,
      id2label: { 0: 'neg', 1: 'neu', 2: 'pos' },
      label2id: { neg: 0, neu: 1, pos: 2 },
      problem_type: 'single_label_classification',
      hidden_size: base.hidden_size,
    });
  });

  it('regression (STS-B): one output, problem_type regression, LABEL_0', () => {
    const config = classifierConfig(base, { numLabels: 1 });
    expect(config).toMatchObject({ num_labels: 1, id2label: { 0: 'LABEL_0' }, problem_type: 'regression' });
  });

  it('falls back to LABEL_<i> when the names do not fit the head, and baseConfig undoes it', () => {
    const config = classifierConfig(base, { numLabels: 2, labels: ['only-one'] });
    expect(config.id2label).toEqual({ 0: 'LABEL_0', 1: 'LABEL_1' });
    expect(baseConfig(config)).toEqual(base);
  });
});

describe('classifierConfig by family', () => {
  it.each([
    ['bert', 'BertForMaskedLM', 'BertForSequenceClassification'],
    ['distilbert', undefined, 'DistilBertForSequenceClassification'],
    ['roberta', undefined, 'RobertaForSequenceClassification'],
    ['electra', 'ElectraForPreTraining', 'ElectraForSequenceClassification'],
  ])('%s (base architectures %s) exports %s', (modelType, architecture, expected) => {
    const config = classifierConfig(
      { model_type: modelType, ...(architecture ? { architectures: [architecture] } : {}) },
      { numLabels: 2 },
    );
    expect(config.architectures).toEqual([expected]);
  });
});
