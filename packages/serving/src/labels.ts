import { type GlueTask, getTask } from '@diffprune/glue';
import type { SparseDiff } from '@diffprune/sparse-diff';

const isStrings = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((v) => typeof v === 'string');

/**
 * A task's label names, by index: the diff's own (`labels`, or HF's `id2label`, in its method
 * settings) when it records them for this head size; else the GLUE task's (the diff's provenance
 * task); else HF's default `LABEL_<i>`.
 */
export function taskLabels(diff: SparseDiff, numLabels: number): string[] {
  const settings = diff.provenance.settings ?? {};
  const recorded = settings.labels;
  if (isStrings(recorded) && recorded.length === numLabels) return [...recorded];
  const id2label = settings.id2label;
  if (typeof id2label === 'object' && id2label !== null) {
    const names = Array.from(
      { length: numLabels },
      (_, i) => (id2label as Record<string, unknown>)[String(i)],
    );
    if (isStrings(names)) return names;
  }
  let glue: GlueTask | undefined;
  try {
    glue = getTask(diff.provenance.task);
  } catch {
    glue = undefined; // not a GLUE task
  }
  if (glue && glue.labels.length === numLabels) return [...glue.labels];
  return Array.from({ length: numLabels }, (_, i) => `LABEL_${i}`);
}
