import type { IndexEncoding, SparseDiff, ValueDtype } from '@diffprune/sparse-diff';

/**
 * How `runTraining` stores δ by default: F16 values (head included) and Elias–Fano indices. Chosen
 * by measurement (the training README's table: F16 changed 1 of 4,171 dev predictions over six GLUE
 * tasks, I8 changed 7 — 4 of RTE's 277 — and Elias–Fano saves ~0.3 bytes per nonzero over
 * varint-delta at 0.5 % density).
 */
export const defaultDiffEncoding: { valueDtype: ValueDtype; indexEncoding: IndexEncoding } = {
  valueDtype: 'F16',
  indexEncoding: 'elias-fano',
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
