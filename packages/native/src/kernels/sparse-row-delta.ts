import type { SparseRowDeltaAttributes } from '@diffprune/core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { float32Values, type KernelArgs, type NativeKernelContext, outputFloat32, sizeOf } from './shared.js';

/**
 * @diffprune/core's `DiffpruneSparseRowDelta` ({x, rowSlots, slotStarts, outs, ins, values} attrs
 * {outFeatures} → the per-row correction [batch, length, outFeatures]), compiled (csrc/sparse_delta.cc):
 * each task slot's pairs run once over all the tokens of that slot's rows (chunks of up to 64 tokens,
 * vectorised axpys), the chunks split over the thread pool. Inference only (no gradient kernel).
 */
export const sparseRowDelta =
  (context: NativeKernelContext) =>
  ({ inputs, backend, attrs }: KernelArgs & { backend: MathBackendCPU }): TensorInfo => {
    const { x, rowSlots, slotStarts, outs, ins, values } = inputs as Record<
      'x' | 'rowSlots' | 'slotStarts' | 'outs' | 'ins' | 'values',
      TensorInfo
    >;
    const { outFeatures } = attrs as unknown as SparseRowDeltaAttributes;
    const [batch, length, inFeatures] = x.shape as [number, number, number];
    const shape = [batch, length, outFeatures];
    const out = outputFloat32(backend, sizeOf(shape));
    const int32 = (info: TensorInfo) => backend.data.get(info.dataId).values as Int32Array;
    context.addon.sparseRowDelta(
      out,
      float32Values(backend, x)!,
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
