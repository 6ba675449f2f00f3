// The browser entry (package.json `exports` condition "browser"): everything that needs no Node
// builtin. The Node entry (index.ts) adds files, downloads to a cache and atomic writes.
export type {
  Backbone,
  BackboneLoader,
  BackboneSpecificationVersion,
  BackboneV1,
  EncodedBatch,
  EncodedText,
  ForwardOptions,
  HeadSpec,
  LoadBackboneOptions,
  LoadedBackbone,
  ModelFiles,
  ModelSource,
  ParameterKind,
  ParameterMap,
  ParameterSpec,
  TextPairEncoder,
  TokenizerKind,
} from './backbone.js';
export {
  backboneSpecificationVersion,
  countParameters,
  disposeParameters,
  headParameterNames,
  upgradeBackbone,
} from './backbone.js';
export type { KeyShapeMismatch } from './errors.js';
export {
  BackendError,
  CheckpointMismatchError,
  checkFinite,
  DataRowError,
  DiffpruneError,
  DownloadError,
  describeFailure,
  FormatError,
  InterruptedError,
  InvalidArgumentError,
  MissingResourceError,
  NonFiniteError,
  NonFiniteValueError,
  ShapeMismatchError,
  WriteError,
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
export type {
  AdamKernelAttributes,
  DiffpruneKernelName,
  DropoutMaskAttributes,
  GatedDiffsAttributes,
  GatedDiffsInputRole,
  GroupPenalty,
  SlotDelta,
  SparseRowDeltaAttributes,
  SparseRowLinearAttributes,
  SumSigmoidAttributes,
} from './kernel-names.js';
export {
  adamKernelName,
  diffpruneKernelNames,
  dropoutMaskKernelName,
  gatedDiffsGradKernelName,
  gatedDiffsInputRoles,
  gatedDiffsKernelName,
  layoutHasGroup,
  layoutHasRows,
  layoutHasU,
  lowerBound,
  sparseRowDeltaInputRoles,
  sparseRowDeltaKernelName,
  sparseRowLinearInputRoles,
  sparseRowLinearKernelName,
  sumSigmoidGradKernelName,
  sumSigmoidKernelName,
  sumSquaresKernelName,
} from './kernel-names.js';
export type { UniformKey } from './random/counter-uniform.js';
export {
  fillUniform,
  uniformAt,
  uniformBitsAt,
  uniformKey,
  uniformShapeSize,
} from './random/counter-uniform.js';
export {
  dropoutMask,
  dropoutScale,
  dropoutThreshold,
  fillDropoutMask,
} from './random/dropout-mask.js';
export type { Rng } from './rng.js';
export { createRng } from './rng.js';
export type { SafetensorsDtype, SafetensorsFile, SafetensorsTensor } from './safetensors.js';
export {
  fromFloat32,
  jsonDepth,
  maxJsonDepth,
  maxSafetensorsHeaderBytes,
  maxSafetensorsTensors,
  parseJsonBounded,
  parseSafetensors,
  safetensorsDtypes,
  serializeSafetensors,
  toFloat32,
} from './safetensors.js';
