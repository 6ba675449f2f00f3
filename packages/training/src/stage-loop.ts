import { InterruptedError } from '@diffprune/core';
import { batchIndices } from '@diffprune/glue';
import * as tf from '@tensorflow/tfjs-core';
import { saveRunCheckpoint } from './checkpoint.js';
import { disposeBatch, makeBatch } from './data.js';
import { predictExamples } from './evaluate.js';
import type { StagePlan } from './methods.js';
import { evaluationGate, type Run } from './run-context.js';
import { disposeGateNoise, mapTrainables, type StageModel, trainableTensors } from './stages.js';
import { createOptimizerStates, type StepContext, stepNoise, trainingStep } from './step.js';
import { batchSeed } from './streams.js';

/** Saves the run's checkpoint and says so. */
export async function checkpoint(run: Run, plan: StagePlan): Promise<void> {
  const path = await saveRunCheckpoint(run.options.outputDirectory, run.state, run);
  run.options.onEvent?.({ type: 'checkpoint-save', stage: plan.stage, step: run.state.step, path });
}

/**
 * The generic stage loop: from the run's current step to the stage's last, one optimisation step
 * each (seeded batch order, dropout and gate noise: a resumed stage is the uninterrupted one),
 * evaluating at epoch ends (and every `evalEverySteps`), checkpointing at epoch ends, every
 * `checkpointEverySteps` and on a stop request. Returns false when it stopped for a test
 * (`stopAfterSteps`); throws `InterruptedError` on a stop request.
 */
export async function runStage(run: Run, plan: StagePlan, model: StageModel): Promise<boolean> {
  const { settings, state } = run;
  const totalSteps = Math.min(
    Math.ceil(plan.epochs * run.stepsPerEpoch),
    settings.maxSteps ?? Number.POSITIVE_INFINITY,
  );
  if (trainableTensors(run.trainables).length === 0) run.trainables = run.initialTrainables(plan);
  run.optimizers ??= createOptimizerStates(run.trainables);
  run.options.onEvent?.({ type: 'stage-start', stage: plan.stage, totalSteps, startStep: state.step });
  const context: StepContext = {
    backbone: run.options.loaded.backbone,
    model,
    settings,
    base: run.base,
    gated: run.gated,
    regression: run.options.task.kind === 'regression',
    stageIndex: state.stageIndex,
    totalSteps,
    learningRate: plan.learningRate,
  };
  // The last step's u is a pure function of the step: rebuilt for evaluation after a resume.
  if (plan.stage === 'search' && state.step > 0) run.lastNoise = stepNoise(context, state.step - 1);
  while (state.step < totalSteps) {
    const epoch = Math.floor(state.step / run.stepsPerEpoch);
    const epochEnd = await takeStep(run, plan, context, epoch);
    const evalNow = epochEnd || (settings.evalEverySteps > 0 && state.step % settings.evalEverySteps === 0);
    if (evalNow && run.dev.length > 0) await evaluateAndSelect(run, plan, model);
    // Let signal handlers (Ctrl-C) and I/O run: the step's awaits resolve as microtasks only.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const stopRequested = run.options.shouldStop?.() ?? false;
    const stopForTest =
      run.options.stopAfterSteps !== undefined && run.stepsThisCall >= run.options.stopAfterSteps;
    if (epochEnd || state.step % settings.checkpointEverySteps === 0 || stopRequested || stopForTest) {
      await checkpoint(run, plan);
    }
    if (stopRequested) {
      const path = `${run.options.outputDirectory}/checkpoint`;
      run.options.onEvent?.({ type: 'run-interrupt', step: state.step, checkpoint: path });
      throw new InterruptedError(`interrupted at step ${state.step}; its checkpoint is saved in ${path}`);
    }
    if (stopForTest) return false;
  }
  return true;
}

/** One optimisation step of the stage, with its event; true when it ended an epoch or the stage. */
async function takeStep(run: Run, plan: StagePlan, context: StepContext, epoch: number): Promise<boolean> {
  const { state } = run;
  const step = state.step;
  const inEpoch = step % run.stepsPerEpoch;
  // glue's seeded batching: the same batches for the same (seed, stage, epoch).
  const seed = batchSeed(run.settings.seed, state.stageIndex);
  const batchSize = run.settings.batchSize;
  const indices = batchIndices(run.train.length, { batchSize, shuffle: true, seed, epoch })[inEpoch]!;
  const padId = run.options.loaded.backbone.encoder.padId;
  const { batch, labels } = makeBatch(run.train, indices, padId, context.regression);
  const output = await trainingStep(context, run.trainables, run.optimizers!, batch, labels, step).finally(
    () => disposeBatch(batch, labels),
  );
  run.trainables = output.trainables;
  disposeGateNoise(run.lastNoise);
  run.lastNoise = output.noise;
  state.step = step + 1;
  state.examplesSeen += indices.length;
  state.stepsTaken += 1;
  run.stepsThisCall += 1;
  state.elapsedMs = Date.now() - run.started;
  const expectedL0 = output.penalty;
  run.options.onEvent?.({
    type: 'step-end',
    stage: plan.stage,
    step: state.step,
    totalSteps: context.totalSteps,
    epoch,
    loss: output.loss,
    taskLoss: output.taskLoss,
    ...(expectedL0 !== undefined ? { expectedL0, density: expectedL0 / run.gatedEntries } : {}),
    learningRate: output.learningRate,
    examplesPerSecond: state.examplesSeen / Math.max(state.elapsedMs / 1000, 1e-9),
    elapsedMs: state.elapsedMs,
  });
  return inEpoch === run.stepsPerEpoch - 1 || state.step === context.totalSteps;
}

/** Dev metrics of the current trainables; a selecting stage keeps the best ones (NaN ranks last). */
async function evaluateAndSelect(run: Run, plan: StagePlan, model: StageModel): Promise<void> {
  const { task } = run.options;
  const gate = plan.stage === 'search' ? evaluationGate(run) : undefined;
  const { predictions, labels } = await predictExamples({
    backbone: run.options.loaded.backbone,
    parameters: () => model.parameters(run.trainables, gate),
    examples: run.dev,
    numLabels: task.numLabels,
    regression: task.kind === 'regression',
    batchSize: Math.max(run.settings.batchSize, 32),
  });
  const metrics = run.options.computeMetrics(predictions, labels);
  const raw = metrics[task.selectionMetric];
  const score = raw === undefined || Number.isNaN(raw) ? Number.NEGATIVE_INFINITY : raw;
  const { state } = run;
  const isBest = plan.select && (state.best === undefined || score > state.best.metric);
  if (isBest) {
    if (run.best) tf.dispose(trainableTensors(run.best));
    run.best = mapTrainables(run.trainables, (t) => tf.clone(t));
    state.best = { metric: score, step: state.step, metrics };
  }
  state.history.push({ stage: plan.stage, step: state.step, metrics });
  run.options.onEvent?.({
    type: 'eval-end',
    stage: plan.stage,
    step: state.step,
    metrics,
    selectionMetric: task.selectionMetric,
    isBest,
  });
}
