import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { float32Values, type KernelArgs, type NativeKernelContext, outputFloat32, sizeOf } from './shared.js';

/**
 * @diffprune/core's `DiffpruneSparseRowLinear` ({x, weight, rowSlots, slotStarts, outs, ins, values}
 * and optionally {bias} → y [batch, length, outFeatures], each row's x·(W + δ of its slot)ᵀ + bias),
 * compiled (csrc/sparse_delta.cc): per slot with rows, its δ added into a thread's scratch copy of
 * Wᵀ, one GEMM of the slot's tokens against it, the scratch restored; slots (and large slots' token
 * blocks) split over the thread pool. Inference only (no gradient kernel).
 */
export const sparseRowLinear =
  (context: NativeKernelContext) =>
  ({ inputs, backend }: KernelArgs & { backend: MathBackendCPU }): TensorInfo => {
    const { x, weight, rowSlots, slotStarts, outs, ins, values, bias } = inputs as Record<
      'x' | 'weight' | 'rowSlots' | 'slotStarts' | 'outs' | 'ins' | 'values',
      TensorInfo
    > & { bias?: TensorInfo };
    const [batch, length, inFeatures] = x.shape as [number, number, number];
    const outFeatures = weight.shape[0]!;
    const shape = [batch, length, outFeatures];
    const out = outputFloat32(backend, sizeOf(shape));
    const int32 = (info: TensorInfo) => backend.data.get(info.dataId).values as Int32Array;
    context.addon.sparseRowLinear(
      out,
      float32Values(backend, x)!,
      float32Values(backend, weight)!,
      bias ? float32Values(backend, bias)! : null,
      int32(rowSlots),
      int32(slotStarts),
      int32(outs),
      int32(ins),
      float32Values(backend, values)!,
      batch,
      length,
      inFeatures,
      outFeatures,
    );
    return backend.makeTensorInfo(shape, 'float32', out);
  };
