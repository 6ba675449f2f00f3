// Helpers for this package's tests and benchmark (not exported from the package).
import { createRng, type Rng } from '@diffprune/core';
import type { DiffProvenance, TensorArrays } from './types.js';

export const testProvenance = (fingerprint = 'ab'.repeat(32)): DiffProvenance => ({
  baseModel: { id: 'test/base', revision: 'r1' },
  baseFingerprint: fingerprint,
  method: 'test',
  settings: { lambda: 1.25e-7, nested: { a: [1, 2] } },
  task: 'unit',
});

/** k distinct sorted positions in [0, n). */
export function randomPositions(rng: Rng, n: number, k: number): Uint32Array {
  const out = new Uint32Array(k);
  if (k > n / 8) {
    // Selection sampling (Knuth's algorithm S): exact k, sorted, O(n).
    let chosen = 0;
    for (let i = 0; i < n && chosen < k; i++) if ((n - i) * rng.uniform() < k - chosen) out[chosen++] = i;
    return out;
  }
  const set = new Set<number>();
  while (set.size < k) set.add(rng.int(n));
  out.set([...set].sort((a, b) => a - b));
  return out;
}

export function randomTensors(rng: Rng, shapes: Record<string, number[]>, scale = 0.02): TensorArrays {
  const out: TensorArrays = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) values[i] = rng.normal() * scale;
    out[name] = { shape, values };
  }
  return out;
}

/** A copy of `base` with entries changed at `density` (δ of magnitude 1e-3…1e-2, random sign). */
export function perturb(rng: Rng, base: TensorArrays, density: number) {
  const tuned: TensorArrays = {};
  const changed: Record<string, Uint32Array> = {};
  for (const [name, t] of Object.entries(base)) {
    const values = t.values.slice();
    const k = Math.round(values.length * density);
    const positions = randomPositions(rng, values.length, k);
    for (const p of positions)
      values[p] = values[p]! + (rng.uniform() < 0.5 ? -1 : 1) * (1e-3 + rng.uniform() * 9e-3);
    tuned[name] = { shape: [...t.shape], values };
    changed[name] = positions;
  }
  return { tuned, changed };
}

export const concat = (chunks: readonly Uint8Array[]) => {
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.byteLength, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
};

export { createRng };

/** The first index where two arrays differ (Object.is semantics for NaN/−0 aside), or −1. Fast for big arrays. */
export function firstMismatch(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++)
    if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return i;
  return -1;
}
