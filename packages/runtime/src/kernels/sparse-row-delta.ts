import { type SparseRowDeltaAttributes, sparseRowDeltaKernelName } from '@diffprune/core';
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import type { Memory } from './memory.js';

/**
 * `DiffpruneSparseRowDelta` in JS (contract in @diffprune/core's kernel-names.ts): each batch row's
 * sparse δ of a linear weight applied to its tokens, c[b, t, outs[p]] += values[p]·x[b, t, ins[p]] over
 * the pairs p of row b = rows[p], in one pass with no intermediate (the composite's gather, scale
 * and segment sum make a [P, seq] array and cost 3× a BERT-Tiny forward). Registered on `cpu` and
 * `wasm` (views of the heap); @diffprune/native compiles the same loop.
 */
export function sparseRowDeltaInto(
  out: Float32Array,
  x: ArrayLike<number>,
  rows: ArrayLike<number>,
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
  for (let p = 0; p < rows.length; p++) {
    const v = values[p]!;
    let source = rows[p]! * rowIn + ins[p]!;
    let target = rows[p]! * rowOut + outs[p]!;
    for (let t = 0; t < length; t++, source += inFeatures, target += outFeatures)
      out[target]! += v * x[source]!;
  }
}

export const sparseRowDeltaKernel = (backendName: string, memory: Memory): KernelConfig => ({
  kernelName: sparseRowDeltaKernelName,
  backendName,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, rows, outs, ins, values } = inputs as Record<
      'x' | 'rows' | 'outs' | 'ins' | 'values',
      TensorInfo
    >;
    const { outFeatures } = attrs as unknown as SparseRowDeltaAttributes;
    const [batch, length, inFeatures] = x.shape as [number, number, number];
    const { outputs, outputViews, inputViews } = memory.run(
      backend,
      [[batch, length, outFeatures]],
      [x, rows, outs, ins, values],
    );
    const [xs, rs, os, is, vs] = inputViews as ArrayLike<number>[];
    sparseRowDeltaInto(outputViews[0]!, xs!, rs!, os!, is!, vs!, length, inFeatures, outFeatures);
    return outputs[0]!;
  },
});
