import { type SlotDelta, type SparseRowDeltaAttributes, sparseRowDeltaKernelName } from '@diffprune/core';
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import type { Memory } from './memory.js';

/**
 * `DiffpruneSparseRowDelta` in JS (contract in @diffprune/core's kernel-names.ts): each batch row's
 * sparse δ of a linear weight applied to its tokens, c[b, t, i] += values[e]·x[b, t, j] over the
 * entries e (position i·inFeatures + j) of row b's task slot δ, deltas[rowSlots[b]], in one pass with
 * no intermediate (the composite's gathers, scale and segment sum make an [entries, seq] array and
 * cost 3× a BERT-Tiny forward). Registered on `cpu` and `wasm` (views of the heap); @diffprune/native
 * compiles the same sum (each slot's entries once over all its rows' tokens).
 */
export function sparseRowDeltaInto(
  out: Float32Array,
  x: ArrayLike<number>,
  rowSlots: ArrayLike<number>,
  deltas: readonly (SlotDelta | undefined)[],
  length: number,
  inFeatures: number,
  outFeatures: number,
): void {
  out.fill(0);
  const rowIn = length * inFeatures;
  const rowOut = length * outFeatures;
  for (let b = 0; b < rowSlots.length; b++) {
    const delta = deltas[rowSlots[b]!];
    if (!delta) continue;
    const { indices, values } = delta;
    for (let e = 0; e < indices.length; e++) {
      const v = values[e]!;
      const flat = indices[e]!;
      const i = Math.floor(flat / inFeatures);
      let source = b * rowIn + (flat - i * inFeatures);
      let target = b * rowOut + i;
      for (let t = 0; t < length; t++, source += inFeatures, target += outFeatures)
        out[target]! += v * x[source]!;
    }
  }
}

export const sparseRowDeltaKernel = (backendName: string, memory: Memory): KernelConfig => ({
  kernelName: sparseRowDeltaKernelName,
  backendName,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, rowSlots } = inputs as Record<'x' | 'rowSlots', TensorInfo>;
    const { outFeatures, deltas } = attrs as unknown as SparseRowDeltaAttributes;
    const [batch, length, inFeatures] = x.shape as [number, number, number];
    const { outputs, outputViews, inputViews } = memory.run(
      backend,
      [[batch, length, outFeatures]],
      [x, rowSlots],
    );
    const [xs, rs] = inputViews as ArrayLike<number>[];
    sparseRowDeltaInto(outputViews[0]!, xs!, rs!, deltas, length, inFeatures, outFeatures);
    return outputs[0]!;
  },
});
