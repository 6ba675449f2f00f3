import type { KernelConfig, TensorInfo, TypedArray } from '@tensorflow/tfjs-core';
import { util } from '@tensorflow/tfjs-core';

/**
 * Adds row r of `values` into row `segmentIds[r]` of `out` (which the caller has zeroed): the O(n)
 * scatter-add behind UnsortedSegmentSum. Out-of-range ids are dropped (tfjs semantics).
 */
export function scatterAddInto(
  out: TypedArray,
  values: TypedArray,
  segmentIds: TypedArray,
  numSegments: number,
  innerSize: number,
): void {
  const rows = segmentIds.length;
  for (let r = 0; r < rows; r++) {
    const segment = segmentIds[r] as number;
    if (segment < 0 || segment >= numSegments) continue;
    const src = r * innerSize;
    const dst = segment * innerSize;
    for (let j = 0; j < innerSize; j++) out[dst + j]! += values[src + j] as number;
  }
}

/**
 * UnsortedSegmentSum as an O(n) scatter-add. tfjs `cpu` loops over every segment (the whole
 * vocabulary for the embedding gradient), O(V·n); this is the kernel behind `tf.gather`'s gradient.
 */
export function scatterAddSegments(
  values: TypedArray,
  segmentIds: TypedArray,
  numSegments: number,
  innerSize: number,
): Float32Array {
  const out = new Float32Array(numSegments * innerSize);
  scatterAddInto(out, values, segmentIds, numSegments, innerSize);
  return out;
}

interface CpuLikeBackend {
  data: { get(dataId: object): { values: TypedArray } };
  makeTensorInfo(shape: number[], dtype: string, values: TypedArray): TensorInfo;
}

export function unsortedSegmentSumKernel(backendName: string): KernelConfig {
  return {
    kernelName: 'UnsortedSegmentSum',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
      const { numSegments } = attrs as unknown as { numSegments: number };
      const cpu = backend as unknown as CpuLikeBackend;
      const values = cpu.data.get(x.dataId).values;
      const ids = cpu.data.get(segmentIds.dataId).values;
      const outer = segmentIds.shape.reduce((a, b) => a * b, 1);
      const inner = util.sizeFromShape(x.shape) / Math.max(outer, 1);
      const out = scatterAddSegments(values, ids, numSegments, inner);
      return cpu.makeTensorInfo([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype, out);
    },
  };
}
