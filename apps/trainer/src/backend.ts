import { type BackendInfo, type EventListener, initBackend } from '@diffprune/core';

/**
 * The apps choose the backend, once per process. tfjs-node is the apps' optional dependency: where
 * it installed (libtensorflow downloaded), it is used; elsewhere the runtime falls back.
 */
export function startBackend(options: { backend?: string; threads?: number; onEvent?: EventListener } = {}) {
  return initBackend({
    ...(options.backend ? { backend: options.backend as BackendInfo['backend'] | 'auto' } : {}),
    ...(options.threads ? { threads: options.threads } : {}),
    loadTfjsNode: () => import('@tensorflow/tfjs-node'),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });
}
