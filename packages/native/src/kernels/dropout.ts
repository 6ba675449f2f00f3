import type { DropoutMaskAttributes } from '@diffprune/core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { type KernelArgs, type NativeKernelContext, outputFloat32, sizeOf } from './shared.js';

/**
 * @diffprune/core's `DiffpruneDropoutMask` (no inputs; attrs {shape, rate, seed} → the float32 scaled
 * mask), compiled (csrc/dropout.cc): the same counter-based uniforms and threshold as core's
 * `fillDropoutMask`, bit-identical to it (tested), vectorised and split over the thread pool. The
 * name comes from core (`dropoutMaskKernelName`; core is a runtime dependency of this package, so
 * unlike hard-concrete's gate kernels it needs no mirrored constant); core's `dropoutMask` validates
 * the attrs and uses this kernel on `native`.
 */
export const dropoutMask =
  (context: NativeKernelContext) =>
  ({ backend, attrs }: KernelArgs & { backend: MathBackendCPU }): TensorInfo => {
    const { shape, rate, seed } = attrs as unknown as DropoutMaskAttributes;
    const out = outputFloat32(backend, sizeOf(shape));
    context.addon.dropoutMask(out, seed, rate);
    return backend.makeTensorInfo(shape, 'float32', out);
  };
