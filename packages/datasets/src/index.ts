export type {
  Dataset,
  DatasetExample,
  DatasetFields,
  LoadTrainingDataOptions,
  ProblemType,
  ReadDatasetOptions,
  SkippedDataRow,
  TrainingData,
} from './dataset.js';
export {
  datasetFromTable,
  inferProblemType,
  labelSet,
  loadTrainingData,
  readDataset,
  resolveFields,
} from './dataset.js';
export type { Table, TableFormat, TableRow } from './tables.js';
export { readTable, tableFormat, tableFormats } from './tables.js';
