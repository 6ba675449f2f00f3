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
import {
  createDiffFromMask,
  fingerprintBaseFiles,
  fingerprintCheckpoint,
  type IndexEncoding,
  type SparseDiff,
  type TensorArrays,
  type ValueDtype,
  writeDiff,
} from '@diffprune/sparse-diff';
import * as tf from '@tensorflow/tfjs-core';
import { loadBackbone } from './backbones.js';
import { parameterArrays } from './data.js';
import { defaultDiffEncoding } from './diff-metadata.js';
import { methods } from './methods.js';
import { type TrainSettings, validateSettings } from './settings.js';
import { storedDiffMetrics } from './stored-metrics.js';
import { glueTaskData, type TaskData } from './task-data.js';
import { type TrainOutcome, trainMethod } from './trainer.js';

export interface RunTrainingOptions {
  /** A model directory (HF layout) or a hub id. */
  model: string;
  /** A GLUE task name, or a task's data (e.g. a user's dataset from `userTaskData`). */
  task: string | TaskData;
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
  /** How the diff file stores δ; default {@link defaultDiffEncoding}. */
  encoding?: { valueDtype?: ValueDtype; indexEncoding?: IndexEncoding };
  /**
   * `settings.maxLength` is a default, not the user's: lower it to the model's maximum positions
   * when the family has fewer (a 64-position model, RoBERTa's max_position_embeddings − 2).
   */
  fitMaxLength?: boolean;
}

/** What `metrics.json` holds. */
export interface RunSummary {
  task: string;
  method: string;
  /** Dev metrics of the selected checkpoint as the diff file stores it (fractions). */
  metrics: Record<string, number>;
  /** The same before the diff's values were rounded to its value dtype (equal for F32). */
  trainedMetrics: Record<string, number>;
  selectionMetric: string;
  headlineMetric: string;
  /** Class names (index = class id), also recorded in the diff; null for regression. */
  labels: string[] | null;
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
  /** The run's wall time, over every sitting of a resumed run. */
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
  const requested = validateSettings(options.settings);
  const task = await readTaskData(options);
  const encoding = { ...defaultDiffEncoding, ...options.encoding };
  const loaded: LoadedBackbone = await loadBackbone(options.model, {
    head: { numLabels: task.numLabels },
    seed: requested.seed,
    // A finetuned checkpoint's head of another label count is re-created for this task (as HF).
    replaceMismatchedHead: true,
    ...options.load,
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  const positions = loaded.backbone.maxPositions;
  const settings =
    options.fitMaxLength && requested.maxLength > positions
      ? { ...requested, maxLength: positions }
      : requested;
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
      train: task.train,
      dev: task.dev,
      computeMetrics: task.computeMetrics,
      settings,
      outputDirectory: options.outputDirectory,
      ...(options.resume ? { resume: true } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...(options.shouldStop ? { shouldStop: options.shouldStop } : {}),
      ...(options.stopAfterSteps !== undefined ? { stopAfterSteps: options.stopAfterSteps } : {}),
    });
    if (!outcome) throw new Error('stopped early (stopAfterSteps)');

    const { diff, diffPath, diffBytes } = await writeTaskDiff(loaded, outcome, settings, task, {
      outputDirectory: options.outputDirectory,
      encoding,
    });
    // A lossy encoding is evaluated as stored: the summary's metrics are those of the file written.
    const metrics =
      encoding.valueDtype === 'F32' ? outcome.metrics : await storedDiffMetrics(loaded, diff, task, settings);
    const summary = summarise(loaded, outcome, task, settings, {
      metrics,
      diffPath,
      diffBytes,
      backend,
      // A resumed run counts the sittings before this one too (as its training time does).
      wallTimeMs: Date.now() - started + outcome.earlierSittingsMs,
    });
    await writeFileAtomic(
      join(options.outputDirectory, 'metrics.json'),
      `${JSON.stringify(summary, null, 2)}\n`,
    );
    options.onEvent?.({
      type: 'run-end',
      task: task.name,
      method: settings.method,
      metrics,
      wallTimeMs: summary.wallTimeMs,
    });
    return summary;
  } finally {
    tf.dispose(Object.values(loaded.params));
  }
}

/**
 * The run's data: a GLUE task's train and first dev split, or the given task data (a user's
 * dataset); a training or dev set without usable rows is an error.
 */
async function readTaskData(options: RunTrainingOptions): Promise<TaskData> {
  const task =
    typeof options.task === 'string'
      ? await glueTaskData(options.task, {
          ...(options.dataDirectory !== undefined ? { dataDirectory: options.dataDirectory } : {}),
          ...(options.onEvent ? { onEvent: options.onEvent } : {}),
        })
      : options.task;
  // A dev set without labelled rows would report `metrics: {}` after training (issue #15).
  for (const [rows, argument, expected] of [
    [task.train, `${task.name} training data`, 'at least one labelled training row'],
    [
      task.dev,
      `${task.name} dev data`,
      'at least one labelled row (the run selects its checkpoint and reports metrics on it)',
    ],
  ] as const) {
    if (!rows.some((e) => e.label !== null))
      throw new InvalidArgumentError({ argument, expected, found: `${rows.length} rows, none with a label` });
  }
  return task;
}

/** What `metrics.json` holds: the outcome, the densities as the paper counts them, the diff's size. */
function summarise(
  loaded: LoadedBackbone,
  outcome: TrainOutcome,
  task: TaskData,
  settings: TrainSettings,
  run: {
    metrics: Record<string, number>;
    diffPath: string;
    diffBytes: number;
    backend: string;
    wallTimeMs: number;
  },
): RunSummary {
  const counts = countModified(loaded.backbone.parameterSpecs({ numLabels: task.numLabels }), outcome);
  const { nonzero, nonzeroEncoder, totalParameters, encoderParameters } = counts;
  return {
    task: task.name,
    method: settings.method,
    metrics: run.metrics,
    trainedMetrics: outcome.metrics,
    selectionMetric: task.selectionMetric,
    headlineMetric: task.headlineMetric,
    labels: task.labels,
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
  task: TaskData,
  options: {
    outputDirectory: string;
    encoding: { valueDtype: ValueDtype; indexEncoding: IndexEncoding };
  },
): Promise<{ diff: SparseDiff; diffPath: string; diffBytes: number }> {
  const { outputDirectory, encoding } = options;
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
    valueDtype: encoding.valueDtype,
    denseValueDtype: encoding.valueDtype,
    indexEncoding: encoding.indexEncoding,
    provenance: {
      baseModel: { id: loaded.source.id, revision: loaded.source.revision },
      baseFingerprint: await fingerprintCheckpoint(loaded.source.directory),
      baseFiles: await fingerprintBaseFiles(loaded.source.directory),
      method: methods[settings.method].provenance(settings),
      // The label names and data source ride in the settings: predict and export read `labels`.
      settings: { ...settings, ...encoding, labels: task.labels, data: task.source },
      task: task.name,
    },
  });
  const diffPath = join(outputDirectory, `${task.name}.diff.safetensors`);
  await writeDiff(diffPath, diff);
  return { diff, diffPath, diffBytes: statSync(diffPath).size };
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
