import { prefixedCanonicalName } from '../shared/checkpoint-parameters.js';
import { familyLoader, wordPieceFiles } from '../shared/family-loader.js';
import { type ElectraConfig, parseElectraConfig } from './config.js';
import { ElectraBackbone } from './model.js';

/**
 * The ELECTRA (discriminator) loader: config.json, model.safetensors (or shards), tokenizer.json
 * or vocab.txt. Ignores the pre-training heads (`discriminator_predictions.*`, `generator_*`);
 * accepts bare `ElectraModel` keys.
 */
export const electraLoader = familyLoader<ElectraConfig>({
  modelType: 'electra',
  files: wordPieceFiles,
  headOutput: 'classifier.out_proj.bias',
  tokenizer: 'word-piece',
  parseConfig: parseElectraConfig,
  create: (config, encoder) => new ElectraBackbone(config, encoder),
  canonicalName: prefixedCanonicalName(
    'electra',
    ['discriminator_predictions.', 'generator_predictions.', 'generator_lm_head.'],
    ['embeddings', 'embeddings_project', 'encoder'],
  ),
  initializerRange: (config) => config.initializerRange,
  vocabSize: (config) => config.vocabSize,
});
