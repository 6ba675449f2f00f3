import { createHash } from 'node:crypto';
import {
  createRng,
  type EventListener,
  InterruptedError,
  type LoadedBackbone,
  type ParameterMap,
  type TrainingStage,
} from '@diffprune/core';
import { selectSubset } from '@diffprune/glue';
import * as tf from '@tensorflow/tfjs-core';
import { type CheckpointState, loadCheckpoint, saveCheckpoint, type TensorGroups } from './checkpoint.js';
import { disposeBatch, encodeExamples, type LabeledExample, makeBatch } from './data.js';
import { predictExamples } from './evaluate.js';
import { projectTopK } from './projection.js';
import { defaultFixedMaskEpochs, type TrainSettings, validateSettings } from './settings.js';
import {
  disposeGateNoise,
  finetuneStage,
  fixedMaskStage,
  type GateChoice,
  type GateNoise,
  initialFinetuneTrainables,
  type StageModel,
  sampleGateNoise,
  type Trainables,
} from './stages.js';
import {
  createOptimizerStates,
  disposeOptimizerStates,
  type OptimizerStates,
  type StepContext,
  searchSetup,
  stepNoise,
  trainingStep,
} from './step.js';

export interface TaskInfo {
  name: string;
  kind: 'classification' | 'regression';
  numLabels: number;
  /** The metric that selects the best dev checkpoint (higher is better). */
  selectionMetric: string;
}

export interface TrainRunOptions {
  loaded: LoadedBackbone;
  task: TaskInfo;
  train: readonly LabeledExample[];
  dev: readonly LabeledExample[];
  computeMetrics: (predictions: number[], labels: number[]) => Record<string, number>;
  settings: TrainSettings;
  /** Checkpoints go to `<outputDirectory>/checkpoint`. */
  outputDirectory: string;
  /** Continue from the checkpoint in `outputDirectory` when there is one. */
  resume?: boolean;
  onEvent?: EventListener;
  /** Polled after every step: when true, the run checkpoints and throws `InterruptedError`. */
  shouldStop?: () => boolean;
  /** Run only until this global step count, then checkpoint and return undefined (tests of resume). */
  stopAfterSteps?: number;
}

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
}

interface StagePlan {
  stage: TrainingStage;
  epochs: number;
  learningRate: number;
  /** Keep the best dev checkpoint of this stage (else the last). */
  select: boolean;
}

/** Names each method trains in its first stage. */
export function trainedParameterNames(
  loaded: LoadedBackbone,
  settings: TrainSettings,
  numLabels: number,
): string[] {
  const specs = loaded.backbone.parameterSpecs({ numLabels });
  const layers = specs
    .map((s) => /^layer\.(\d+)$/.exec(s.block))
    .filter((m) => m !== null)
    .map((m) => Number(m![1]));
  const top = `layer.${Math.max(...layers)}`;
  switch (settings.method) {
    case 'bitfit':
      return specs.filter((s) => s.head || s.kind === 'bias' || s.kind === 'norm-bias').map((s) => s.name);
    case 'last-layer':
      return specs.filter((s) => s.head || s.block === top).map((s) => s.name);
    default:
      return specs.map((s) => s.name);
  }
}

function stagePlans(settings: TrainSettings, task: string): StagePlan[] {
  const fixedMask: StagePlan = {
    stage: 'fixed-mask',
    epochs: settings.fixedMaskEpochs ?? defaultFixedMaskEpochs(task),
    learningRate: settings.fixedMaskLearningRate,
    select: true,
  };
  switch (settings.method) {
    case 'diff-pruning':
      return [
        { stage: 'search', epochs: settings.epochs, learningRate: settings.learningRate, select: false },
        fixedMask,
      ];
    case 'non-adaptive':
      return [
        { stage: 'finetune', epochs: settings.epochs, learningRate: settings.learningRate, select: false },
        fixedMask,
      ];
    default:
      return [
        { stage: 'finetune', epochs: settings.epochs, learningRate: settings.learningRate, select: true },
      ];
  }
}

/** A key identifying the run's inputs, so that a resume with other settings is refused. */
function runKey(options: TrainRunOptions): string {
  const { settings, task, loaded } = options;
  return createHash('sha256')
    .update(JSON.stringify({ settings, task: task.name, model: loaded.source, n: options.train.length }))
    .digest('hex')
    .slice(0, 16);
}

/** Batches of one epoch, deterministic in (seed, epoch). */
export function epochBatches(count: number, batchSize: number, seed: number, epoch: number): number[][] {
  const order = createRng(seed)
    .fork(`data/${epoch}`)
    .shuffle(Array.from({ length: count }, (_, i) => i));
  const batches: number[][] = [];
  for (let i = 0; i < order.length; i += batchSize) batches.push(order.slice(i, i + batchSize));
  return batches;
}

const cloneMap = (map: Trainables): Trainables =>
  Object.fromEntries(Object.entries(map).map(([k, v]) => [k, tf.clone(v)]));

/**
 * Trains one method on one task: every stage, with evaluation, best-dev selection, checkpoints
 * (every N steps, each epoch end, each stage boundary, and on interruption) and exact resume.
 * Returns the final δ per parameter; writing the diff is the caller's (see `runTraining`).
 */
export async function trainMethod(options: TrainRunOptions): Promise<TrainOutcome | undefined> {
  const settings = validateSettings(options.settings);
  const { loaded, task, onEvent } = options;
  const { backbone } = loaded;
  const base: ParameterMap = loaded.params;
  const head = { numLabels: task.numLabels };
  const regression = task.kind === 'regression';
  const specs = backbone.parameterSpecs(head);
  const headNames = specs.filter((s) => s.head).map((s) => s.name);
  const gated = backbone.gatedParameterNames(head);
  const gatedEntries = gated.reduce((n, name) => n + base[name]!.size, 0);
  const plans = stagePlans(settings, task.name);
  const key = runKey(options);

  const maxLength = settings.maxLength;
  // Quick runs use a seeded random subset (the same for every method with the same seed).
  const subset = <T>(examples: readonly T[], max: number | undefined, key: number) =>
    selectSubset(examples.length, max, settings.seed + key).map((i) => examples[i]!);
  const trainExamples = encodeExamples(
    backbone.encoder,
    subset(options.train, settings.maxTrainExamples, 0),
    maxLength,
  );
  const devExamples = encodeExamples(
    backbone.encoder,
    subset(options.dev, settings.maxEvalExamples, 1),
    maxLength,
  );
  const stepsPerEpoch = Math.ceil(trainExamples.length / settings.batchSize);

  // ---- state (restored from a checkpoint when resuming) ----
  let state: CheckpointState = {
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
  };
  let trainables: Trainables = {};
  let masks: Record<string, tf.Tensor> = {};
  let best: Trainables | undefined;
  let adam: OptimizerStates | undefined;

  const checkpointGroups = (): TensorGroups => ({
    trainables,
    masks,
    ...(best ? { best } : {}),
    ...(adam
      ? {
          'adam-weights-m': adam.weights.m,
          'adam-weights-v': adam.weights.v,
          'adam-alphas-m': adam.alphas.m,
          'adam-alphas-v': adam.alphas.v,
        }
      : {}),
  });
  const checkpoint = async (stage: TrainingStage) => {
    if (adam) state.adamSteps = { weights: adam.weights.step, alphas: adam.alphas.step };
    const path = await saveCheckpoint(options.outputDirectory, state, checkpointGroups());
    onEvent?.({ type: 'checkpoint-save', stage, step: state.step, path });
  };

  const search = searchSetup(base, settings, gated, headNames);
  const stageModel = (plan: StagePlan): StageModel => {
    if (plan.stage === 'search') return search.model;
    if (plan.stage === 'fixed-mask') return fixedMaskStage(base, { masks, dense: headNames });
    return finetuneStage(base);
  };

  const initialTrainables = (plan: StagePlan): Trainables =>
    plan.stage === 'search'
      ? search.initialTrainables()
      : initialFinetuneTrainables(base, trainedParameterNames(loaded, settings, task.numLabels));

  let resumed = false;
  if (options.resume) {
    const saved = await loadCheckpoint(options.outputDirectory);
    if (saved) {
      if (saved.state.runKey !== key) {
        tf.dispose(Object.values(saved.groups).flatMap((g) => Object.values(g)));
        throw new InterruptedError(
          `the checkpoint in ${saved.path} belongs to a run with other settings (run key ${saved.state.runKey}, this run ${key}); use a new --out directory or remove the checkpoint`,
        );
      }
      state = saved.state;
      trainables = saved.groups.trainables ?? {};
      masks = saved.groups.masks ?? {};
      best = saved.groups.best;
      if (saved.groups['adam-weights-m']) {
        adam = {
          weights: {
            step: state.adamSteps.weights ?? 0,
            m: saved.groups['adam-weights-m'] ?? {},
            v: saved.groups['adam-weights-v'] ?? {},
          },
          alphas: {
            step: state.adamSteps.alphas ?? 0,
            m: saved.groups['adam-alphas-m'] ?? {},
            v: saved.groups['adam-alphas-v'] ?? {},
          },
        };
      }
      resumed = true;
      onEvent?.({
        type: 'checkpoint-load',
        stage: plans[state.stageIndex]?.stage ?? 'fixed-mask',
        step: state.step,
        path: saved.path,
      });
    }
  }

  const started = Date.now() - state.elapsedMs;
  let stepsThisCall = 0;
  let lastNoise: GateNoise | undefined;

  const evaluate = async (
    model: StageModel,
    gate: GateChoice | undefined,
  ): Promise<Record<string, number>> => {
    const { predictions, labels } = await predictExamples({
      backbone,
      parameters: () => model.parameters(trainables, gate),
      examples: devExamples,
      numLabels: task.numLabels,
      regression,
      batchSize: Math.max(settings.batchSize, 32),
    });
    return options.computeMetrics(predictions, labels);
  };

  // The z used to evaluate stage 1 (and to project it): `last` — the latest step's z (authors'
  // code); `sample` — one u drawn once, seeded, and kept (the paper); `deterministic` — Louizos'
  // test-time estimator.
  let sampledNoise: GateNoise | undefined;
  const evalGate = (): GateChoice | undefined => {
    if (settings.evalGate === 'deterministic') return { kind: 'deterministic' };
    if (settings.evalGate === 'sample') {
      if (!sampledNoise) {
        const rng = createRng(settings.seed).fork('evaluation-u');
        sampledNoise = sampleGateNoise(gated, settings.structured, rng);
      }
      return { kind: 'noise', noise: sampledNoise as GateNoise };
    }
    if (!lastNoise) return { kind: 'deterministic' };
    return { kind: 'noise', noise: lastNoise };
  };

  try {
    for (; state.stageIndex < plans.length && !state.done; ) {
      const plan = plans[state.stageIndex]!;
      const model = stageModel(plan);
      const totalSteps = Math.min(
        Math.ceil(plan.epochs * stepsPerEpoch),
        settings.maxSteps ?? Number.POSITIVE_INFINITY,
      );
      if (!resumed || Object.keys(trainables).length === 0) {
        // Fresh stage (the stage-3 initial state is built at the projection below).
        if (state.step === 0 && Object.keys(trainables).length === 0) trainables = initialTrainables(plan);
      }
      if (!adam) adam = createOptimizerStates(trainables);
      resumed = false;
      onEvent?.({ type: 'stage-start', stage: plan.stage, totalSteps, startStep: state.step });
      const stageStarted = Date.now();
      const stageIndex = state.stageIndex;
      const stepContext: StepContext = {
        backbone,
        model,
        settings,
        base,
        gated,
        regression,
        stageIndex,
        totalSteps,
        learningRate: plan.learningRate,
      };
      if (plan.stage === 'search' && state.step > 0) {
        // The last step's u is a pure function of the step: rebuild it for evaluation after a resume.
        lastNoise = stepNoise(stepContext, state.step - 1);
      }

      for (; state.step < totalSteps; ) {
        const step = state.step;
        const epoch = Math.floor(step / stepsPerEpoch);
        const inEpoch = step % stepsPerEpoch;
        const indices = epochBatches(
          trainExamples.length,
          settings.batchSize,
          settings.seed + stageIndex * 7919,
          epoch,
        )[inEpoch]!;
        const { batch, labels } = makeBatch(trainExamples, indices, backbone.encoder.padId, regression);
        const output = await trainingStep(stepContext, trainables, adam, batch, labels, step);
        disposeBatch(batch, labels);
        trainables = output.trainables;
        const { noise, loss, taskLoss: lossTaskValue, penalty: expectedL0, learningRate: rate } = output;
        disposeGateNoise(lastNoise);
        lastNoise = noise;
        state.step = step + 1;
        state.examplesSeen += indices.length;
        state.stepsTaken += 1;
        stepsThisCall += 1;
        const elapsedMs = Date.now() - started;
        state.elapsedMs = elapsedMs;
        onEvent?.({
          type: 'step-end',
          stage: plan.stage,
          step: state.step,
          totalSteps,
          epoch,
          loss,
          taskLoss: lossTaskValue,
          ...(expectedL0 !== undefined ? { expectedL0, density: expectedL0 / gatedEntries } : {}),
          learningRate: rate,
          examplesPerSecond: state.examplesSeen / Math.max(elapsedMs / 1000, 1e-9),
          elapsedMs,
        });

        const epochEnd = inEpoch === stepsPerEpoch - 1 || state.step === totalSteps;
        const evalNow =
          epochEnd || (settings.evalEverySteps > 0 && state.step % settings.evalEverySteps === 0);
        if (evalNow && devExamples.length > 0) {
          const metrics = await evaluate(model, plan.stage === 'search' ? evalGate() : undefined);
          // NaN (e.g. a correlation of constant predictions) ranks below every number.
          const raw = metrics[task.selectionMetric];
          const score = raw === undefined || Number.isNaN(raw) ? Number.NEGATIVE_INFINITY : raw;
          const isBest = plan.select && (state.best === undefined || score > state.best.metric);
          if (isBest) {
            if (best) tf.dispose(Object.values(best));
            best = cloneMap(trainables);
            state.best = { metric: score, step: state.step, metrics };
          }
          state.history.push({ stage: plan.stage, step: state.step, metrics });
          onEvent?.({
            type: 'eval-end',
            stage: plan.stage,
            step: state.step,
            metrics,
            selectionMetric: task.selectionMetric,
            isBest,
          });
        }
        // Let signal handlers (Ctrl-C) and I/O run: the step's awaits resolve as microtasks only.
        await new Promise<void>((resolve) => setImmediate(resolve));
        const stopRequested = options.shouldStop?.() ?? false;
        const stopForTest = options.stopAfterSteps !== undefined && stepsThisCall >= options.stopAfterSteps;
        if (epochEnd || state.step % settings.checkpointEverySteps === 0 || stopRequested || stopForTest) {
          await checkpoint(plan.stage);
        }
        if (stopRequested) {
          onEvent?.({
            type: 'run-interrupt',
            step: state.step,
            checkpoint: `${options.outputDirectory}/checkpoint`,
          });
          throw new InterruptedError(`interrupted at step ${state.step}; resume with --resume`);
        }
        if (stopForTest) return undefined;
      }

      // ---- stage end ----
      if (plan.select && best) {
        tf.dispose(Object.values(trainables));
        trainables = best;
        best = undefined;
      }
      onEvent?.({
        type: 'stage-end',
        stage: plan.stage,
        steps: state.step,
        elapsedMs: Date.now() - stageStarted,
      });

      const next = plans[state.stageIndex + 1];
      if (next?.stage === 'fixed-mask') {
        // Stage 2: project δ onto the L0 ball, then set up stage 3.
        const gate = plan.stage === 'search' ? evalGate() : undefined;
        const deltas = await model.delta(trainables, gate);
        const scope =
          settings.projectionScope === 'all'
            ? deltas
            : Object.fromEntries(Object.entries(deltas).filter(([name]) => !headNames.includes(name)));
        const projection = projectTopK(scope, settings.targetDensity);
        state.projection = {
          kept: projection.kept,
          total: projection.total,
          threshold: projection.threshold,
        };
        onEvent?.({
          type: 'projection-end',
          targetDensity: settings.targetDensity,
          density: projection.kept / projection.total,
          kept: projection.kept,
          total: projection.total,
        });
        const newMasks: Record<string, tf.Tensor> = {};
        const newTrainables: Trainables = {};
        for (const [name, mask] of Object.entries(projection.masks)) {
          if (headNames.includes(name)) continue; // the head is trained densely again
          if (!mask.some((m) => m === 1)) continue;
          newMasks[name] = tf.tensor(Float32Array.from(mask), base[name]!.shape, 'float32');
          // Stage 3 starts from stage 1's raw w (authors' code) or from the projected δ.
          const raw = trainables[`w/${name}`];
          newTrainables[`w/${name}`] =
            settings.fixedMaskInit === 'raw' && raw
              ? tf.clone(raw)
              : tf.tensor(deltas[name]!, base[name]!.shape, 'float32');
        }
        for (const name of headNames) {
          newTrainables[`w/${name}`] = tf.tensor(deltas[name]!, base[name]!.shape, 'float32');
        }
        tf.dispose([...Object.values(trainables), ...Object.values(masks)]);
        disposeGateNoise(lastNoise);
        lastNoise = undefined;
        trainables = newTrainables;
        masks = newMasks;
      }
      disposeOptimizerStates(adam);
      adam = undefined;
      state.stageIndex += 1;
      state.step = 0;
      state.best = plans[state.stageIndex]?.select ? undefined : state.best;
      if (state.stageIndex >= plans.length) state.done = true;
      await checkpoint(plan.stage);
    }

    // ---- final δ ----
    const lastPlan = plans[plans.length - 1]!;
    const finalModel = stageModel(lastPlan);
    const deltas = await finalModel.delta(trainables);
    const metrics = state.best?.metrics ?? state.history.at(-1)?.metrics ?? {};
    const dense = settings.method === 'full' ? Object.keys(deltas) : headNames;
    return {
      deltas,
      dense,
      metrics,
      history: state.history,
      projection: state.projection,
      steps: state.stepsTaken,
      examplesSeen: state.examplesSeen,
      trainingTimeMs: state.elapsedMs,
    };
  } finally {
    disposeGateNoise(lastNoise);
    disposeGateNoise(sampledNoise);
    tf.dispose([...Object.values(trainables), ...Object.values(masks), ...(best ? Object.values(best) : [])]);
    disposeOptimizerStates(adam);
  }
}
