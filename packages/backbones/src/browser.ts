// The browser entry (package.json `exports` condition "browser"): each family's config, parameters
// and forward. The Node entry (index.ts) adds the loaders (model directories, the hub) and the
// registry keyed by config.json `model_type`.

// The generic checkpoint-to-parameters step lives in @diffprune/bert (BERT uses it too); re-exported.
export type { CheckpointTensor, ParametersFromCheckpointOptions } from '@diffprune/bert';
export { parametersFromCheckpoint } from '@diffprune/bert';
export type { DistilbertConfig } from './distilbert/config.js';
export { parseDistilbertConfig } from './distilbert/config.js';
export { DistilbertBackbone, distilbertParameterSpecs } from './distilbert/model.js';
export type { ElectraConfig } from './electra/config.js';
export { parseElectraConfig } from './electra/config.js';
export { ElectraBackbone, electraParameterSpecs } from './electra/model.js';
export type { RobertaConfig } from './roberta/config.js';
export { parseRobertaConfig } from './roberta/config.js';
export { RobertaBackbone, robertaParameterSpecs, robertaPositions } from './roberta/model.js';
export { prefixedCanonicalName } from './shared/checkpoint-parameters.js';
