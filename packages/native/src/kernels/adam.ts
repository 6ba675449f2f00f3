import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { float32Values, type KernelArgs, type NativeKernelContext } from './shared.js';

/**
 * `DiffpruneAdam`: one fused Adam step (PyTorch's formula, weight decay 0) for one parameter, the
 * same float32 operations in the same order as the tfjs ops it replaces:
 *   m1 = β1·m + (1 − β1)·g;  v1 = β2·v + (1 − β2)·g²;  p1 = p − (m1 / (√v1 / √(1 − β2^t) + ε))·stepSize
 * with stepSize = lr / (1 − β1^t). Inputs {p, m, v, g} (float32, one shape), attrs {beta1, beta2,
 * stepSize, sqrtCorrection2, epsilon}; outputs [p1, m1, v1] (new tensors). Registered for `native`
 * only: callers check `tf.getKernel(adamKernelName, tf.getBackend())` and otherwise use tfjs ops.
 */
export const adamKernelName = 'DiffpruneAdam';

export interface AdamKernelAttrs {
  beta1: number;
  beta2: number;
  stepSize: number;
  sqrtCorrection2: number;
  epsilon: number;
}

export const adam =
  (context: NativeKernelContext) =>
  ({ inputs, backend, attrs }: KernelArgs & { backend: MathBackendCPU }): TensorInfo[] => {
    const { p, m, v, g } = inputs as Record<'p' | 'm' | 'v' | 'g', TensorInfo>;
    const { beta1, beta2, stepSize, sqrtCorrection2, epsilon } = attrs as unknown as AdamKernelAttrs;
    const values = [p, m, v, g].map((tensor) => float32Values(backend, tensor));
    const size = values[0]?.length;
    if (values.some((array) => !array || array.length !== size)) {
      throw new Error(
        `${adamKernelName}: p, m, v and g must be float32 tensors of one size; found shapes ` +
          `${[p, m, v, g].map((t) => `${t.dtype}[${t.shape}]`).join(', ')}`,
      );
    }
    const [pValues, mValues, vValues, gValues] = values as Float32Array[];
    const outputs = [new Float32Array(size!), new Float32Array(size!), new Float32Array(size!)] as const;
    context.addon.adam(
      pValues!,
      mValues!,
      vValues!,
      gValues!,
      ...outputs,
      beta1,
      1 - beta1,
      beta2,
      1 - beta2,
      stepSize,
      sqrtCorrection2,
      epsilon,
    );
    return outputs.map((array) => backend.makeTensorInfo(p.shape, 'float32', array));
  };
