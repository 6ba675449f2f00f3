export { temporaryPathFor, writeDirectoryAtomic, writeFileAtomic } from './atomic.js';
export type {
  Backbone,
  BackboneLoader,
  EncodedBatch,
  EncodedText,
  ForwardOptions,
  HeadSpec,
  LoadBackboneOptions,
  LoadedBackbone,
  ModelSource,
  ParameterKind,
  ParameterMap,
  ParameterSpec,
  TextPairEncoder,
} from './backbone.js';
export { backboneSpecificationVersion, countParameters, disposeParameters } from './backbone.js';
export type { DownloadOptions, DownloadResult } from './download.js';
export { defaultCacheDirectory, downloadFile } from './download.js';
export type { KeyShapeMismatch } from './errors.js';
export {
  BackendError,
  CheckpointMismatchError,
  DataRowError,
  DiffpruneError,
  DownloadError,
  FormatError,
  InterruptedError,
  InvalidArgumentError,
  MissingResourceError,
  ShapeMismatchError,
} from './errors.js';
export type {
  BackendSelectEvent,
  CheckpointLoadEvent,
  CheckpointSaveEvent,
  DiffpruneEvent,
  DiffpruneEventType,
  DownloadEndEvent,
  DownloadProgressEvent,
  DownloadStartEvent,
  EvalEndEvent,
  EventListener,
  ProjectionEndEvent,
  RunEndEvent,
  RunInterruptEvent,
  RunStartEvent,
  StageEndEvent,
  StageStartEvent,
  StepEndEvent,
  TrainingStage,
  WarningEvent,
} from './events.js';
export { emitTo } from './events.js';
export {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
} from './float16.js';
export type { UniformKey } from './random/counter-uniform.js';
export {
  fillUniform,
  uniformAt,
  uniformBitsAt,
  uniformKey,
  uniformShapeSize,
} from './random/counter-uniform.js';
export type { DropoutMaskAttributes } from './random/dropout-mask.js';
export {
  dropoutMask,
  dropoutMaskKernelName,
  dropoutScale,
  dropoutThreshold,
  fillDropoutMask,
} from './random/dropout-mask.js';
export type { Rng } from './rng.js';
export { createRng } from './rng.js';
export type { BackendInfo, BackendName, InitBackendOptions, NativeBackendModule } from './runtime/backend.js';
export { activeBackend, backendNames, initBackend } from './runtime/backend.js';
export { scatterAddSegments } from './runtime/scatter-add.js';
export type { SafetensorsDtype, SafetensorsFile, SafetensorsTensor } from './safetensors.js';
export {
  fromFloat32,
  maxSafetensorsHeaderBytes,
  parseSafetensors,
  readSafetensors,
  safetensorsDtypes,
  serializeSafetensors,
  toFloat32,
  writeSafetensors,
} from './safetensors.js';
