import type { SparseRowLinearAttributes } from '@diffprune/core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { float32Values, type KernelArgs, type NativeKernelContext, outputFloat32, sizeOf } from './shared.js';

/**
 * @diffprune/core's `DiffpruneSparseRowLinear` ({x, weight, rowSlots} and optionally {bias}, attrs
 * {deltas} → y [batch, length, outFeatures], each row's x·(W + δ of its slot)ᵀ + bias), compiled
 * (csrc/sparse_delta.cc): per slot with rows, its δ added into a thread's packed copy of Wᵀ, one GEMM
 * of the slot's tokens against it, the copy restored; slots (and large slots' token blocks) split over
 * the thread pool; the δs are read in place. Inference only (no gradient kernel).
 */
export const sparseRowLinear =
  (context: NativeKernelContext) =>
  ({ inputs, backend, attrs }: KernelArgs & { backend: MathBackendCPU }): TensorInfo => {
    const { x, weight, rowSlots, bias } = inputs as Record<'x' | 'weight' | 'rowSlots', TensorInfo> & {
      bias?: TensorInfo;
    };
    const { deltas } = attrs as unknown as SparseRowLinearAttributes;
    const [batch, length, inFeatures] = x.shape as [number, number, number];
    const outFeatures = weight.shape[0]!;
    const shape = [batch, length, outFeatures];
    const out = outputFloat32(backend, sizeOf(shape));
    context.addon.sparseRowLinear(
      out,
      float32Values(backend, x)!,
      float32Values(backend, weight)!,
      bias ? float32Values(backend, bias)! : null,
      backend.data.get(rowSlots.dataId).values as Int32Array,
      deltas,
      batch,
      length,
      inFeatures,
      outFeatures,
    );
    return backend.makeTensorInfo(shape, 'float32', out);
  };
