import { type LoadedBackbone, NonFiniteError, type ParameterMap } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { computeGradients } from './gradients.js';
import { methods } from './methods.js';
import {
  type AdamState,
  adamStepParts,
  clipCoefficient,
  createAdamState,
  disposeAdamState,
  linearDecay,
} from './optimizer.js';
import { defaultSettings, type TrainSettings } from './settings.js';
import {
  disposeGateNoise,
  emptyTrainables,
  finetuneStage,
  type GateChoice,
  type GateNoise,
  gateNoiseFromDraws,
  initialFinetuneTrainables,
  initialSearchTrainables,
  type OptimizerGroup,
  optimizerGroups,
  type StageModel,
  searchStage,
  type TrainableRole,
  type Trainables,
  trainableRoles,
  trainableTensors,
} from './stages.js';
import { stepGateDraws, stepSeed } from './streams.js';

/** Everything one optimisation step of a stage needs besides the trainables and the batch. */
export interface StepContext {
  backbone: LoadedBackbone['backbone'];
  model: StageModel;
  settings: TrainSettings;
  base: ParameterMap;
  /** Gated parameter names (search stage). */
  gated: readonly string[];
  regression: boolean;
  stageIndex: number;
  totalSteps: number;
  learningRate: number;
}

/** Adam's state per trainable role (the roles of one optimiser group step together). */
export type OptimizerStates = Record<TrainableRole, AdamState>;

export interface StepOutput {
  /** The updated trainables (the previous tensors are disposed). */
  trainables: Trainables;
  /** The gate noise this step used (search stage): the caller owns it. */
  noise: GateNoise | undefined;
  loss: number;
  taskLoss: number;
  /** The stage's penalty (expected L0 in its form), when it has one. */
  penalty: number | undefined;
  learningRate: number;
}

export function createOptimizerStates(trainables: Trainables): OptimizerStates {
  return {
    theta: createAdamState(trainables.theta),
    w: createAdamState(trainables.w),
    logAlpha: createAdamState(trainables.logAlpha),
    groupLogAlpha: createAdamState(trainables.groupLogAlpha),
  };
}

export function disposeOptimizerStates(states: OptimizerStates | undefined): void {
  if (states) for (const role of trainableRoles) disposeAdamState(states[role]);
}

/** The gate noise of a step: a pure function of (seed, stage, step), like its dropout (streams.ts). */
export function stepNoise(context: StepContext, step: number): GateNoise {
  const { seed, structured } = context.settings;
  return gateNoiseFromDraws(
    context.gated,
    stepGateDraws(seed, context.stageIndex, step, context.gated.length, structured),
  );
}

/**
 * One optimisation step, exactly as the trainer runs it: gate noise (search stage), loss and
 * gradients, global-norm clipping per group, Adam per group, one fused call each (weights: linear
 * decay; log α: constant).
 */
export async function trainingStep(
  context: StepContext,
  trainables: Trainables,
  optimizers: OptimizerStates,
  batch: Parameters<typeof computeGradients>[0]['batch'],
  labels: tf.Tensor1D,
  step: number,
): Promise<StepOutput> {
  const { settings } = context;
  const noise = context.model.stage === 'search' ? stepNoise(context, step) : undefined;
  const gate: GateChoice | undefined = noise ? { kind: 'noise', noise } : undefined;
  const result = computeGradients({
    backbone: context.backbone,
    model: context.model,
    trainables,
    gate,
    batch,
    labels,
    regression: context.regression,
    lambda: settings.lambda,
    training: settings.dropout,
    seed: stepSeed(settings.seed, context.stageIndex, step),
  });
  // Clipping's coefficient per group goes into Adam (one pass over the gradients fewer than scaling them).
  const clip = (group: OptimizerGroup) =>
    clipCoefficient(
      optimizerGroups[group].flatMap((role) => Object.values(result.grads[role])),
      settings.maxGradNorm,
    );
  const clips = { weights: clip('weights'), alphas: clip('alphas') };
  const [loss, taskLoss, penalty] = await Promise.all([
    result.loss.data().then((d) => d[0]!),
    result.taskLoss.data().then((d) => d[0]!),
    result.penalty?.data().then((d) => d[0]!),
  ]);
  tf.dispose([result.loss, result.taskLoss, ...(result.penalty ? [result.penalty] : [])]);
  // A non-finite loss or gradient stops training before the update: the trainables stay as they were.
  const nonFinite = (
    [
      ['loss', loss],
      ['weights gradient norm', clips.weights.norm],
      ['gate (log α) gradient norm', clips.alphas.norm],
    ] as const
  ).find(([, value]) => !Number.isFinite(value));
  if (nonFinite) {
    tf.dispose(trainableTensors(result.grads));
    disposeGateNoise(noise);
    throw new NonFiniteError({
      quantity: nonFinite[0],
      value: nonFinite[1],
      stage: context.model.stage,
      step,
    });
  }
  const scales = { weights: clips.weights.scale, alphas: clips.alphas.scale };
  const rates = {
    weights: linearDecay(context.learningRate, step, context.totalSteps),
    alphas: settings.alphaLearningRate,
  };
  const adamOptions = { betas: settings.adamBetas, epsilon: settings.adamEpsilon };
  const next = emptyTrainables();
  for (const role of trainableRoles) next[role] = { ...trainables[role] };
  // One fused Adam call per optimiser group (its roles keep their own state, as checkpoints store it).
  for (const [group, roles] of Object.entries(optimizerGroups) as [
    OptimizerGroup,
    readonly TrainableRole[],
  ][]) {
    adamStepParts(
      roles.map((role) => ({ params: next[role], grads: result.grads[role], state: optimizers[role] })),
      rates[group],
      { ...adamOptions, gradScale: scales[group] },
    );
  }
  tf.dispose(trainableTensors(result.grads));
  return { trainables: next, noise, loss, taskLoss, penalty, learningRate: rates.weights };
}

/** Diff pruning's search stage (stage 1) and its initial trainables, from the settings. */
export function searchSetup(
  base: ParameterMap,
  settings: TrainSettings,
  gated: readonly string[],
  dense: readonly string[],
): { model: StageModel; initialTrainables: () => Trainables } {
  return {
    model: searchStage(base, {
      gated,
      dense,
      structured: settings.structured,
      groupPenalty: settings.groupPenalty,
      beta: settings.beta,
      limits: settings.limits,
    }),
    initialTrainables: () =>
      initialSearchTrainables(base, {
        gated,
        dense,
        structured: settings.structured,
        alphaInit: settings.alphaInit,
      }),
  };
}

/** A standalone training state for one stage, for benchmarks and custom loops. */
export interface TrainingState {
  context: StepContext;
  trainables: Trainables;
  optimizers: OptimizerStates;
  dispose(): void;
}

/**
 * Sets up full finetuning (`full`) or diff pruning's search stage (`diff-pruning`) on a loaded
 * backbone, with the trainer's defaults (overridable): what `diffprune-bench step` times.
 */
export function createTrainingState(options: {
  loaded: LoadedBackbone;
  method: 'full' | 'diff-pruning';
  numLabels: number;
  regression?: boolean;
  settings?: Partial<TrainSettings>;
  totalSteps?: number;
}): TrainingState {
  const settings: TrainSettings = { ...defaultSettings(options.method), ...options.settings };
  const { backbone, params: base } = options.loaded;
  const head = { numLabels: options.numLabels };
  const specs = backbone.parameterSpecs(head);
  const headNames = specs.filter((s) => s.head).map((s) => s.name);
  const method = methods[options.method];
  const searching = method.plan(settings, 1)[0]!.stage === 'search';
  const gated = searching ? backbone.gatedParameterNames(head) : [];
  const search = searching ? searchSetup(base, settings, gated, headNames) : undefined;
  const model = search ? search.model : finetuneStage(base);
  const trainables = search
    ? search.initialTrainables()
    : initialFinetuneTrainables(base, method.trained(specs));
  const state: TrainingState = {
    context: {
      backbone,
      model,
      settings,
      base,
      gated,
      regression: options.regression ?? false,
      stageIndex: 0,
      totalSteps: options.totalSteps ?? 1_000_000,
      learningRate: settings.learningRate,
    },
    trainables,
    optimizers: createOptimizerStates(trainables),
    dispose() {
      tf.dispose(trainableTensors(state.trainables));
      disposeOptimizerStates(state.optimizers);
    },
  };
  return state;
}

/** Runs one step on a standalone state (updates it in place). */
export async function trainStep(
  state: TrainingState,
  batch: Parameters<typeof computeGradients>[0]['batch'],
  labels: tf.Tensor1D,
  step: number,
): Promise<Omit<StepOutput, 'trainables' | 'noise'>> {
  const output = await trainingStep(state.context, state.trainables, state.optimizers, batch, labels, step);
  state.trainables = output.trainables;
  disposeGateNoise(output.noise);
  const { trainables: _t, noise: _n, ...rest } = output;
  return rest;
}
