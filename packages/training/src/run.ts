import { statSync } from 'node:fs';
import { join } from 'node:path';
import {
  activeBackend,
  countParameters,
  type EventListener,
  type LoadBackboneOptions,
  type LoadedBackbone,
  writeFileAtomic,
} from '@diffprune/core';
import {
  createDiffFromMask,
  fingerprintCheckpoint,
  type IndexEncoding,
  type TensorArrays,
  type ValueDtype,
  writeDiff,
} from '@diffprune/sparse-diff';
import * as tf from '@tensorflow/tfjs-core';
import { loadBackbone } from './backbones.js';
import { parameterArrays } from './data.js';
import { defaultDiffEncoding } from './diff-metadata.js';
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
  wallTimeMs: number;
  examplesPerSecond: number;
  backend: string;
  model: { id: string; revision: string };
  settings: TrainSettings;
  history: TrainOutcome['history'];
}

/** The method name recorded in the diff's provenance. */
function provenanceMethod(settings: TrainSettings): string {
  if (settings.method !== 'diff-pruning') return settings.method;
  return settings.structured ? `diff-pruning-structured-${settings.groupPenalty}` : 'diff-pruning';
}

/**
 * Trains `settings.method` on a GLUE task end to end: reads the data, loads the model, trains every
 * stage (checkpointed, resumable), writes `<task>.diff.safetensors` (sparse-diff format with
 * provenance and settings) and `metrics.json` into the output directory.
 */
export async function runTraining(options: RunTrainingOptions): Promise<RunSummary> {
  const started = Date.now();
  const settings = validateSettings(options.settings);
  const task: TaskData =
    typeof options.task === 'string'
      ? await glueTaskData(options.task, {
          ...(options.dataDirectory !== undefined ? { dataDirectory: options.dataDirectory } : {}),
          ...(options.onEvent ? { onEvent: options.onEvent } : {}),
        })
      : options.task;
  const encoding = { ...defaultDiffEncoding, ...options.encoding };
  const loaded: LoadedBackbone = await loadBackbone(options.model, {
    head: { numLabels: task.numLabels },
    seed: settings.seed,
    ...options.load,
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
  try {
    const backend = activeBackend()?.backend ?? tf.getBackend();
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

    // ---- the diff file ----
    const specs = loaded.backbone.parameterSpecs({ numLabels: task.numLabels });
    const headNames = new Set(specs.filter((s) => s.head).map((s) => s.name));
    const created = new Set(loaded.created);
    const allNames = specs.map((s) => s.name);
    // The exact δ goes into the file (createDiffFromMask), so that base + δ in float32 is exactly
    // the θ the trainer evaluated. Tensors stored whole replace the base tensor; a head the loader
    // created is not part of the base, so it is stored as an added tensor.
    const base: TensorArrays = await parameterArrays(loaded.params);
    const shapes: Record<string, readonly number[]> = {};
    const sparse: Record<string, { indices: Uint32Array; values: Float32Array }> = {};
    const dense: TensorArrays = {};
    const added: TensorArrays = {};
    const storedWholeNames = new Set(outcome.dense);
    for (const name of allNames) {
      const b = base[name]!;
      const delta = outcome.deltas[name];
      if (!created.has(name)) shapes[name] = b.shape;
      if (storedWholeNames.has(name) || created.has(name)) {
        const values = new Float32Array(b.values.length);
        for (let i = 0; i < values.length; i++) values[i] = b.values[i]! + (delta ? delta[i]! : 0);
        (created.has(name) ? added : dense)[name] = { shape: b.shape, values };
        continue;
      }
      if (!delta) continue;
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
      sparse[name] = { indices, values };
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
        method: provenanceMethod(settings),
        // The label names and data source ride in the settings: predict and export read `labels`.
        settings: { ...settings, ...encoding, labels: task.labels, data: task.source },
        task: task.name,
      },
    });
    const diffPath = join(options.outputDirectory, `${task.name}.diff.safetensors`);
    await writeDiff(diffPath, diff);
    // A lossy encoding is evaluated as stored: the summary's metrics are those of the file written.
    const metrics =
      encoding.valueDtype === 'F32' ? outcome.metrics : await storedDiffMetrics(loaded, diff, task, settings);
    const diffBytes = statSync(diffPath).size;

    // ---- densities, as the paper counts them ----
    // Tensors stored whole (the head; every tensor in full finetuning) count as fully modified, as
    // the paper counts them; sparse ones by their nonzero entries.
    const storedWhole = new Set(outcome.dense);
    let nonzeroEncoder = 0;
    let headEntries = 0;
    for (const spec of specs) {
      const size = countParameters([spec]);
      if (headNames.has(spec.name)) {
        headEntries += size;
        continue;
      }
      if (storedWhole.has(spec.name)) {
        nonzeroEncoder += size;
        continue;
      }
      const delta = outcome.deltas[spec.name];
      if (delta) for (let i = 0; i < delta.length; i++) if (delta[i] !== 0) nonzeroEncoder++;
    }
    const totalParameters = countParameters(specs);
    const encoderParameters = totalParameters - headEntries;
    const nonzero = nonzeroEncoder + headEntries;
    const wallTimeMs = Date.now() - started;
    const summary: RunSummary = {
      task: task.name,
      method: settings.method,
      metrics,
      trainedMetrics: outcome.metrics,
      selectionMetric: task.selectionMetric,
      headlineMetric: task.headlineMetric,
      labels: task.labels,
      density: nonzero / totalParameters,
      densityWithoutHead: nonzeroEncoder / encoderParameters,
      nonzero,
      totalParameters,
      diffPath,
      diffBytes,
      bytesPerNonzero: diffBytes / Math.max(nonzero, 1),
      projection: outcome.projection,
      steps: outcome.steps,
      examplesSeen: outcome.examplesSeen,
      trainingTimeMs: outcome.trainingTimeMs,
      wallTimeMs,
      examplesPerSecond: outcome.examplesSeen / Math.max(outcome.trainingTimeMs / 1000, 1e-9),
      backend,
      model: { id: loaded.source.id, revision: loaded.source.revision },
      settings,
      history: outcome.history,
    };
    await writeFileAtomic(
      join(options.outputDirectory, 'metrics.json'),
      `${JSON.stringify(summary, null, 2)}\n`,
    );
    options.onEvent?.({
      type: 'run-end',
      task: task.name,
      method: settings.method,
      metrics,
      wallTimeMs,
    });
    return summary;
  } finally {
    tf.dispose(Object.values(loaded.params));
  }
}
