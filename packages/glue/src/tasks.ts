import { InvalidArgumentError } from '@diffprune/core';

/** Canonical, lower-case GLUE task ids (`ax` is the diagnostic set, evaluated with an MNLI model). */
export const glueTaskNames = [
  'cola',
  'sst2',
  'mrpc',
  'stsb',
  'qqp',
  'mnli',
  'qnli',
  'rte',
  'wnli',
  'ax',
] as const;
export type GlueTaskName = (typeof glueTaskNames)[number];

/** Metric keys `computeMetrics` returns. Values are fractions (accuracy 0.85, not 85). */
export type GlueMetricName = 'accuracy' | 'f1' | 'matthews' | 'pearson' | 'spearman';

/** How one split's TSV is laid out. */
export interface GlueSplitSpec {
  /** Split name as used by `readSplit`: `train`, `dev`, `test`, `dev_matched` … */
  name: string;
  /** File name inside the task directory. */
  file: string;
  /** Number of examples in the official release (rows that parse; malformed rows excluded). */
  expectedRows: number;
  /** False for test splits (no gold labels in the public files). */
  labelled: boolean;
  /** Whether the first line is a header. CoLA's train/dev have none. */
  header: boolean;
  /**
   * Where the fields are: a header column name, or (for files without a header) a 0-based index.
   * `id` is null when the file has no id column (then the 0-based row ordinal is the id).
   */
  columns: {
    id: string | number | null;
    textA: string | number;
    textB: string | number | null;
    label: string | number | null;
  };
}

export interface GlueTask {
  /** Canonical id, e.g. `sst2`. */
  name: GlueTaskName;
  /** Directory inside the data directory, as in the official glue_data layout, e.g. `SST-2`. */
  directory: string;
  /** Name for tables and logs, e.g. `SST-2`. */
  displayName: string;
  kind: 'classification' | 'regression';
  /**
   * Label names exactly as they appear in the TSVs; a label's index here is its class index.
   * Order follows the authors' code (transformers' glue processors). [] for regression.
   */
  labels: readonly string[];
  /** Regression only: the range every score lies in (STS-B: [0, 5]); a score outside is a FormatError. */
  scoreRange?: readonly [number, number];
  /** Number of model outputs: labels.length, or 1 for regression. */
  numLabels: number;
  /** The official metrics, in the order the leaderboard lists them. */
  metrics: readonly GlueMetricName[];
  /** Dev metric used to pick the best checkpoint (the authors' `get_valid_metric`). */
  selectionMetric: GlueMetricName;
  /** The single number reported in tables (the BERT paper's and the diff pruning paper's convention). */
  headlineMetric: GlueMetricName;
  /** The training split, or null (ax has none). */
  trainSplit: string | null;
  /** Dev splits; the first is the one model selection uses. mnli: dev_matched, dev_mismatched. */
  devSplits: readonly string[];
  testSplits: readonly string[];
  /** Header names of the text columns (A, then B or null for single-sentence tasks). */
  textColumns: readonly [string, string | null];
  splits: Readonly<Record<string, GlueSplitSpec>>;
  /** GLUE server submission file per test split, e.g. `{ test_matched: 'MNLI-m.tsv' }`. */
  submissionFiles: Readonly<Record<string, string>>;
  /** Task whose trained model is evaluated on this one (ax → mnli), else null. */
  evaluatedWith: GlueTaskName | null;
}

const binary = ['0', '1'] as const;
const nli3 = ['contradiction', 'entailment', 'neutral'] as const;
const nli2 = ['entailment', 'not_entailment'] as const;

type SplitInput = Omit<GlueSplitSpec, 'name' | 'file' | 'header'> & { file?: string; header?: boolean };

const splitsOf = (entries: Record<string, SplitInput>): Record<string, GlueSplitSpec> =>
  Object.fromEntries(
    Object.entries(entries).map(([name, spec]) => [
      name,
      { name, file: spec.file ?? `${name}.tsv`, header: spec.header ?? true, ...spec },
    ]),
  );

const pairColumns = (id: string | null, a: string, b: string, label: string | null) => ({
  id,
  textA: a,
  textB: b,
  label,
});

const tasks: Record<GlueTaskName, GlueTask> = {
  cola: {
    name: 'cola',
    directory: 'CoLA',
    displayName: 'CoLA',
    kind: 'classification',
    labels: binary,
    numLabels: 2,
    metrics: ['matthews'],
    selectionMetric: 'matthews',
    headlineMetric: 'matthews',
    trainSplit: 'train',
    devSplits: ['dev'],
    testSplits: ['test'],
    textColumns: ['sentence', null],
    // train/dev: no header; source, label, original judgement ('*' or ''), sentence.
    splits: splitsOf({
      train: {
        expectedRows: 8551,
        labelled: true,
        header: false,
        columns: { id: null, textA: 3, textB: null, label: 1 },
      },
      dev: {
        expectedRows: 1043,
        labelled: true,
        header: false,
        columns: { id: null, textA: 3, textB: null, label: 1 },
      },
      test: {
        expectedRows: 1063,
        labelled: false,
        columns: { id: 'index', textA: 'sentence', textB: null, label: null },
      },
    }),
    submissionFiles: { test: 'CoLA.tsv' },
    evaluatedWith: null,
  },
  sst2: {
    name: 'sst2',
    directory: 'SST-2',
    displayName: 'SST-2',
    kind: 'classification',
    labels: binary,
    numLabels: 2,
    metrics: ['accuracy'],
    selectionMetric: 'accuracy',
    headlineMetric: 'accuracy',
    trainSplit: 'train',
    devSplits: ['dev'],
    testSplits: ['test'],
    textColumns: ['sentence', null],
    splits: splitsOf({
      train: {
        expectedRows: 67349,
        labelled: true,
        columns: { id: null, textA: 'sentence', textB: null, label: 'label' },
      },
      dev: {
        expectedRows: 872,
        labelled: true,
        columns: { id: null, textA: 'sentence', textB: null, label: 'label' },
      },
      test: {
        expectedRows: 1821,
        labelled: false,
        columns: { id: 'index', textA: 'sentence', textB: null, label: null },
      },
    }),
    submissionFiles: { test: 'SST-2.tsv' },
    evaluatedWith: null,
  },
  mrpc: {
    name: 'mrpc',
    directory: 'MRPC',
    displayName: 'MRPC',
    kind: 'classification',
    labels: binary,
    numLabels: 2,
    metrics: ['f1', 'accuracy'],
    selectionMetric: 'f1',
    headlineMetric: 'f1',
    trainSplit: 'train',
    devSplits: ['dev'],
    testSplits: ['test'],
    textColumns: ['#1 String', '#2 String'],
    // The header of train/dev starts with a byte-order mark (copied from the Microsoft files).
    splits: splitsOf({
      train: {
        expectedRows: 3668,
        labelled: true,
        columns: pairColumns(null, '#1 String', '#2 String', 'Quality'),
      },
      dev: {
        expectedRows: 408,
        labelled: true,
        columns: pairColumns(null, '#1 String', '#2 String', 'Quality'),
      },
      test: {
        expectedRows: 1725,
        labelled: false,
        columns: pairColumns('index', '#1 String', '#2 String', null),
      },
    }),
    submissionFiles: { test: 'MRPC.tsv' },
    evaluatedWith: null,
  },
  stsb: {
    name: 'stsb',
    directory: 'STS-B',
    displayName: 'STS-B',
    kind: 'regression',
    labels: [],
    scoreRange: [0, 5],
    numLabels: 1,
    metrics: ['pearson', 'spearman'],
    selectionMetric: 'spearman',
    headlineMetric: 'spearman',
    trainSplit: 'train',
    devSplits: ['dev'],
    testSplits: ['test'],
    textColumns: ['sentence1', 'sentence2'],
    splits: splitsOf({
      train: {
        expectedRows: 5749,
        labelled: true,
        columns: pairColumns('index', 'sentence1', 'sentence2', 'score'),
      },
      dev: {
        expectedRows: 1500,
        labelled: true,
        columns: pairColumns('index', 'sentence1', 'sentence2', 'score'),
      },
      test: {
        expectedRows: 1379,
        labelled: false,
        columns: pairColumns('index', 'sentence1', 'sentence2', null),
      },
    }),
    submissionFiles: { test: 'STS-B.tsv' },
    evaluatedWith: null,
  },
  qqp: {
    name: 'qqp',
    directory: 'QQP',
    displayName: 'QQP',
    kind: 'classification',
    labels: binary,
    numLabels: 2,
    metrics: ['f1', 'accuracy'],
    selectionMetric: 'f1',
    headlineMetric: 'f1',
    trainSplit: 'train',
    devSplits: ['dev'],
    testSplits: ['test'],
    textColumns: ['question1', 'question2'],
    splits: splitsOf({
      train: {
        expectedRows: 363846,
        labelled: true,
        columns: pairColumns('id', 'question1', 'question2', 'is_duplicate'),
      },
      dev: {
        expectedRows: 40430,
        labelled: true,
        columns: pairColumns('id', 'question1', 'question2', 'is_duplicate'),
      },
      test: {
        expectedRows: 390965,
        labelled: false,
        columns: pairColumns('id', 'question1', 'question2', null),
      },
    }),
    submissionFiles: { test: 'QQP.tsv' },
    evaluatedWith: null,
  },
  mnli: {
    name: 'mnli',
    directory: 'MNLI',
    displayName: 'MNLI',
    kind: 'classification',
    labels: nli3,
    numLabels: 3,
    metrics: ['accuracy'],
    selectionMetric: 'accuracy',
    headlineMetric: 'accuracy',
    trainSplit: 'train',
    devSplits: ['dev_matched', 'dev_mismatched'],
    testSplits: ['test_matched', 'test_mismatched'],
    textColumns: ['sentence1', 'sentence2'],
    splits: splitsOf({
      train: {
        expectedRows: 392702,
        labelled: true,
        columns: pairColumns('index', 'sentence1', 'sentence2', 'gold_label'),
      },
      dev_matched: {
        expectedRows: 9815,
        labelled: true,
        columns: pairColumns('index', 'sentence1', 'sentence2', 'gold_label'),
      },
      dev_mismatched: {
        expectedRows: 9832,
        labelled: true,
        columns: pairColumns('index', 'sentence1', 'sentence2', 'gold_label'),
      },
      test_matched: {
        expectedRows: 9796,
        labelled: false,
        columns: pairColumns('index', 'sentence1', 'sentence2', null),
      },
      test_mismatched: {
        expectedRows: 9847,
        labelled: false,
        columns: pairColumns('index', 'sentence1', 'sentence2', null),
      },
    }),
    submissionFiles: { test_matched: 'MNLI-m.tsv', test_mismatched: 'MNLI-mm.tsv' },
    evaluatedWith: null,
  },
  qnli: {
    name: 'qnli',
    directory: 'QNLI',
    displayName: 'QNLI',
    kind: 'classification',
    labels: nli2,
    numLabels: 2,
    metrics: ['accuracy'],
    selectionMetric: 'accuracy',
    headlineMetric: 'accuracy',
    trainSplit: 'train',
    devSplits: ['dev'],
    testSplits: ['test'],
    textColumns: ['question', 'sentence'],
    splits: splitsOf({
      train: {
        expectedRows: 104743,
        labelled: true,
        columns: pairColumns('index', 'question', 'sentence', 'label'),
      },
      dev: {
        expectedRows: 5463,
        labelled: true,
        columns: pairColumns('index', 'question', 'sentence', 'label'),
      },
      test: {
        expectedRows: 5463,
        labelled: false,
        columns: pairColumns('index', 'question', 'sentence', null),
      },
    }),
    submissionFiles: { test: 'QNLI.tsv' },
    evaluatedWith: null,
  },
  rte: {
    name: 'rte',
    directory: 'RTE',
    displayName: 'RTE',
    kind: 'classification',
    labels: nli2,
    numLabels: 2,
    metrics: ['accuracy'],
    selectionMetric: 'accuracy',
    headlineMetric: 'accuracy',
    trainSplit: 'train',
    devSplits: ['dev'],
    testSplits: ['test'],
    textColumns: ['sentence1', 'sentence2'],
    splits: splitsOf({
      train: {
        expectedRows: 2490,
        labelled: true,
        columns: pairColumns('index', 'sentence1', 'sentence2', 'label'),
      },
      dev: {
        expectedRows: 277,
        labelled: true,
        columns: pairColumns('index', 'sentence1', 'sentence2', 'label'),
      },
      test: {
        expectedRows: 3000,
        labelled: false,
        columns: pairColumns('index', 'sentence1', 'sentence2', null),
      },
    }),
    submissionFiles: { test: 'RTE.tsv' },
    evaluatedWith: null,
  },
  wnli: {
    name: 'wnli',
    directory: 'WNLI',
    displayName: 'WNLI',
    kind: 'classification',
    labels: binary,
    numLabels: 2,
    metrics: ['accuracy'],
    selectionMetric: 'accuracy',
    headlineMetric: 'accuracy',
    trainSplit: 'train',
    devSplits: ['dev'],
    testSplits: ['test'],
    textColumns: ['sentence1', 'sentence2'],
    splits: splitsOf({
      train: {
        expectedRows: 635,
        labelled: true,
        columns: pairColumns('index', 'sentence1', 'sentence2', 'label'),
      },
      dev: {
        expectedRows: 71,
        labelled: true,
        columns: pairColumns('index', 'sentence1', 'sentence2', 'label'),
      },
      test: {
        expectedRows: 146,
        labelled: false,
        columns: pairColumns('index', 'sentence1', 'sentence2', null),
      },
    }),
    submissionFiles: { test: 'WNLI.tsv' },
    evaluatedWith: null,
  },
  ax: {
    name: 'ax',
    // The official download script stores AX.tsv as diagnostic/diagnostic.tsv.
    directory: 'diagnostic',
    displayName: 'AX',
    kind: 'classification',
    labels: nli3,
    numLabels: 3,
    // The GLUE server scores the diagnostic with R3, a 3-class Matthews correlation.
    metrics: ['matthews'],
    selectionMetric: 'matthews',
    headlineMetric: 'matthews',
    trainSplit: null,
    devSplits: [],
    testSplits: ['test'],
    textColumns: ['sentence1', 'sentence2'],
    splits: splitsOf({
      test: {
        file: 'diagnostic.tsv',
        expectedRows: 1104,
        labelled: false,
        columns: pairColumns('index', 'sentence1', 'sentence2', null),
      },
    }),
    submissionFiles: { test: 'AX.tsv' },
    evaluatedWith: 'mnli',
  },
};

const normalise = (name: string) => name.toLowerCase().replace(/[\s_\-.]/g, '');

const aliases: Record<string, GlueTaskName> = {
  ...Object.fromEntries(glueTaskNames.map((name) => [name, name])),
  ...Object.fromEntries(glueTaskNames.map((name) => [normalise(tasks[name].displayName), name])),
  sst: 'sst2',
  sts: 'stsb',
  diagnostic: 'ax',
  mnlim: 'mnli',
  mnlimatched: 'mnli',
};

/**
 * The task for a name: canonical ids (`sst2`) and common spellings (`SST-2`, `sst-2`, `STS-B`,
 * `MNLI`, `diagnostic`). Throws an `InvalidArgumentError` listing the valid names otherwise.
 */
export function getTask(name: string): GlueTask {
  const canonical = typeof name === 'string' ? aliases[normalise(name)] : undefined;
  if (canonical === undefined) {
    throw new InvalidArgumentError({
      argument: 'task',
      expected: `one of ${glueTaskNames.join(', ')} (or spellings such as SST-2, STS-B, MNLI)`,
      found: name,
    });
  }
  return tasks[canonical];
}

/** Every task, in the canonical order. */
export function listTasks(): GlueTask[] {
  return glueTaskNames.map((name) => tasks[name]);
}

/** The task's single number for tables (MRPC/QQP F1, STS-B Spearman, CoLA Matthews, else accuracy). */
export function headlineMetric(task: GlueTask | string): GlueMetricName {
  return (typeof task === 'string' ? getTask(task) : task).headlineMetric;
}

/** The dev metric used for model selection (the authors' `get_valid_metric`). */
export function selectionMetric(task: GlueTask | string): GlueMetricName {
  return (typeof task === 'string' ? getTask(task) : task).selectionMetric;
}

/** The split's layout; throws an `InvalidArgumentError` listing the task's splits otherwise. */
export function getSplit(task: GlueTask, split: string): GlueSplitSpec {
  const spec = Object.hasOwn(task.splits, split) ? task.splits[split] : undefined;
  if (spec === undefined) {
    throw new InvalidArgumentError({
      argument: 'split',
      expected: `one of ${Object.keys(task.splits).join(', ')} for ${task.displayName}`,
      found: split,
    });
  }
  return spec;
}
