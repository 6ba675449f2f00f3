export { backboneLoaders, loadBackbone } from './backbones.js';
export { startBackend } from './backend.js';
export { stopOnInterrupt } from './cli-support.js';
export { fanOut, jsonlEventLog } from './events-log.js';
export { progressRenderer } from './progress.js';
export type { CheckpointState } from './training/checkpoint.js';
export type { EncodedExample, LabeledExample } from './training/data.js';
export { encodeExamples, makeBatch, taskLoss } from './training/data.js';
export type { GradientInputs, GradientResult } from './training/gradients.js';
export { computeGradients } from './training/gradients.js';
export type { AdamOptions, AdamState } from './training/optimizer.js';
export {
  adamStep,
  clipByGlobalNorm,
  clipCoefficient,
  createAdamState,
  globalNorm,
  linearDecay,
} from './training/optimizer.js';
export type { Projection } from './training/projection.js';
export { projectTopK } from './training/projection.js';
export type { RunSummary, RunTrainingOptions } from './training/run.js';
export { runTraining } from './training/run.js';
export type { EvalGate, GroupPenalty, TrainingMethod, TrainSettings } from './training/settings.js';
export {
  defaultFixedMaskEpochs,
  defaultSettings,
  trainingMethods,
  validateSettings,
} from './training/settings.js';
export type { GateChoice, GateNoise, StageModel, Trainables } from './training/stages.js';
export { finetuneStage, fixedMaskStage, searchStage } from './training/stages.js';
export type { OptimizerStates, StepContext, StepOutput, TrainingState } from './training/step.js';
export { createTrainingState, trainingStep, trainStep } from './training/step.js';
export type { TaskInfo, TrainOutcome, TrainRunOptions } from './training/trainer.js';
export { epochBatches, trainedParameterNames, trainMethod } from './training/trainer.js';
