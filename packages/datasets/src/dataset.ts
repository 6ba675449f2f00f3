import { createRng, DataRowError, InvalidArgumentError } from '@diffprune/core';
import { readTable, type Table } from './tables.js';

/** HF's `problem_type` names for the two kinds of task a user dataset can be. */
export type ProblemType = 'single_label_classification' | 'regression';

/** Which fields hold the text (one, or a pair) and the label. */
export interface DatasetFields {
  textFields: [string] | [string, string];
  labelField: string;
}

/** One usable row: the text (pair) and the label index (classification) or target (regression). */
export interface DatasetExample {
  /** 1-based line in the file (Parquet: row number). */
  line: number;
  textA: string;
  textB: string | null;
  /** Class index into the label set, the regression target, or null when the file has no labels. */
  label: number | null;
}

/** A row left out with `skipBadRows`: where it is and why. */
export interface SkippedDataRow {
  path: string;
  line: number;
  field: string;
  reason: string;
}

export interface Dataset {
  path: string;
  fields: DatasetFields;
  problemType: ProblemType;
  /** Class names, index = class id (classification); null for regression. */
  labels: string[] | null;
  examples: DatasetExample[];
  skipped: SkippedDataRow[];
}

export interface ReadDatasetOptions {
  /** One or two text fields; default `text`, else `sentence1,sentence2`, else `sentence`. */
  textFields?: readonly string[];
  /** Default `label` (required for training and evaluation). */
  labelField?: string;
  /** A fixed label set (e.g. the one a trained diff records): other labels are bad rows. */
  labels?: readonly string[];
  /** Fixed or forced; default inferred: any non-integer numeric label means regression. */
  problemType?: ProblemType;
  /** False for prediction inputs: the label field may be absent (then every label is null). */
  requireLabels?: boolean;
  /** Skip unusable rows (counted in `skipped`) instead of throwing a `DataRowError`. */
  skipBadRows?: boolean;
}

/** Picks the text and label fields: given ones must exist; defaults as HF run_glue names them. */
export function resolveFields(
  table: Pick<Table, 'path' | 'columns'>,
  options: Pick<ReadDatasetOptions, 'textFields' | 'labelField'> = {},
): DatasetFields {
  const has = (name: string) => table.columns.includes(name);
  let textFields: [string] | [string, string];
  if (options.textFields && options.textFields.length > 0) {
    if (options.textFields.length > 2)
      throw new InvalidArgumentError({
        argument: '--text-fields',
        expected: 'one or two field names',
        found: options.textFields,
      });
    textFields = [...options.textFields] as [string] | [string, string];
  } else if (has('text')) textFields = ['text'];
  else if (has('sentence1') && has('sentence2')) textFields = ['sentence1', 'sentence2'];
  else if (has('sentence')) textFields = ['sentence'];
  else
    throw new InvalidArgumentError({
      argument: '--text-fields',
      expected:
        'the name of the text field(s) (no text, sentence1/sentence2 or sentence field to default to)',
      found: `fields ${table.columns.join(', ')}`,
      context: table.path,
    });
  return { textFields, labelField: options.labelField ?? 'label' };
}

/** A label as a class name: strings as they are, integers as decimal text. */
function labelName(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isInteger(value)) return String(value);
  if (typeof value === 'boolean') return String(value);
  return undefined;
}

/** A label as a number (regression): numbers, and numeric text (CSV/TSV fields are text). */
function labelNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value.trim() !== '') {
    const parsed = Number(value);
    return Number.isFinite(parsed) ? parsed : undefined;
  }
  return undefined;
}

/** Regression when every present label is numeric and one is not an integer; else classification. */
export function inferProblemType(values: readonly unknown[]): ProblemType {
  const present = values.filter((v) => v !== undefined && v !== null && v !== '');
  const numbers = present.map(labelNumber);
  if (
    present.length > 0 &&
    numbers.every((n) => n !== undefined) &&
    numbers.some((n) => !Number.isInteger(n))
  )
    return 'regression';
  return 'single_label_classification';
}

/** The sorted label set (as HF run_glue sorts it): numerically when every name is an integer. */
export function labelSet(values: readonly unknown[]): string[] {
  const names = [...new Set(values.map(labelName).filter((n): n is string => n !== undefined && n !== ''))];
  if (names.every((n) => /^-?\d+$/.test(n))) return names.sort((a, b) => Number(a) - Number(b));
  return names.sort();
}

const isText = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '';

/**
 * Reads a user's dataset file (JSONL, CSV, TSV or Parquet, by extension) into text pairs and labels.
 * A row with a missing or empty text field, a missing label, or a label outside the label set is a
 * `DataRowError` naming file, line and field — or, with `skipBadRows`, left out and listed in
 * `skipped`. Never silent.
 */
export async function readDataset(path: string, options: ReadDatasetOptions = {}): Promise<Dataset> {
  return datasetFromTable(await readTable(path), options);
}

/** {@link readDataset} on a table already read. */
export function datasetFromTable(table: Table, options: ReadDatasetOptions = {}): Dataset {
  const fields = resolveFields(table, options);
  const requireLabels = options.requireLabels ?? true;
  const hasLabels = requireLabels || table.columns.includes(fields.labelField);
  const rawLabels = hasLabels ? table.rows.map((row) => row.fields[fields.labelField]) : [];
  const problemType = options.problemType ?? inferProblemType(rawLabels);
  const labels =
    problemType === 'regression' ? null : options.labels ? [...options.labels] : labelSet(rawLabels);
  const labelIndex = new Map((labels ?? []).map((name, i) => [name, i]));
  const examples: DatasetExample[] = [];
  const skipped: SkippedDataRow[] = [];
  for (const row of table.rows) {
    const bad = (field: string, expected: string, found: unknown) => {
      if (!options.skipBadRows)
        throw new DataRowError({
          path: table.path,
          line: row.line,
          field,
          expected,
          found,
          hint: 'fix the row, or pass --skip-bad-rows to leave such rows out (they are counted)',
        });
      skipped.push({ path: table.path, line: row.line, field, reason: `expected ${expected}` });
    };
    const texts: string[] = [];
    let ok = true;
    for (const field of fields.textFields) {
      const value = row.fields[field];
      if (!isText(value)) {
        bad(field, value === undefined ? 'the field (it is missing)' : 'a non-empty text', value);
        ok = false;
        break;
      }
      texts.push(value);
    }
    if (!ok) continue;
    let label: number | null = null;
    if (hasLabels) {
      const value = row.fields[fields.labelField];
      if (problemType === 'regression') {
        const target = labelNumber(value);
        if (target === undefined) {
          bad(fields.labelField, value === undefined ? 'a label (it is missing)' : 'a numeric target', value);
          continue;
        }
        label = target;
      } else {
        const index = labelIndex.get(labelName(value) ?? '');
        if (index === undefined) {
          bad(
            fields.labelField,
            value === undefined || value === null || value === ''
              ? 'a label (it is missing)'
              : `a label in the label set (${labels!.join(', ')})`,
            value,
          );
          continue;
        }
        label = index;
      }
    }
    examples.push({ line: row.line, textA: texts[0]!, textB: texts[1] ?? null, label });
  }
  return { path: table.path, fields, problemType, labels, examples, skipped };
}

export interface LoadTrainingDataOptions extends Omit<ReadDatasetOptions, 'labels' | 'requireLabels'> {
  trainFile: string;
  /** A validation file; default a seeded split of the train file (`validationFraction` of it). */
  validationFile?: string;
  /** Share of the train file held out when no validation file is given; default 0.1. */
  validationFraction?: number;
  /** Seed of the split; default 42. */
  seed?: number;
}

export interface TrainingData {
  fields: DatasetFields;
  problemType: ProblemType;
  labels: string[] | null;
  train: DatasetExample[];
  validation: DatasetExample[];
  /** `file` (a validation file) or `split` (held out from the train file, seeded). */
  validationSource: 'file' | 'split';
  skipped: SkippedDataRow[];
}

/**
 * The train and validation sets of a user's task: the label set and problem type come from the
 * train file; the validation file must use the same fields and labels. Without a validation file a
 * seeded, shuffled `validationFraction` of the train rows is held out.
 */
export async function loadTrainingData(options: LoadTrainingDataOptions): Promise<TrainingData> {
  const { trainFile, validationFile, validationFraction = 0.1, seed = 42, ...read } = options;
  if (!(validationFraction > 0 && validationFraction < 1))
    throw new InvalidArgumentError({
      argument: '--validation-split',
      expected: 'a fraction in (0, 1)',
      found: validationFraction,
    });
  const train = await readDataset(trainFile, read);
  if (train.labels !== null && train.labels.length < 2)
    throw new InvalidArgumentError({
      argument: '--label-field',
      expected: 'at least two distinct labels for classification',
      found: train.labels,
      context: trainFile,
    });
  const common = { fields: train.fields, problemType: train.problemType, labels: train.labels };
  if (validationFile) {
    const validation = await readDataset(validationFile, {
      ...read,
      textFields: train.fields.textFields,
      labelField: train.fields.labelField,
      problemType: train.problemType,
      ...(train.labels ? { labels: train.labels } : {}),
    });
    return {
      ...common,
      train: train.examples,
      validation: validation.examples,
      validationSource: 'file',
      skipped: [...train.skipped, ...validation.skipped],
    };
  }
  const order = createRng(seed).shuffle(train.examples.map((_, i) => i));
  const held = Math.max(1, Math.round(order.length * validationFraction));
  if (order.length - held < 1)
    throw new InvalidArgumentError({
      argument: '--train-file',
      expected: 'at least two usable rows to split into train and validation',
      found: `${order.length} in ${trainFile}`,
    });
  const validationRows = new Set(order.slice(0, held));
  return {
    ...common,
    train: train.examples.filter((_, i) => !validationRows.has(i)),
    validation: train.examples.filter((_, i) => validationRows.has(i)),
    validationSource: 'split',
    skipped: train.skipped,
  };
}
