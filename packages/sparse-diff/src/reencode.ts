import { checkIndexEncoding } from './checks.js';
import type { DiffTensor, IndexEncoding, SparseDiff, ValueDtype } from './types.js';
import { parseValueDtype, storedValues } from './values.js';

export interface ReencodeDiffOptions {
  /** Value dtype of every tensor (sparse δ and dense tensors); default: each tensor's own. */
  valueDtype?: ValueDtype;
  /** Index encoding of every sparse tensor; default: each tensor's own. */
  indexEncoding?: IndexEncoding;
}

/**
 * The same diff stored another way: values re-rounded to `valueDtype` (from the values as stored: F16
 * → F32 does not bring back the lost bits), indices re-encoded. Positions, names, shapes and the
 * provenance (base, method, task, creation time, settings) are kept; `settings.valueDtype` and
 * `settings.indexEncoding`, when the settings record them, are updated to the new encoding.
 */
export function reencodeDiff(diff: SparseDiff, options: ReencodeDiffOptions): SparseDiff {
  const valueDtype = options.valueDtype ? parseValueDtype(options.valueDtype) : undefined;
  const indexEncoding = options.indexEncoding ? checkIndexEncoding(options.indexEncoding) : undefined;
  const tensors = diff.tensors.map((t): DiffTensor => {
    const dtype = valueDtype ?? t.valueDtype;
    const { scale: _old, ...rest } = t;
    const stored = storedValues(t.values, dtype);
    if (t.kind === 'sparse')
      return {
        ...rest,
        kind: 'sparse',
        indices: t.indices,
        indexEncoding: indexEncoding ?? t.indexEncoding,
        valueDtype: dtype,
        ...stored,
      } as DiffTensor;
    return { ...rest, valueDtype: dtype, ...stored } as DiffTensor;
  });
  const settings = { ...diff.provenance.settings };
  if (valueDtype && 'valueDtype' in settings) settings.valueDtype = valueDtype;
  if (indexEncoding && 'indexEncoding' in settings) settings.indexEncoding = indexEncoding;
  return { ...diff, provenance: { ...diff.provenance, settings }, tensors };
}
