import { InvalidArgumentError } from '@diffprune/core';
import { methods } from './methods.js';

/** Training methods: diff pruning and the paper's baselines (the keys of the method table). */
export type TrainingMethod = keyof typeof methods;
export const trainingMethods = Object.keys(methods) as readonly TrainingMethod[];

export type GroupPenalty = 'sum' | 'product';
/** Which gate z the model uses when evaluated during stage 1. */
export type EvalGate = 'last' | 'sample' | 'deterministic';

/**
 * Every setting of a run. Defaults follow the authors' code (../shared/docs/method.md); where the
 * paper differs, the alternative is an option and the comment says which is which.
 */
export interface TrainSettings {
  method: TrainingMethod;
  seed: number;
  batchSize: number;
  /** Maximum tokens per example (pair), special tokens included. */
  maxLength: number;
  /** Epochs of the first stage (finetuning, or diff pruning's search stage). */
  epochs: number;
  /** Learning rate of the first stage's weights (w in diff pruning; θ in finetuning). Linear decay to 0, no warmup. */
  learningRate: number;
  /** Learning rate of log α (constant: the authors' scheduler for it is never stepped). */
  alphaLearningRate: number;
  /** λ of the expected-L0 penalty, applied to a SUM over gates. */
  lambda: number;
  /** One extra gate per parameter tensor (§3.3); on by default, as in the authors' code. */
  structured: boolean;
  /** `sum` (authors' code, default) or `product` (the paper). */
  groupPenalty: GroupPenalty;
  /** Initial log α of every gate (element and group). */
  alphaInit: number;
  /** Hard-concrete temperature β and stretch limits [l, r]. */
  beta: number;
  limits: [number, number];
  /** Kept fraction of diff entries after projection (stage 2). */
  targetDensity: number;
  /** `all`: top-k over every tensor, head included (authors' code); `gated`: over gated tensors only. */
  projectionScope: 'all' | 'gated';
  /** Fixed-mask stage: learning rate (linear decay) and epochs (3 or 5 by task when undefined). */
  fixedMaskLearningRate: number;
  fixedMaskEpochs: number | undefined;
  /** Stage 3 starts from stage 1's raw w (authors' code) or from z ⊙ w. */
  fixedMaskInit: 'raw' | 'gated';
  /** Global-norm gradient clipping, separately for the w group and the α group. */
  maxGradNorm: number;
  evalGate: EvalGate;
  /** Adam betas and epsilon (weight decay 0). */
  adamBetas: [number, number];
  adamEpsilon: number;
  /** Dropout in training (hidden and attention probabilities from config.json). */
  dropout: boolean;
  /** Quick runs: cap steps per stage, training examples, dev examples. */
  maxSteps: number | undefined;
  maxTrainExamples: number | undefined;
  maxEvalExamples: number | undefined;
  /** Evaluate every N steps as well as at each epoch end (0: epoch ends only). */
  evalEverySteps: number;
  /** Checkpoint every N steps as well as at each epoch end. */
  checkpointEverySteps: number;
}

/** Fixed-mask epochs by task (authors' scripts): 5 for the small tasks, 3 otherwise. */
export function defaultFixedMaskEpochs(task: string): number {
  return ['mrpc', 'stsb', 'rte'].includes(task) ? 5 : 3;
}

export function defaultSettings(method: TrainingMethod): TrainSettings {
  return {
    method,
    seed: 42,
    batchSize: 8,
    maxLength: 128,
    epochs: 3,
    learningRate: 2e-5,
    alphaLearningRate: 0.1,
    lambda: 1.25e-7,
    structured: true,
    groupPenalty: 'sum',
    alphaInit: 5,
    beta: 1,
    limits: [-1.5, 1.5],
    targetDensity: 0.005,
    projectionScope: 'all',
    fixedMaskLearningRate: 5e-5,
    fixedMaskEpochs: undefined,
    fixedMaskInit: 'raw',
    maxGradNorm: 1,
    evalGate: 'last',
    adamBetas: [0.9, 0.999],
    adamEpsilon: 1e-8,
    dropout: true,
    maxSteps: undefined,
    maxTrainExamples: undefined,
    maxEvalExamples: undefined,
    evalEverySteps: 0,
    checkpointEverySteps: 500,
    // Per method (methods.ts): diff pruning's w 1e-5 (authors), finetuning 2e-5.
    ...methods[method]?.defaults,
  };
}

const positive = (argument: string, value: number, integer = false) => {
  if (!(Number.isFinite(value) && value > 0) || (integer && !Number.isInteger(value))) {
    throw new InvalidArgumentError({
      argument,
      expected: integer ? 'a positive integer' : 'a positive number',
      found: value,
    });
  }
};

/** Validates settings, naming the offending option. */
export function validateSettings(settings: TrainSettings): TrainSettings {
  if (!(trainingMethods as readonly string[]).includes(settings.method)) {
    throw new InvalidArgumentError({
      argument: 'method',
      expected: `one of ${trainingMethods.join(', ')}`,
      found: settings.method,
    });
  }
  positive('batchSize', settings.batchSize, true);
  positive('maxLength', settings.maxLength, true);
  positive('epochs', settings.epochs);
  positive('learningRate', settings.learningRate);
  positive('alphaLearningRate', settings.alphaLearningRate);
  positive('fixedMaskLearningRate', settings.fixedMaskLearningRate);
  positive('maxGradNorm', settings.maxGradNorm);
  positive('beta', settings.beta);
  if (!(settings.lambda >= 0))
    throw new InvalidArgumentError({ argument: 'lambda', expected: 'a number >= 0', found: settings.lambda });
  if (!(settings.targetDensity > 0 && settings.targetDensity <= 1)) {
    throw new InvalidArgumentError({
      argument: 'targetDensity',
      expected: 'a number in (0, 1]',
      found: settings.targetDensity,
    });
  }
  if (!(settings.limits[0] < 0 && settings.limits[1] > 1)) {
    throw new InvalidArgumentError({
      argument: 'limits',
      expected: '[l, r] with l < 0 and r > 1',
      found: settings.limits,
    });
  }
  if (!Number.isInteger(settings.seed) || settings.seed < 0) {
    throw new InvalidArgumentError({
      argument: 'seed',
      expected: 'a non-negative integer',
      found: settings.seed,
    });
  }
  for (const key of ['maxSteps', 'maxTrainExamples', 'maxEvalExamples', 'fixedMaskEpochs'] as const) {
    const value = settings[key];
    if (value !== undefined) positive(key, value, true);
  }
  return settings;
}
