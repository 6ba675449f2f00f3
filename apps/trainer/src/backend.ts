import type { EventListener } from '@diffprune/core';
import { initBackend } from '@diffprune/runtime';
import type { ScatterAdd } from '@diffprune/sparse-diff';

/**
 * The apps choose the backend, once per process. tfjs-node is the apps' optional dependency: where
 * it installed (libtensorflow downloaded), it is used; elsewhere the runtime falls back to
 * `@diffprune/native` (also optional: its addon builds at install time where a compiler exists).
 */
export function startBackend(options: { backend?: string; threads?: number; onEvent?: EventListener } = {}) {
  return initBackend({
    // An unknown name is an InvalidArgumentError listing the valid ones (never a silent cpu fallback).
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.threads ? { threads: options.threads } : {}),
    loadTfjsNode: () => import('@tensorflow/tfjs-node'),
    // The compiled fast path, built by its install script where a C++ toolchain exists.
    loadNative: () => import('@diffprune/native'),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
}

/**
 * @diffprune/native's prefetching scatter-add for applying task diffs, or undefined where the
 * package or its addon is missing (applyDiff then uses its JS loop; the results are identical).
 */
export async function fastScatterAdd(): Promise<ScatterAdd | undefined> {
  try {
    return (await import('@diffprune/native')).nativeScatterAdd();
  } catch {
    return undefined;
  }
}
