import type { IndexEncoding, SparseDiff, ValueDtype } from '@diffprune/sparse-diff';

/**
 * How `runTraining` stores δ by default: F16 values (head included) and varint-delta indices. Chosen
 * by measurement (the training README's table: F16 changed no dev prediction on the six GLUE tasks
 * measured, at about 3 bytes per nonzero instead of 5 for F32).
 */
export const defaultDiffEncoding: { valueDtype: ValueDtype; indexEncoding: IndexEncoding } = {
  valueDtype: 'F16',
  indexEncoding: 'varint-delta',
};

/**
 * The class names a task diff records (`provenance.settings.labels`, written by `runTraining`), when
 * they match the head's size; undefined for regression or diffs without them.
 */
export function diffLabels(diff: SparseDiff, numLabels?: number): string[] | undefined {
  const labels = diff.provenance.settings.labels;
  if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string')) return undefined;
  if (numLabels !== undefined && labels.length !== numLabels) return undefined;
  return labels as string[];
}

/**
 * The text and label fields a task diff was trained with (`provenance.settings.data`, written by
 * `runTraining` for a user's dataset), so that eval and predict read files the same way by default.
 */
export function diffDataFields(diff: SparseDiff): { textFields?: string[]; labelField?: string } {
  const data = diff.provenance.settings.data as { textFields?: unknown; labelField?: unknown } | undefined;
  if (typeof data !== 'object' || data === null) return {};
  const textFields =
    Array.isArray(data.textFields) && data.textFields.every((f) => typeof f === 'string')
      ? (data.textFields as string[])
      : undefined;
  return {
    ...(textFields ? { textFields } : {}),
    ...(typeof data.labelField === 'string' ? { labelField: data.labelField } : {}),
  };
}
