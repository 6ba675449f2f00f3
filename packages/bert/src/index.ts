export type { BertParametersResult, CheckpointTensor } from './checkpoint.js';
export {
  bertParametersFromCheckpoint,
  checkpointFiles,
  readBertConfig,
  readCheckpointTensors,
  readShardIndex,
} from './checkpoint.js';
export type { ClassificationConfig } from './classification-backbone.js';
export { ClassificationBackbone, firstToken } from './classification-backbone.js';
export type { BertActivation, BertConfig } from './config.js';
export { bertConfigLimits, bertConfigToJson, bertParameterCount, parseBertConfig } from './config.js';
export type { DropoutSite, EncoderLayerNames, EncoderLayerSettings } from './encoder-layer.js';
export {
  bertLayerNames,
  checkEncodedBatch,
  dropoutSites,
  encoderLayer,
  requireParameter,
} from './encoder-layer.js';
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
export { BertBackbone } from './model.js';
export {
  activation,
  additiveAttentionMask,
  dropout,
  embedding,
  firstRow,
  gelu,
  geluTanh,
  layerNorm,
  linear,
  maskedScore,
  multiHeadAttention,
} from './ops.js';
export { bertParameterSpecs, canonicalParameterName, classifierParameterNames } from './parameters.js';
export type { RowParameter, SlotDelta } from './row-parameters.js';
export { rowParameter, rowParameterRead } from './row-parameters.js';
export type { RowDeltaPairs } from './sparse-row-delta.js';
export { sparseRowDelta, sparseRowDeltaComposite } from './sparse-row-delta.js';
export type { PaddedBatch, WordPieceOptions } from './tokenizer.js';
export {
  encodePairs,
  longestFirst,
  padEncoded,
  readTokenizerOptions,
  toEncodedBatch,
  WordPieceTokenizer,
} from './tokenizer.js';
export type { Float32Tensor, WriteBertCheckpointOptions } from './write.js';
export { arraysToParameters, parametersToArrays, tokenizerFileNames, writeBertCheckpoint } from './write.js';
