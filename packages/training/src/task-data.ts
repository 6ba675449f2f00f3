import { type EventListener, InvalidArgumentError, type LoadedBackbone } from '@diffprune/core';
import {
  type LoadTrainingDataOptions,
  loadTrainingData,
  type ProblemType,
  type ReadDatasetOptions,
  readDataset,
  type SkippedDataRow,
} from '@diffprune/datasets';
import {
  accuracy,
  computeMetrics,
  getTask,
  pearsonCorrelation,
  readSplit,
  resolveDataDirectory,
  spearmanCorrelation,
} from '@diffprune/glue';
import { encodeExamples, type LabeledExample } from './data.js';
import { predictExamples } from './evaluate.js';
import { classifierOutputs } from './predict.js';
import type { TaskInfo } from './trainer.js';

/**
 * What a run trains on: a task's description, its train and dev examples and its metrics — a GLUE
 * task ({@link glueTaskData}) or a user's dataset ({@link userTaskData}).
 */
export interface TaskData extends TaskInfo {
  /** The single number reported in summaries. */
  headlineMetric: string;
  /** Class names (index = class id), recorded in the diff and returned by predict; null for regression. */
  labels: string[] | null;
  train: LabeledExample[];
  dev: LabeledExample[];
  computeMetrics: (predictions: number[], labels: number[]) => Record<string, number>;
  /** Where the data came from (files, fields, split), recorded in the diff's provenance settings. */
  source: Record<string, unknown>;
}

/** A GLUE task's train split and first dev split, read from the data directory. */
export async function glueTaskData(
  name: string,
  options: { dataDirectory?: string; onEvent?: EventListener } = {},
): Promise<TaskData> {
  const task = getTask(name);
  const dataDirectory = resolveDataDirectory(options.dataDirectory);
  if (!task.trainSplit) throw new Error(`task ${task.name} has no training split`);
  const read = { dataDirectory, ...(options.onEvent ? { onEvent: options.onEvent } : {}) };
  const [train, dev] = await Promise.all([
    readSplit(task, task.trainSplit, read),
    readSplit(task, task.devSplits[0]!, read),
  ]);
  return {
    name: task.name,
    kind: task.kind,
    numLabels: task.numLabels,
    selectionMetric: task.selectionMetric,
    headlineMetric: task.headlineMetric,
    labels: task.kind === 'regression' ? null : [...task.labels],
    train: train.examples,
    dev: dev.examples,
    computeMetrics: (predictions, labels) => computeMetrics(task, predictions, labels),
    source: { glue: task.name },
  };
}

/** Metrics of a user's task: accuracy (classification); Pearson and Spearman (regression). */
export function userTaskMetrics(
  problemType: ProblemType,
): Pick<TaskData, 'selectionMetric' | 'headlineMetric' | 'computeMetrics'> {
  if (problemType === 'regression')
    return {
      selectionMetric: 'pearson',
      headlineMetric: 'pearson',
      computeMetrics: (p, l) => ({ pearson: pearsonCorrelation(p, l), spearman: spearmanCorrelation(p, l) }),
    };
  return {
    selectionMetric: 'accuracy',
    headlineMetric: 'accuracy',
    computeMetrics: (p, l) => ({ accuracy: accuracy(p, l) }),
  };
}

/**
 * A user's dataset as a task (see @diffprune/datasets' `loadTrainingData`): the label set from the
 * train file, a validation file or a seeded split. Skipped rows (with `skipBadRows`) are reported as
 * one `warning-raise` event with their count.
 */
export async function userTaskData(
  options: LoadTrainingDataOptions & { name?: string; onEvent?: EventListener },
): Promise<TaskData> {
  const { name = 'custom', onEvent, ...load } = options;
  const data = await loadTrainingData(load);
  if (data.skipped.length > 0) {
    const first = data.skipped[0]!;
    onEvent?.({
      type: 'warning-raise',
      message: `skipped ${data.skipped.length} bad rows (first: ${first.path} line ${first.line}, field ${first.field}: ${first.reason})`,
    });
  }
  const regression = data.problemType === 'regression';
  return {
    name,
    kind: regression ? 'regression' : 'classification',
    numLabels: regression ? 1 : data.labels!.length,
    labels: data.labels,
    ...userTaskMetrics(data.problemType),
    train: data.train,
    dev: data.validation,
    source: {
      trainFile: options.trainFile,
      ...(options.validationFile ? { validationFile: options.validationFile } : {}),
      validation: data.validationSource,
      textFields: data.fields.textFields,
      labelField: data.fields.labelField,
      problemType: data.problemType,
      skippedRows: data.skipped.length,
    },
  };
}

/**
 * A loaded classifier's metrics on a user's labelled file: the diff's label set (`labels`) decides
 * which labels are valid; a one-output head is regression. Returns the metrics and the row counts.
 */
export async function evaluateDataset(
  loaded: LoadedBackbone,
  options: Omit<ReadDatasetOptions, 'labels' | 'problemType' | 'requireLabels'> & {
    file: string;
    /** The class names of the head (from the diff); default the train file's sorted label set. */
    labels?: readonly string[];
    maxLength?: number;
    batchSize?: number;
  },
): Promise<{ metrics: Record<string, number>; examples: number; skipped: SkippedDataRow[] }> {
  const { file, maxLength, batchSize, labels, ...read } = options;
  const numLabels = classifierOutputs(loaded);
  const problemType: ProblemType = numLabels === 1 ? 'regression' : 'single_label_classification';
  const dataset = await readDataset(file, { ...read, problemType, ...(labels ? { labels } : {}) });
  if (dataset.labels && dataset.labels.length !== numLabels)
    throw new InvalidArgumentError({
      argument: '--validation-file',
      expected: `labels for a head with ${numLabels} outputs`,
      found: `${dataset.labels.length} labels (${dataset.labels.join(', ')}) in ${file}`,
    });
  if (dataset.examples.length === 0)
    throw new InvalidArgumentError({
      argument: '--validation-file',
      expected: 'a file with at least one labelled row',
      found: `${file}, with none${dataset.skipped.length ? ` (${dataset.skipped.length} bad rows skipped)` : ''}`,
    });
  const encoded = encodeExamples(
    loaded.backbone.encoder,
    dataset.examples,
    maxLength ?? Math.min(128, loaded.backbone.maxPositions),
  );
  const { predictions, labels: gold } = await predictExamples({
    backbone: loaded.backbone,
    parameters: () => loaded.params,
    examples: encoded,
    numLabels,
    regression: problemType === 'regression',
    ...(batchSize !== undefined ? { batchSize } : {}),
  });
  return {
    metrics: userTaskMetrics(problemType).computeMetrics(predictions, gold),
    examples: encoded.length,
    skipped: dataset.skipped,
  };
}
