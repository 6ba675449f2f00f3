// The generic checkpoint-to-parameters step lives in @diffprune/bert (BERT uses it too); re-exported.
export type { CheckpointTensor, ParametersFromCheckpointOptions } from '@diffprune/bert';
export { parametersFromCheckpoint } from '@diffprune/bert';
export type { DistilbertConfig } from './distilbert/config.js';
export { parseDistilbertConfig } from './distilbert/config.js';
export { distilbertLoader } from './distilbert/load.js';
export { DistilbertBackbone, distilbertParameterSpecs } from './distilbert/model.js';
export type { ElectraConfig } from './electra/config.js';
export { parseElectraConfig } from './electra/config.js';
export { electraLoader } from './electra/load.js';
export { ElectraBackbone, electraParameterSpecs } from './electra/model.js';
export { backboneLoaders, headSizeOf, loadBackbone, readModelType } from './registry.js';
export type { RobertaConfig } from './roberta/config.js';
export { parseRobertaConfig } from './roberta/config.js';
export { robertaLoader } from './roberta/load.js';
export { RobertaBackbone, robertaParameterSpecs, robertaPositions } from './roberta/model.js';
export { prefixedCanonicalName } from './shared/checkpoint-parameters.js';
export type { FamilyDefinition } from './shared/family-loader.js';
export { byteLevelBpeFiles, familyLoader, readConfigJson, wordPieceFiles } from './shared/family-loader.js';
