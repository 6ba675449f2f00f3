// The Node entry: the browser entry plus model directories, the hub cache, writing checkpoints.

export { readTokenizerOptions } from '@diffprune/tokenizers';
export * from './browser.js';
export {
  checkpointFiles,
  readBertConfig,
  readCheckpointTensors,
  readShardIndex,
} from './checkpoint-files.js';
export type { HubOptions } from './hub.js';
export {
  bertModelFiles,
  checkRevision,
  defaultHubEndpoint,
  hubModelCacheDirectory,
  isHubId,
  resolveHubModel,
} from './hub.js';
export { bertLoader, isLocalModel, loadBert, loadBertTokenizer, resolveModelSource } from './load.js';
export type { Float32Tensor, WriteBertCheckpointOptions } from './write.js';
export { arraysToParameters, parametersToArrays, tokenizerFileNames, writeBertCheckpoint } from './write.js';
