import { createHash } from 'node:crypto';
import type { LoadedBackbone } from '@diffprune/core';
import { selectSubset } from '@diffprune/glue';
import * as tf from '@tensorflow/tfjs-core';
import { type CheckpointState, disposeRunTensors, loadRunCheckpoint } from './checkpoint.js';
import { encodeExamples, type LabeledExample } from './data.js';
import { methods, type StagePlan } from './methods.js';
import { project } from './project.js';
import type { Run, TrainRunOptions } from './run-context.js';
import { defaultFixedMaskEpochs, type TrainSettings, validateSettings } from './settings.js';
import { checkpoint, runStage } from './stage-loop.js';
import {
  disposeGateNoise,
  emptyTrainables,
  finetuneStage,
  fixedMaskStage,
  initialFinetuneTrainables,
  trainableTensors,
} from './stages.js';
import { disposeOptimizerStates, searchSetup } from './step.js';

export type { TaskInfo, TrainRunOptions } from './run-context.js';

export interface TrainOutcome {
  /** δ per parameter name, over every parameter that changed or is trained densely. */
  deltas: Record<string, Float32Array>;
  /** Names stored whole (dense) in the diff. */
  dense: string[];
  metrics: Record<string, number>;
  history: CheckpointState['history'];
  projection: CheckpointState['projection'];
  steps: number;
  examplesSeen: number;
  trainingTimeMs: number;
  /** Time earlier sittings of a resumed run spent before this one (0 for a run in one sitting). */
  earlierSittingsMs: number;
}

/** Names each method trains in its first stage. */
export function trainedParameterNames(
  loaded: LoadedBackbone,
  settings: TrainSettings,
  numLabels: number,
): string[] {
  return methods[settings.method].trained(loaded.backbone.parameterSpecs({ numLabels }));
}

/** A key identifying the run's inputs, so that a resume with other settings is refused. */
function runKey(options: TrainRunOptions): string {
  const { settings, task, loaded } = options;
  return createHash('sha256')
    .update(JSON.stringify({ settings, task: task.name, model: loaded.source, n: options.train.length }))
    .digest('hex')
    .slice(0, 16);
}

const freshState = (key: string): CheckpointState => ({
  version: 1,
  runKey: key,
  stageIndex: 0,
  step: 0,
  adamSteps: {},
  best: undefined,
  history: [],
  projection: undefined,
  elapsedMs: 0,
  examplesSeen: 0,
  stepsTaken: 0,
  done: false,
});

/** Sets a run up: the method's plans, the encoded data (seeded subsets), the stage models, a resume. */
async function startRun(options: TrainRunOptions): Promise<Run> {
  const settings = validateSettings(options.settings);
  const { loaded, task } = options;
  const { backbone, params: base } = loaded;
  const head = { numLabels: task.numLabels };
  const headNames = backbone
    .parameterSpecs(head)
    .filter((s) => s.head)
    .map((s) => s.name);
  const gated = backbone.gatedParameterNames(head);
  const method = methods[settings.method];
  // Quick runs use a seeded random subset (the same for every method with the same seed).
  const encode = (examples: readonly LabeledExample[], max: number | undefined, key: number) => {
    const subset = selectSubset(examples.length, max, settings.seed + key).map((i) => examples[i]!);
    return encodeExamples(backbone.encoder, subset, settings.maxLength);
  };
  const train = encode(options.train, settings.maxTrainExamples, 0);
  const search = searchSetup(base, settings, gated, headNames);
  const key = runKey(options);
  const saved = options.resume ? await loadRunCheckpoint(options.outputDirectory, key) : undefined;
  const plans = method.plan(settings, settings.fixedMaskEpochs ?? defaultFixedMaskEpochs(task.name));
  const earlierSittingsMs = saved?.state.elapsedMs ?? 0;
  const run: Run = {
    options,
    settings,
    base,
    headNames,
    gated,
    gatedEntries: gated.reduce((n, name) => n + base[name]!.size, 0),
    plans,
    train,
    dev: encode(options.dev, settings.maxEvalExamples, 1),
    stepsPerEpoch: Math.ceil(train.length / settings.batchSize),
    started: Date.now() - earlierSittingsMs,
    earlierSittingsMs,
    state: saved?.state ?? freshState(key),
    ...(saved?.tensors ?? {
      trainables: emptyTrainables(),
      masks: {},
      best: undefined,
      optimizers: undefined,
    }),
    lastNoise: undefined,
    sampledNoise: undefined,
    stepsThisCall: 0,
    stageModel: (plan) => {
      if (plan.stage === 'search') return search.model;
      if (plan.stage === 'fixed-mask') return fixedMaskStage(base, { masks: run.masks, dense: headNames });
      return finetuneStage(base);
    },
    initialTrainables: (plan) =>
      plan.stage === 'search'
        ? search.initialTrainables()
        : initialFinetuneTrainables(base, method.trained(backbone.parameterSpecs(head))),
  };
  if (saved) {
    const stage = plans[run.state.stageIndex]?.stage ?? 'fixed-mask';
    options.onEvent?.({ type: 'checkpoint-load', stage, step: run.state.step, path: saved.path });
  }
  return run;
}

/** A stage's end: its best dev checkpoint (if it selects), the projection before a fixed-mask stage. */
async function finishStage(run: Run, plan: StagePlan, stageStarted: number): Promise<void> {
  if (plan.select && run.best) {
    tf.dispose(trainableTensors(run.trainables));
    run.trainables = run.best;
    run.best = undefined;
  }
  const { state } = run;
  const elapsedMs = Date.now() - stageStarted;
  run.options.onEvent?.({ type: 'stage-end', stage: plan.stage, steps: state.step, elapsedMs });
  if (run.plans[state.stageIndex + 1]?.stage === 'fixed-mask') await project(run, run.stageModel(plan));
  disposeOptimizerStates(run.optimizers);
  run.optimizers = undefined;
  state.stageIndex += 1;
  state.step = 0;
  state.best = run.plans[state.stageIndex]?.select ? undefined : state.best;
  if (state.stageIndex >= run.plans.length) state.done = true;
  await checkpoint(run, plan);
}

/** The final δ of the last stage, and what the run reports. */
async function outcome(run: Run): Promise<TrainOutcome> {
  const deltas = await run.stageModel(run.plans.at(-1)!).delta(run.trainables);
  const { state } = run;
  const whole = methods[run.settings.method].storedWhole;
  return {
    deltas,
    dense: whole === 'all' ? Object.keys(deltas) : [...run.headNames],
    metrics: state.best?.metrics ?? state.history.at(-1)?.metrics ?? {},
    history: state.history,
    projection: state.projection,
    steps: state.stepsTaken,
    examplesSeen: state.examplesSeen,
    trainingTimeMs: state.elapsedMs,
    earlierSittingsMs: run.earlierSittingsMs,
  };
}

/**
 * Trains one method on one task: every stage of its plan (methods.ts) through the generic stage
 * loop, with evaluation, best-dev selection, checkpoints (every N steps, each epoch end, each stage
 * boundary, and on interruption) and exact resume. Returns the final δ per parameter; writing the
 * diff is the caller's (see `runTraining`). Undefined when stopped early for a test.
 */
export async function trainMethod(options: TrainRunOptions): Promise<TrainOutcome | undefined> {
  const run = await startRun(options);
  try {
    while (run.state.stageIndex < run.plans.length && !run.state.done) {
      const plan = run.plans[run.state.stageIndex]!;
      const stageStarted = Date.now();
      if (!(await runStage(run, plan, run.stageModel(plan)))) return undefined;
      await finishStage(run, plan, stageStarted);
    }
    return await outcome(run);
  } finally {
    disposeGateNoise(run.lastNoise);
    disposeGateNoise(run.sampledNoise);
    disposeRunTensors(run);
  }
}
