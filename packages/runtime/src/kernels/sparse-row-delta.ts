import { type SparseRowDeltaAttributes, sparseRowDeltaKernelName } from '@diffprune/core';
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import type { Memory } from './memory.js';

/**
 * `DiffpruneSparseRowDelta` in JS (contract in @diffprune/core's kernel-names.ts): each batch row's
 * sparse δ of a linear weight applied to its tokens, c[b, t, outs[p]] += values[p]·x[b, t, ins[p]] over
 * the pairs p ∈ [slotStarts[k], slotStarts[k + 1]) of row b's task slot k = rowSlots[b], in one pass
 * with no intermediate (the composite's gathers, scale and segment sum make a [pairs, seq] array and
 * cost 3× a BERT-Tiny forward). Registered on `cpu` and `wasm` (views of the heap); @diffprune/native
 * compiles the same sum (each slot's pairs once over all its rows' tokens).
 */
export function sparseRowDeltaInto(
  out: Float32Array,
  x: ArrayLike<number>,
  rowSlots: ArrayLike<number>,
  slotStarts: ArrayLike<number>,
  outs: ArrayLike<number>,
  ins: ArrayLike<number>,
  values: ArrayLike<number>,
  length: number,
  inFeatures: number,
  outFeatures: number,
): void {
  out.fill(0);
  const rowIn = length * inFeatures;
  const rowOut = length * outFeatures;
  for (let b = 0; b < rowSlots.length; b++) {
    const slot = rowSlots[b]!;
    const end = slotStarts[slot + 1]!;
    for (let p = slotStarts[slot]!; p < end; p++) {
      const v = values[p]!;
      let source = b * rowIn + ins[p]!;
      let target = b * rowOut + outs[p]!;
      for (let t = 0; t < length; t++, source += inFeatures, target += outFeatures)
        out[target]! += v * x[source]!;
    }
  }
}

export const sparseRowDeltaKernel = (backendName: string, memory: Memory): KernelConfig => ({
  kernelName: sparseRowDeltaKernelName,
  backendName,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, rowSlots, slotStarts, outs, ins, values } = inputs as Record<
      'x' | 'rowSlots' | 'slotStarts' | 'outs' | 'ins' | 'values',
      TensorInfo
    >;
    const { outFeatures } = attrs as unknown as SparseRowDeltaAttributes;
    const [batch, length, inFeatures] = x.shape as [number, number, number];
    const { outputs, outputViews, inputViews } = memory.run(
      backend,
      [[batch, length, outFeatures]],
      [x, rowSlots, slotStarts, outs, ins, values],
    );
    const [xs, rs, ss, os, is, vs] = inputViews as ArrayLike<number>[];
    sparseRowDeltaInto(outputViews[0]!, xs!, rs!, ss!, os!, is!, vs!, length, inFeatures, outFeatures);
    return outputs[0]!;
  },
});
