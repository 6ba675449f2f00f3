import { FormatError } from '@diffprune/core';

/** A config.json object of `modelType`, or a `FormatError` naming the file and `model_type`. */
export function configObject(json: unknown, modelType: string, path: string): Record<string, unknown> {
  const raw = (typeof json === 'object' && json !== null && !Array.isArray(json) ? json : {}) as Record<
    string,
    unknown
  >;
  if (raw.model_type !== modelType) {
    throw new FormatError({
      path,
      what: 'model_type',
      expected: JSON.stringify(modelType),
      found: JSON.stringify(raw.model_type) ?? String(json),
    });
  }
  return raw;
}

/** `classifier_dropout` (null/absent: `fallback`, HF's hidden dropout), a number in [0, 1). */
export function classifierDropout(raw: Record<string, unknown>, fallback: number, path: string): number {
  const dropout = raw.classifier_dropout;
  if (dropout === undefined || dropout === null) return fallback;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) {
    throw new FormatError({
      path,
      what: 'classifier_dropout',
      expected: 'null or a number in [0, 1)',
      found: JSON.stringify(dropout),
    });
  }
  return dropout;
}
