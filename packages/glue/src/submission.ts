import { join } from 'node:path';
import { InvalidArgumentError, writeFileAtomic } from '@diffprune/core';
import type { GlueExample } from './read.js';
import { type GlueTask, getSplit, getTask } from './tasks.js';

export interface WriteSubmissionOptions {
  task: GlueTask | string;
  /** Test split; defaults to the task's only test split (MNLI: `test_matched` or `test_mismatched`). */
  split?: string;
  /** The test examples, as `readSplit` returned them (their ids become the `index` column). */
  examples: readonly Pick<GlueExample, 'id'>[];
  /** Class indices into `task.labels` (classification) or scores (STS-B), one per example. */
  predictions: ArrayLike<number>;
  /** Directory to write into; the file name is the server's (`SST-2.tsv`, `MNLI-m.tsv`, `AX.tsv` …). */
  directory: string;
  /** Allow fewer rows than the official test size (the server rejects such files). Default false. */
  allowIncomplete?: boolean;
}

export interface WriteSubmissionResult {
  path: string;
  rows: number;
}

/**
 * Writes test-set predictions in the GLUE server's format: one TSV per task (and per MNLI test
 * split) with a header `index\tprediction`; classification predictions as the label names the
 * server expects (`entailment`, `not_entailment`, `0`/`1` …), STS-B scores with three decimals.
 * Zip the directory holding all the files to submit. The file is written atomically.
 */
export async function writeSubmission(options: WriteSubmissionOptions): Promise<WriteSubmissionResult> {
  const task = typeof options.task === 'string' ? getTask(options.task) : options.task;
  const splitName = options.split ?? (task.testSplits.length === 1 ? task.testSplits[0] : undefined);
  if (splitName === undefined || !task.testSplits.includes(splitName)) {
    throw new InvalidArgumentError({
      argument: 'split',
      expected: `one of the test splits of ${task.displayName}: ${task.testSplits.join(', ')}`,
      found: options.split,
    });
  }
  const spec = getSplit(task, splitName);
  const { examples, predictions } = options;
  if (predictions.length !== examples.length) {
    throw new InvalidArgumentError({
      argument: 'predictions',
      expected: `one prediction per example (${examples.length})`,
      found: `${predictions.length} predictions`,
      context: 'writeSubmission',
    });
  }
  if (!options.allowIncomplete && examples.length !== spec.expectedRows) {
    throw new InvalidArgumentError({
      argument: 'examples',
      expected: `the full ${task.displayName} ${splitName} set (${spec.expectedRows} examples; pass allowIncomplete to write fewer)`,
      found: `${examples.length} examples`,
      context: 'writeSubmission',
    });
  }
  const lines = ['index\tprediction'];
  for (let i = 0; i < examples.length; i++) {
    const value = predictions[i] as number;
    let prediction: string;
    if (task.kind === 'regression') {
      if (!Number.isFinite(value)) {
        throw new InvalidArgumentError({
          argument: `predictions[${i}]`,
          expected: 'a finite score',
          found: value,
          context: 'writeSubmission',
        });
      }
      prediction = value.toFixed(3);
    } else {
      const label = Number.isInteger(value) ? task.labels[value] : undefined;
      if (label === undefined) {
        throw new InvalidArgumentError({
          argument: `predictions[${i}]`,
          expected: `a class index in [0, ${task.numLabels})`,
          found: value,
          context: 'writeSubmission',
        });
      }
      prediction = label;
    }
    lines.push(`${(examples[i] as Pick<GlueExample, 'id'>).id}\t${prediction}`);
  }
  const path = join(options.directory, task.submissionFiles[splitName] as string);
  await writeFileAtomic(path, `${lines.join('\n')}\n`);
  return { path, rows: examples.length };
}
