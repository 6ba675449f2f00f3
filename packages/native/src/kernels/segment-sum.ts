import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { float32Values, type KernelArgs, type NativeKernelContext, outputFloat32, sizeOf } from './shared.js';

/**
 * UnsortedSegmentSum (the gradient of `tf.gather`, i.e. of the embedding lookup) as an O(n)
 * scatter-add; tfjs cpu loops over every segment (the whole vocabulary).
 */
export const unsortedSegmentSum =
  (context: NativeKernelContext) =>
  ({ inputs, backend, attrs }: KernelArgs & { backend: MathBackendCPU }) => {
    const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
    const { numSegments } = attrs as unknown as { numSegments: number };
    const values = float32Values(backend, x);
    if (!values) return context.cpu('UnsortedSegmentSum')({ inputs, backend, attrs }) as TensorInfo;
    const rawIds = backend.data.get(segmentIds.dataId).values;
    const ids = rawIds instanceof Int32Array ? rawIds : Int32Array.from(rawIds as ArrayLike<number>);
    const rows = sizeOf(segmentIds.shape);
    const innerShape = x.shape.slice(segmentIds.shape.length);
    const inner = sizeOf(innerShape);
    const out = outputFloat32(backend, numSegments * inner, true); // a sum: starts from zero
    if (rows > 0 && inner > 0) context.addon.segmentSum(values, ids.subarray(0, rows), out, inner);
    return backend.makeTensorInfo([numSegments, ...innerShape], 'float32', out);
  };
