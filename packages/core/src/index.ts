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
export type { Rng } from './rng.js';
export { createRng } from './rng.js';
export type { BackendInfo, BackendName, InitBackendOptions } from './runtime/backend.js';
export { activeBackend, backendNames, initBackend } from './runtime/backend.js';
export { scatterAddSegments } from './runtime/scatter-add.js';
