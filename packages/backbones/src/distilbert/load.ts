import { prefixedCanonicalName } from '../shared/checkpoint-parameters.js';
import { familyLoader, wordPieceFiles } from '../shared/family-loader.js';
import { type DistilbertConfig, parseDistilbertConfig } from './config.js';
import { DistilbertBackbone } from './model.js';

/**
 * The DistilBERT loader: config.json, model.safetensors (or shards), tokenizer.json or vocab.txt.
 * Ignores the MLM head (`vocab_transform`, `vocab_layer_norm`, `vocab_projector`); accepts bare
 * `DistilBertModel` keys.
 */
export const distilbertLoader = familyLoader<DistilbertConfig>({
  modelType: 'distilbert',
  files: wordPieceFiles,
  headOutput: 'classifier.bias',
  tokenizer: 'word-piece',
  parseConfig: parseDistilbertConfig,
  create: (config, encoder) => new DistilbertBackbone(config, encoder),
  canonicalName: prefixedCanonicalName(
    'distilbert',
    ['vocab_transform.', 'vocab_layer_norm.', 'vocab_projector.'],
    ['embeddings', 'transformer'],
  ),
  initializerRange: (config) => config.initializerRange,
  vocabSize: (config) => config.vocabSize,
});
