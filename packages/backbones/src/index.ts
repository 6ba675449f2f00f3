// The Node entry: the browser entry plus the loaders (model directories, the hub) and the registry.
export * from './browser.js';
export { distilbertLoader } from './distilbert/load.js';
export { electraLoader } from './electra/load.js';
export { backboneLoaders, headSizeOf, loadBackbone, readModelType } from './registry.js';
export { robertaLoader } from './roberta/load.js';
export type { FamilyDefinition } from './shared/family-loader.js';
export { byteLevelBpeFiles, familyLoader, readConfigJson, wordPieceFiles } from './shared/family-loader.js';
