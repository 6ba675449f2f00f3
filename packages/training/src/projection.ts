import { InvalidArgumentError } from '@diffprune/core';

export type DeltaArrays = Record<string, Float32Array>;

export interface Projection {
  /** Per tensor: 1 where the entry is kept. */
  masks: Record<string, Uint8Array>;
  kept: number;
  total: number;
  /** The smallest |δ| kept. */
  threshold: number;
}

/** The k-th largest value of `values` (k ≥ 1), by quickselect on a copy: O(n). */
export function kthLargest(values: Float32Array, k: number): number {
  const a = values.slice();
  const target = a.length - k; // index of the k-th largest in ascending order
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >>> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
  return a[target]!;
}

/**
 * Projection onto the L0 ball (stage 2): keeps exactly `round(targetDensity · n)` entries with the
 * largest |δ| over all the given tensors together (the authors' code bisects a threshold; exact top-k
 * is the cleaner equivalent). Ties at the threshold are broken by tensor order, then position.
 */
/**
 * Kept entries whose δ is 0 store nothing: when ties at zero fill the budget, the diff holds fewer
 * nonzeros than "kept" says (issue #15: "kept 1.000 %" while storing 0.006 %). The number of kept
 * entries with a nonzero δ.
 */
export function keptNonzero(deltas: DeltaArrays, masks: Record<string, ArrayLike<number>>): number {
  let count = 0;
  for (const [name, mask] of Object.entries(masks)) {
    const delta = deltas[name];
    if (!delta) continue;
    for (let i = 0; i < mask.length; i++) if (mask[i] === 1 && delta[i] !== 0) count++;
  }
  return count;
}

export function projectTopK(deltas: DeltaArrays, targetDensity: number): Projection {
  if (!(targetDensity > 0 && targetDensity <= 1)) {
    throw new InvalidArgumentError({
      argument: 'targetDensity',
      expected: 'a number in (0, 1]',
      found: targetDensity,
    });
  }
  const names = Object.keys(deltas);
  let total = 0;
  for (const name of names) total += deltas[name]!.length;
  const k = Math.min(total, Math.max(1, Math.round(targetDensity * total)));
  const magnitudes = new Float32Array(total);
  let offset = 0;
  for (const name of names) {
    const d = deltas[name]!;
    for (let i = 0; i < d.length; i++) magnitudes[offset + i] = Math.abs(d[i]!);
    offset += d.length;
  }
  const threshold = kthLargest(magnitudes, k);
  let above = 0;
  for (let i = 0; i < total; i++) if (magnitudes[i]! > threshold) above++;
  let tiesToKeep = k - above;
  const masks: Record<string, Uint8Array> = {};
  offset = 0;
  for (const name of names) {
    const n = deltas[name]!.length;
    const mask = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const m = magnitudes[offset + i]!;
      if (m > threshold) mask[i] = 1;
      else if (m === threshold && tiesToKeep > 0) {
        mask[i] = 1;
        tiesToKeep--;
      }
    }
    masks[name] = mask;
    offset += n;
  }
  return { masks, kept: k, total, threshold };
}
