import { statSync } from 'node:fs';
import { join } from 'node:path';
import {
  countParameters,
  type EventListener,
  InvalidArgumentError,
  type LoadBackboneOptions,
  type LoadedBackbone,
  type ParameterSpec,
  writeFileAtomic,
} from '@diffprune/core';
import { computeMetrics, type GlueTask, getTask, readSplit, resolveDataDirectory } from '@diffprune/glue';
import {
  createDiffFromMask,
  fingerprintCheckpoint,
  type TensorArrays,
  writeDiff,
} from '@diffprune/sparse-diff';
import * as tf from '@tensorflow/tfjs-core';
import { loadBackbone } from './backbones.js';
import { parameterArrays } from './data.js';
import { methods } from './methods.js';
import { type TrainSettings, validateSettings } from './settings.js';
import { type TrainOutcome, trainMethod } from './trainer.js';

export interface RunTrainingOptions {
  /** A model directory (HF layout) or a hub id. */
  model: string;
  task: string;
  /** GLUE data directory; default from `resolveDataDirectory` (option, environment, cache). */
  dataDirectory?: string;
  settings: TrainSettings;
  outputDirectory: string;
  resume?: boolean;
  onEvent?: EventListener;
  shouldStop?: () => boolean;
  /** Passed to the backbone loader (cache, offline, endpoint, revision). */
  load?: Partial<LoadBackboneOptions>;
  /** For tests of resume: stop after this many steps (checkpointed). */
  stopAfterSteps?: number;
}

/** What `metrics.json` holds. */
export interface RunSummary {
  task: string;
  method: string;
  /** Dev metrics of the selected checkpoint (fractions). */
  metrics: Record<string, number>;
  selectionMetric: string;
  headlineMetric: string;
  /** Nonzero diff entries ÷ all parameters, head counted fully (the paper's count). */
  density: number;
  /** The same over the encoder only (head excluded). */
  densityWithoutHead: number;
  nonzero: number;
  totalParameters: number;
  diffPath: string;
  diffBytes: number;
  bytesPerNonzero: number;
  projection: TrainOutcome['projection'];
  steps: number;
  examplesSeen: number;
  trainingTimeMs: number;
  wallTimeMs: number;
  examplesPerSecond: number;
  backend: string;
  model: { id: string; revision: string };
  settings: TrainSettings;
  history: TrainOutcome['history'];
}

/**
 * Trains `settings.method` on a GLUE task end to end: reads the data, loads the model, trains every
 * stage (checkpointed, resumable), writes `<task>.diff.safetensors` (sparse-diff format with
 * provenance and settings) and `metrics.json` into the output directory.
 */
export async function runTraining(options: RunTrainingOptions): Promise<RunSummary> {
  const started = Date.now();
  const settings = validateSettings(options.settings);
  const task: GlueTask = getTask(options.task);
  const { train, dev } = await readTaskData(task, options);
  const loaded: LoadedBackbone = await loadBackbone(options.model, {
    head: { numLabels: task.numLabels },
    seed: settings.seed,
    ...options.load,
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  try {
    const backend = tf.getBackend();
    options.onEvent?.({
      type: 'run-start',
      task: task.name,
      method: settings.method,
      backend,
      settings: settings as unknown as Record<string, unknown>,
    });
    const outcome = await trainMethod({
      loaded,
      task: {
        name: task.name,
        kind: task.kind,
        numLabels: task.numLabels,
        selectionMetric: task.selectionMetric,
      },
      train,
      dev,
      computeMetrics: (predictions, labels) => computeMetrics(task, predictions, labels),
      settings,
      outputDirectory: options.outputDirectory,
      ...(options.resume ? { resume: true } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...(options.shouldStop ? { shouldStop: options.shouldStop } : {}),
      ...(options.stopAfterSteps !== undefined ? { stopAfterSteps: options.stopAfterSteps } : {}),
    });
    if (!outcome) throw new Error('stopped early (stopAfterSteps)');

    const { diffPath, diffBytes } = await writeTaskDiff(
      loaded,
      outcome,
      settings,
      task,
      options.outputDirectory,
    );
    const summary = summarise(loaded, outcome, task, settings, {
      diffPath,
      diffBytes,
      backend,
      wallTimeMs: Date.now() - started,
    });
    await writeFileAtomic(
      join(options.outputDirectory, 'metrics.json'),
      `${JSON.stringify(summary, null, 2)}\n`,
    );
    options.onEvent?.({
      type: 'run-end',
      task: task.name,
      method: settings.method,
      metrics: outcome.metrics,
      wallTimeMs: summary.wallTimeMs,
    });
    return summary;
  } finally {
    tf.dispose(Object.values(loaded.params));
  }
}

/** The task's training split and first dev split; a training split without usable rows is an error. */
async function readTaskData(task: GlueTask, options: RunTrainingOptions) {
  const dataDirectory = resolveDataDirectory(options.dataDirectory);
  if (!task.trainSplit) throw new Error(`task ${task.name} has no training split`);
  const read = (split: string) =>
    readSplit(task, split, { dataDirectory, ...(options.onEvent ? { onEvent: options.onEvent } : {}) });
  const [train, dev] = await Promise.all([read(task.trainSplit), read(task.devSplits[0]!)]);
  const usable = train.examples.filter((e) => e.label !== null).length;
  if (usable === 0) {
    throw new InvalidArgumentError({
      argument: `${task.name} ${task.trainSplit} data`,
      expected: 'at least one labelled training row',
      found: `${train.examples.length} rows, none with a label (in ${dataDirectory})`,
    });
  }
  return { train: train.examples, dev: dev.examples };
}

/** What `metrics.json` holds: the outcome, the densities as the paper counts them, the diff's size. */
function summarise(
  loaded: LoadedBackbone,
  outcome: TrainOutcome,
  task: GlueTask,
  settings: TrainSettings,
  run: { diffPath: string; diffBytes: number; backend: string; wallTimeMs: number },
): RunSummary {
  const counts = countModified(loaded.backbone.parameterSpecs({ numLabels: task.numLabels }), outcome);
  const { nonzero, nonzeroEncoder, totalParameters, encoderParameters } = counts;
  return {
    task: task.name,
    method: settings.method,
    metrics: outcome.metrics,
    selectionMetric: task.selectionMetric,
    headlineMetric: task.headlineMetric,
    density: nonzero / totalParameters,
    densityWithoutHead: nonzeroEncoder / encoderParameters,
    nonzero,
    totalParameters,
    diffPath: run.diffPath,
    diffBytes: run.diffBytes,
    bytesPerNonzero: run.diffBytes / Math.max(nonzero, 1),
    projection: outcome.projection,
    steps: outcome.steps,
    examplesSeen: outcome.examplesSeen,
    trainingTimeMs: outcome.trainingTimeMs,
    wallTimeMs: run.wallTimeMs,
    examplesPerSecond: outcome.examplesSeen / Math.max(outcome.trainingTimeMs / 1000, 1e-9),
    backend: run.backend,
    model: { id: loaded.source.id, revision: loaded.source.revision },
    settings,
    history: outcome.history,
  };
}

/**
 * Writes `<task>.diff.safetensors`: the exact δ (createDiffFromMask), so that base + δ in float32 is
 * exactly the θ the trainer evaluated. Tensors stored whole replace the base tensor; a head the
 * loader created is not part of the base, so it is stored as an added tensor.
 */
async function writeTaskDiff(
  loaded: LoadedBackbone,
  outcome: TrainOutcome,
  settings: TrainSettings,
  task: GlueTask,
  outputDirectory: string,
): Promise<{ diffPath: string; diffBytes: number }> {
  const specs = loaded.backbone.parameterSpecs({ numLabels: task.numLabels });
  const created = new Set(loaded.created);
  const base: TensorArrays = await parameterArrays(loaded.params);
  const shapes: Record<string, readonly number[]> = {};
  const sparse: Record<string, { indices: Uint32Array; values: Float32Array }> = {};
  const dense: TensorArrays = {};
  const added: TensorArrays = {};
  const storedWholeNames = new Set(outcome.dense);
  for (const { name } of specs) {
    const b = base[name]!;
    const delta = outcome.deltas[name];
    if (!created.has(name)) shapes[name] = b.shape;
    if (storedWholeNames.has(name) || created.has(name)) {
      const values = new Float32Array(b.values.length);
      for (let i = 0; i < values.length; i++) values[i] = b.values[i]! + (delta ? delta[i]! : 0);
      (created.has(name) ? added : dense)[name] = { shape: b.shape, values };
    } else if (delta) sparse[name] = nonzeroEntries(delta);
  }
  const diff = createDiffFromMask({
    shapes,
    sparse,
    dense,
    added,
    provenance: {
      baseModel: { id: loaded.source.id, revision: loaded.source.revision },
      baseFingerprint: await fingerprintCheckpoint(loaded.source.directory),
      method: methods[settings.method].provenance(settings),
      settings: settings as unknown as Record<string, unknown>,
      task: task.name,
    },
  });
  const diffPath = join(outputDirectory, `${task.name}.diff.safetensors`);
  await writeDiff(diffPath, diff);
  return { diffPath, diffBytes: statSync(diffPath).size };
}

/** The positions and values of δ's nonzero entries. */
function nonzeroEntries(delta: Float32Array): { indices: Uint32Array; values: Float32Array } {
  let count = 0;
  for (let i = 0; i < delta.length; i++) if (delta[i] !== 0) count++;
  const indices = new Uint32Array(count);
  const values = new Float32Array(count);
  for (let i = 0, k = 0; i < delta.length; i++) {
    if (delta[i] !== 0) {
      indices[k] = i;
      values[k++] = delta[i]!;
    }
  }
  return { indices, values };
}

/**
 * Modified parameters, as the paper counts them: tensors stored whole (the head; every tensor in
 * full finetuning) count fully, sparse ones by their nonzero entries.
 */
function countModified(specs: readonly ParameterSpec[], outcome: TrainOutcome) {
  const storedWhole = new Set(outcome.dense);
  let nonzeroEncoder = 0;
  let headEntries = 0;
  for (const spec of specs) {
    const size = countParameters([spec]);
    if (spec.head) headEntries += size;
    else if (storedWhole.has(spec.name)) nonzeroEncoder += size;
    else {
      const delta = outcome.deltas[spec.name];
      if (delta) for (let i = 0; i < delta.length; i++) if (delta[i] !== 0) nonzeroEncoder++;
    }
  }
  const totalParameters = countParameters(specs);
  return {
    nonzero: nonzeroEncoder + headEntries,
    nonzeroEncoder,
    totalParameters,
    encoderParameters: totalParameters - headEntries,
  };
}
