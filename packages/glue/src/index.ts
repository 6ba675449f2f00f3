export type { BatchOptions } from './batching.js';
export { batchCount, batchExamples, batchIndices, selectSubset } from './batching.js';
export { glueDataDirectoryVariable, resolveDataDirectory } from './data-directory.js';
export type {
  DownloadTaskOptions,
  DownloadTaskResult,
  GlueSourceFile,
  GlueTaskSource,
} from './download.js';
export { defaultGlueBaseUrl, downloadTask, isTaskPresent, taskSource } from './download.js';
export type { EncodedGlueExample, ExampleEncoder } from './encode.js';
export { encodeExamples } from './encode.js';
export type { DataInventory, SplitInventory, TaskInventory } from './inventory.js';
export { inspectDataDirectory } from './inventory.js';
export {
  accuracy,
  averageRanks,
  computeMetrics,
  f1,
  matthewsCorrelation,
  pearsonCorrelation,
  predictionsFromLogits,
  spearmanCorrelation,
} from './metrics.js';
export type { GlueExample, ReadSplitOptions, ReadSplitResult, SkippedRow } from './read.js';
export { downloadCommand, parseSplit, readSplit, splitPath } from './read.js';
export type { WriteSubmissionOptions, WriteSubmissionResult } from './submission.js';
export { writeSubmission } from './submission.js';
export type { GlueMetricName, GlueSplitSpec, GlueTask, GlueTaskName } from './tasks.js';
export { getSplit, getTask, glueTaskNames, headlineMetric, listTasks, selectionMetric } from './tasks.js';
