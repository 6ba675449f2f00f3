// Models: the backbone registry, a base plus a task diff, prediction (what a serving process needs).
export { backboneLoaders, loadBackbone } from './backbones.js';
// Training: settings, the run, the method's stages, one step, the optimiser, the projection.
export type { CheckpointState } from './checkpoint.js';
// Data: encoding with a backbone's encoder, batches, the task loss.
export type { EncodedExample, LabeledExample } from './data.js';
export { disposeBatch, encodeExamples, makeBatch, parameterArrays, taskLoss } from './data.js';
export { defaultDiffEncoding, diffDataFields, diffLabels } from './diff-metadata.js';
export { evaluateTask, predictExamples } from './evaluate.js';
export { baseConfig, classifierConfig } from './export-config.js';
export type { GradientInputs, GradientResult } from './gradients.js';
export { computeGradients } from './gradients.js';
export type { MethodSpec, StagePlan } from './methods.js';
export { methods } from './methods.js';
export type { AdamOptions, AdamState } from './optimizer.js';
export {
  adamStep,
  clipByGlobalNorm,
  clipCoefficient,
  createAdamState,
  disposeAdamState,
  globalNorm,
  linearDecay,
} from './optimizer.js';
export type { Classifier, LoadClassifierOptions, Prediction, TextPair } from './predict.js';
export { classifierOutputs, loadClassifier, predictTexts, toPrediction } from './predict.js';
export type { Projection } from './projection.js';
export { projectTopK } from './projection.js';
export type { RunSummary, RunTrainingOptions } from './run.js';
export { runTraining } from './run.js';
export type { EvalGate, GroupPenalty, TrainingMethod, TrainSettings } from './settings.js';
export {
  defaultFixedMaskEpochs,
  defaultSettings,
  trainingMethods,
  validateSettings,
} from './settings.js';
export type {
  GateChoice,
  GateNoise,
  OptimizerGroup,
  StageModel,
  TrainableRole,
  Trainables,
} from './stages.js';
export {
  emptyTrainables,
  finetuneStage,
  fixedMaskStage,
  mapTrainables,
  optimizerGroups,
  searchStage,
  trainableRoles,
  trainableTensors,
} from './stages.js';
export type { OptimizerStates, StepContext, StepOutput, TrainingState } from './step.js';
export { createTrainingState, trainingStep, trainStep } from './step.js';
export { batchSeed, gateDraws, stepGateDraws, stepSeed } from './streams.js';
export type { TaskData } from './task-data.js';
export { evaluateDataset, glueTaskData, userTaskData, userTaskMetrics } from './task-data.js';
export type { TaskInfo, TrainOutcome, TrainRunOptions } from './trainer.js';
export { trainedParameterNames, trainMethod } from './trainer.js';
export type { LoadWithDiffOptions } from './with-diff.js';
export { headSizeOf, loadWithDiff } from './with-diff.js';
