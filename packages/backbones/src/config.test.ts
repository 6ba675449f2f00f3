import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FormatError } from '@diffprune/core';
import { describe, expect, it } from 'vitest';
import { parseDistilbertConfig } from './distilbert/config.js';
import { parseElectraConfig } from './electra/config.js';
import { parseRobertaConfig } from './roberta/config.js';

const fixtures = fileURLToPath(new URL('../../../fixtures/', import.meta.url));
const config = (family: string) =>
  JSON.parse(readFileSync(`${fixtures}models/${family}/config.json`, 'utf8')) as Record<string, unknown>;

describe('family configs', () => {
  it('read the fixture configs as HF wrote them', () => {
    const roberta = parseRobertaConfig(config('roberta'));
    expect([
      roberta.padTokenId,
      roberta.maxPositionEmbeddings,
      roberta.typeVocabSize,
      roberta.numLabels,
    ]).toEqual([1, 66, 1, 3]);
    expect(roberta.classifierDropout).toBe(roberta.hiddenDropoutProb);
    const electra = parseElectraConfig(config('electra'));
    expect([electra.embeddingSize, electra.hiddenSize]).toEqual([16, 32]);
    const distilbert = parseDistilbertConfig(config('distilbert'));
    expect([distilbert.hiddenSize, distilbert.numHiddenLayers, distilbert.intermediateSize]).toEqual([
      32, 2, 64,
    ]);
    expect(distilbert.seqClassifDropout).toBe(0.2);
  });

  it('fill HF defaults: RoBERTa pads with 1 over 514 positions, LayerNorm eps 1e-5', () => {
    const roberta = parseRobertaConfig({ model_type: 'roberta' });
    expect([
      roberta.padTokenId,
      roberta.maxPositionEmbeddings,
      roberta.layerNormEps,
      roberta.vocabSize,
    ]).toEqual([1, 514, 1e-5, 50265]);
  });

  it('refuse another model_type, naming the field and both values', () => {
    expect(() => parseRobertaConfig(config('bert'), 'x/config.json')).toThrow(
      /x\/config\.json: model_type: expected "roberta"; found "bert"/,
    );
    expect(() => parseElectraConfig([])).toThrow(FormatError);
  });

  it('name DistilBERT’s own fields in errors, not BERT’s', () => {
    expect(() => parseDistilbertConfig({ ...config('distilbert'), n_heads: 5 })).toThrow(
      /n_heads: expected a divisor/,
    );
    expect(() => parseDistilbertConfig({ ...config('distilbert'), dim: -1 })).toThrow(
      /dim: expected an integer/,
    );
  });

  it('refuse a classifier dropout outside [0, 1)', () => {
    expect(() => parseRobertaConfig({ ...config('roberta'), classifier_dropout: 1.5 })).toThrow(
      /classifier_dropout/,
    );
    expect(parseElectraConfig({ ...config('electra'), classifier_dropout: 0.3 }).classifierDropout).toBe(0.3);
  });
});
