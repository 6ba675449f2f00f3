/**
 * The paper's published numbers (BERT-large, GLUE test server, Table 1; ../shared/docs/method.md),
 * as percentages. MNLI has matched and mismatched columns; the average excludes QNLI.
 */
export const paperColumns = [
  'qnli',
  'sst2',
  'mnli-m',
  'mnli-mm',
  'cola',
  'mrpc',
  'stsb',
  'rte',
  'qqp',
] as const;

export const paperTable: { method: string; newParameters: string; values: number[]; average: number }[] = [
  {
    method: 'Full finetuning',
    newParameters: '100 %',
    values: [93.4, 94.1, 86.7, 86.0, 59.6, 88.9, 86.6, 71.2, 71.7],
    average: 80.6,
  },
  {
    method: 'Last layer',
    newParameters: '3.8 %',
    values: [79.8, 91.6, 71.4, 72.9, 40.2, 80.1, 67.3, 58.6, 63.3],
    average: 68.2,
  },
  {
    method: 'Non-adaptive diff pruning',
    newParameters: '0.5 %',
    values: [89.7, 93.6, 84.9, 84.8, 51.2, 81.5, 78.2, 61.5, 68.6],
    average: 75.5,
  },
  {
    method: 'Diff pruning',
    newParameters: '0.5 %',
    values: [92.9, 93.8, 85.7, 85.6, 60.5, 87.0, 83.5, 68.1, 70.6],
    average: 79.4,
  },
  {
    method: 'Diff pruning (struct.)',
    newParameters: '0.5 %',
    values: [93.3, 94.1, 86.4, 86.0, 61.1, 89.7, 86.0, 70.6, 71.1],
    average: 80.6,
  },
  {
    method: 'Adapters (Houlsby)',
    newParameters: '3.6 %',
    values: [90.7, 94.0, 84.9, 85.1, 59.5, 89.5, 86.9, 71.5, 71.8],
    average: 80.4,
  },
];

/** GLUE dev, structured diff pruning, average by target density (Table 2). */
export const paperDensityTable = [
  { density: 0.001, average: 82.5 },
  { density: 0.0025, average: 84.5 },
  { density: 0.005, average: 84.8 },
  { density: 0.01, average: 85.1 },
];
