import { createRng, type EventListener, type LoadedBackbone, type ParameterMap } from '@diffprune/core';
import type { CheckpointState, RunTensors } from './checkpoint.js';
import type { EncodedExample, LabeledExample } from './data.js';
import type { StagePlan } from './methods.js';
import type { TrainSettings } from './settings.js';
import {
  type GateChoice,
  type GateNoise,
  type StageModel,
  sampleGateNoise,
  type Trainables,
} from './stages.js';

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

/** A run in progress: what every stage reads, and the state a checkpoint saves. */
export interface Run extends RunTensors {
  readonly options: TrainRunOptions;
  readonly settings: TrainSettings;
  readonly base: ParameterMap;
  readonly headNames: readonly string[];
  readonly gated: readonly string[];
  readonly gatedEntries: number;
  readonly plans: readonly StagePlan[];
  readonly train: readonly EncodedExample[];
  readonly dev: readonly EncodedExample[];
  readonly stepsPerEpoch: number;
  /** Wall-clock origin: now minus the time earlier sessions of this run spent. */
  readonly started: number;
  /** Time earlier sittings of this run spent (from the checkpoint it resumed from; 0 for a fresh run). */
  readonly earlierSittingsMs: number;
  state: CheckpointState;
  /** The gate noise of the latest search step (the `last` evaluation gate), and the `sample` one. */
  lastNoise: GateNoise | undefined;
  sampledNoise: GateNoise | undefined;
  stepsThisCall: number;
  /** The model of each stage plan (search, fixed-mask over the current masks, finetune). */
  stageModel(plan: StagePlan): StageModel;
  /** The trainables a stage starts from (the fixed-mask stage's are built by the projection). */
  initialTrainables(plan: StagePlan): Trainables;
}

/**
 * The z that evaluates (and projects) the search stage: `last` — the latest step's z (authors'
 * code); `sample` — one u drawn once, seeded, and kept (the paper); `deterministic` — Louizos'
 * test-time estimator.
 */
export function evaluationGate(run: Run): GateChoice {
  const { settings } = run;
  if (settings.evalGate === 'deterministic') return { kind: 'deterministic' };
  if (settings.evalGate === 'sample') {
    run.sampledNoise ??= sampleGateNoise(
      run.gated,
      settings.structured,
      createRng(settings.seed).fork('evaluation-u'),
    );
    return { kind: 'noise', noise: run.sampledNoise };
  }
  return run.lastNoise ? { kind: 'noise', noise: run.lastNoise } : { kind: 'deterministic' };
}
