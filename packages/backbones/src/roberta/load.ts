import { prefixedCanonicalName } from '../shared/checkpoint-parameters.js';
import { byteLevelBpeFiles, familyLoader } from '../shared/family-loader.js';
import { parseRobertaConfig, type RobertaConfig } from './config.js';
import { RobertaBackbone } from './model.js';

/**
 * The RoBERTa loader: config.json, model.safetensors (or shards) and the byte-level BPE
 * tokenizer.json. Ignores the MLM head (`lm_head.*`) and a base model's pooler; accepts bare
 * `RobertaModel` keys.
 */
export const robertaLoader = familyLoader<RobertaConfig>({
  modelType: 'roberta',
  files: byteLevelBpeFiles,
  headOutput: 'classifier.out_proj.bias',
  tokenizer: 'byte-level-bpe',
  parseConfig: parseRobertaConfig,
  create: (config, encoder) => new RobertaBackbone(config, encoder),
  canonicalName: prefixedCanonicalName(
    'roberta',
    ['lm_head.', 'roberta.pooler.', 'pooler.'],
    ['embeddings', 'encoder'],
  ),
  initializerRange: (config) => config.initializerRange,
  vocabSize: (config) => config.vocabSize,
});
