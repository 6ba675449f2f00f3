import * as tf from '@tensorflow/tfjs-core';

/** Runs fn with `backend` active, then restores the active backend (also when fn throws). */
export async function onBackend<T>(backend: string, fn: () => T | Promise<T>): Promise<T> {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  try {
    return await fn();
  } finally {
    await tf.setBackend(previous);
  }
}

/** Runs fn on a backend and returns its outputs as plain arrays; restores the active backend. */
export function runOn(backend: string, fn: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  return onBackend(backend, () => {
    const outputs = tf.tidy(() => {
      const result = fn();
      return Array.isArray(result) ? result : [result];
    });
    const values = outputs.map((output) => Float32Array.from(output.dataSync()));
    tf.dispose(outputs);
    return values;
  });
}

/**
 * Largest |a - b| / (1 + |b|) over two arrays of equal length (Infinity when the lengths differ);
 * equal values (infinities, NaN and NaN) count as exact.
 */
export function maxRelativeError(actual: Float32Array, expected: Float32Array): number {
  if (actual.length !== expected.length) return Number.POSITIVE_INFINITY;
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] === expected[i] || (Number.isNaN(actual[i]) && Number.isNaN(expected[i]))) continue;
    const error = Math.abs(actual[i]! - expected[i]!) / (1 + Math.abs(expected[i]!));
    if (!(error <= worst)) worst = error; // NaN propagates as a failure
  }
  return worst;
}

/** Deterministic uniform values in [-1, 1). */
export function randomValues(length: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = ((state >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}
