import type { SparseRowDeltaAttributes } from '@diffprune/core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { float32Values, type KernelArgs, type NativeKernelContext, outputFloat32, sizeOf } from './shared.js';

/**
 * @diffprune/core's `DiffpruneSparseRowDelta` ({x, rowSlots}, attrs {outFeatures, deltas} → the per-row
 * correction [batch, length, outFeatures]), compiled (csrc/sparse_delta.cc): each task slot's δ runs
 * once over all the tokens of that slot's rows (chunks of up to 64 tokens, vectorised axpys), the
 * chunks split over the thread pool; the δs are read in place. Inference only (no gradient kernel).
 */
export const sparseRowDelta =
  (context: NativeKernelContext) =>
  ({ inputs, backend, attrs }: KernelArgs & { backend: MathBackendCPU }): TensorInfo => {
    const { x, rowSlots } = inputs as Record<'x' | 'rowSlots', TensorInfo>;
    const { outFeatures, deltas } = attrs as unknown as SparseRowDeltaAttributes;
    const [batch, length, inFeatures] = x.shape as [number, number, number];
    const shape = [batch, length, outFeatures];
    const out = outputFloat32(backend, sizeOf(shape));
    context.addon.sparseRowDelta(
      out,
      float32Values(backend, x)!,
      backend.data.get(rowSlots.dataId).values as Int32Array,
      deltas,
      batch,
      length,
      inFeatures,
      outFeatures,
    );
    return backend.makeTensorInfo(shape, 'float32', out);
  };
