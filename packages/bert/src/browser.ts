// The browser entry (package.json `exports` condition "browser"): the BERT forward, its config,
// parameters and checkpoint decoding. The Node entry (index.ts) adds model directories, the hub
// cache and writing checkpoints.
export type {
  BertParametersResult,
  CheckpointTensor,
  ParametersFromCheckpointOptions,
} from './checkpoint.js';
export {
  bertParametersFromCheckpoint,
  decodeCheckpointTensor,
  parametersFromCheckpoint,
} from './checkpoint.js';
export type { ClassificationConfig } from './classification-backbone.js';
export { ClassificationBackbone, firstToken } from './classification-backbone.js';
export type { BertActivation, BertConfig } from './config.js';
export { bertConfigLimits, bertConfigToJson, bertParameterCount, parseBertConfig } from './config.js';
export type { DropoutSite, EncoderLayerNames, EncoderLayerSettings } from './encoder-layer.js';
export {
  bertLayerNames,
  checkEncodedBatch,
  dropoutSiteSeed,
  dropoutSites,
  encoderLayer,
  requireParameter,
} from './encoder-layer.js';
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
export { sparseRowDelta, sparseRowDeltaComposite, sparseRowLinear } from './sparse-row-delta.js';
export type { PaddedBatch, WordPieceOptions } from './tokenizer.js';
export {
  encodePairs,
  longestFirst,
  padEncoded,
  toEncodedBatch,
  WordPieceTokenizer,
} from './tokenizer.js';
