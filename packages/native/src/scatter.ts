import { loadAddon } from './addon.js';

/** `target[indices[i]] += values[i]·scale` (the shape of @diffprune/sparse-diff's `ScatterAdd`). */
export type NativeScatterAdd = (
  target: Float32Array,
  indices: Uint32Array,
  values: Float32Array,
  scale: 1 | -1,
) => void;

/**
 * The addon's scatter-add for `applyDiff` / `revertDiff` (option `scatterAdd`), or undefined where
 * the addon was not built. Each add of a task diff is a cache miss somewhere in the parameter set;
 * the compiled loop prefetches a fixed distance ahead, so many misses are in flight at once (a JS
 * loop waits for each). Indices must be strictly increasing and in range: checked, a violation
 * throws before anything is written.
 */
export function nativeScatterAdd(): NativeScatterAdd | undefined {
  let addon: ReturnType<typeof loadAddon>;
  try {
    addon = loadAddon();
  } catch {
    return undefined;
  }
  return (target, indices, values, scale) => addon.scatterAdd(target, indices, values, scale);
}
