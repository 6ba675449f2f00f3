import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { float32Values, type KernelArgs, type NativeKernelContext, outputFloat32 } from './shared.js';

/**
 * `DiffpruneAdam`: one fused Adam step (PyTorch's formula, weight decay 0) for one parameter, the
 * same float32 operations in the same order as the tfjs ops it replaces:
 *   g' = g·gradScale;  m1 = β1·m + (1 − β1)·g';  v1 = β2·v + (1 − β2)·g'²;
 *   p1 = p − (m1 / (√v1 / √(1 − β2^t) + ε))·stepSize
 * with stepSize = lr / (1 − β1^t) and gradScale the global-norm clipping coefficient (1: none).
 * Inputs {p, m, v, g} (float32, one shape), attrs {beta1, beta2, stepSize, sqrtCorrection2, epsilon,
 * gradScale?, inPlace?}.
 *
 * Outputs: [p1, m1, v1] as new tensors; or, with `inPlace: true` and p, m and v each the only
 * tensor on its data (backend reference count 1, so no other tensor can see the change), none:
 * p, m and v are updated where they are, nothing is allocated. A caller asking for in place gets
 * new tensors whenever that condition fails, so it handles both. Registered for `native` only:
 * callers check `tf.getKernel(adamKernelName, tf.getBackend())` and otherwise use tfjs ops.
 */
export const adamKernelName = 'DiffpruneAdam';

export interface AdamKernelAttrs {
  beta1: number;
  beta2: number;
  stepSize: number;
  sqrtCorrection2: number;
  epsilon: number;
  gradScale?: number;
  inPlace?: boolean;
}

/** True when `info`'s data is a Float32Array that no other tensor shares. */
function exclusiveFloat32(backend: MathBackendCPU, info: TensorInfo): boolean {
  const entry = backend.data.get(info.dataId);
  return info.dtype === 'float32' && entry?.values instanceof Float32Array && entry.refCount === 1;
}

export const adam =
  (context: NativeKernelContext) =>
  ({ inputs, backend, attrs }: KernelArgs & { backend: MathBackendCPU }): TensorInfo[] => {
    const { p, m, v, g } = inputs as Record<'p' | 'm' | 'v' | 'g', TensorInfo>;
    const { beta1, beta2, stepSize, sqrtCorrection2, epsilon, gradScale, inPlace } =
      attrs as unknown as AdamKernelAttrs;
    const values = [p, m, v, g].map((tensor) => float32Values(backend, tensor));
    const size = values[0]?.length;
    if (values.some((array) => !array || array.length !== size)) {
      throw new Error(
        `${adamKernelName}: p, m, v and g must be float32 tensors of one size; found shapes ` +
          `${[p, m, v, g].map((t) => `${t.dtype}[${t.shape}]`).join(', ')}`,
      );
    }
    const [pValues, mValues, vValues, gValues] = values as Float32Array[];
    const distinct = new Set([p.dataId, m.dataId, v.dataId]).size === 3;
    const update =
      inPlace === true && distinct && [p, m, v].every((tensor) => exclusiveFloat32(backend, tensor));
    const outputs = update
      ? ([pValues!, mValues!, vValues!] as const)
      : ([
          outputFloat32(backend, size!),
          outputFloat32(backend, size!),
          outputFloat32(backend, size!),
        ] as const);
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
      gradScale ?? 1,
    );
    return update ? [] : outputs.map((array) => backend.makeTensorInfo(p.shape, 'float32', array));
  };

/**
 * `DiffpruneSumSquares`: Σ x² over every input (any names, float32, any shapes) in one pass per
 * input, nothing allocated but the float32 scalar result (accumulated in double). For global-norm
 * clipping: norm = √(the result).
 */
export const sumSquaresKernelName = 'DiffpruneSumSquares';

export const sumSquares =
  (context: NativeKernelContext) =>
  ({ inputs, backend }: KernelArgs & { backend: MathBackendCPU }): TensorInfo => {
    let total = 0;
    for (const [name, info] of Object.entries(inputs) as [string, TensorInfo][]) {
      const values = float32Values(backend, info);
      if (!values)
        throw new Error(`${sumSquaresKernelName}: input ${name} must be float32, found ${info.dtype}`);
      total += context.addon.sumSquares(values);
    }
    return backend.makeTensorInfo([], 'float32', new Float32Array([total]));
  };

/**
 * The expected-L0 penalty's kernels, under @diffprune/hard-concrete's names and contract (it uses a
 * backend's own registration when there is one):
 *   `DiffpruneSumSigmoid`:     {x} attrs {shift} → [Σ σ(x − shift) (scalar, double-accumulated), σ]
 *   `DiffpruneSumSigmoidGrad`: {dy (scalar), sigma} → [dy·σ(1 − σ)]
 * One pass each, with the vectorised exp, instead of Sigmoid + Sum and a JS loop.
 */
export const sumSigmoidKernelName = 'DiffpruneSumSigmoid';
export const sumSigmoidGradKernelName = 'DiffpruneSumSigmoidGrad';

export const sumSigmoid =
  (context: NativeKernelContext) =>
  ({ inputs, backend, attrs }: KernelArgs & { backend: MathBackendCPU }): TensorInfo[] => {
    const { x } = inputs as { x: TensorInfo };
    const values = float32Values(backend, x);
    if (!values) throw new Error(`${sumSigmoidKernelName}: x must be float32, found ${x.dtype}`);
    const sigma = outputFloat32(backend, values.length);
    const sum = context.addon.sumSigmoid(values, sigma, (attrs as unknown as { shift: number }).shift);
    return [
      backend.makeTensorInfo([], 'float32', new Float32Array([sum])),
      backend.makeTensorInfo(x.shape, 'float32', sigma),
    ];
  };

export const sumSigmoidGrad =
  (context: NativeKernelContext) =>
  ({ inputs, backend }: KernelArgs & { backend: MathBackendCPU }): TensorInfo => {
    const { dy, sigma } = inputs as { dy: TensorInfo; sigma: TensorInfo };
    const sigmaValues = float32Values(backend, sigma);
    const dyValues = float32Values(backend, dy);
    if (!sigmaValues || !dyValues || dyValues.length !== 1)
      throw new Error(
        `${sumSigmoidGradKernelName}: dy must be a float32 scalar and sigma float32; found ${dy.dtype}[${dy.shape}], ${sigma.dtype}`,
      );
    const dx = outputFloat32(backend, sigmaValues.length);
    context.addon.sumSigmoidGrad(sigmaValues, dx, dyValues[0]!);
    return backend.makeTensorInfo(sigma.shape, 'float32', dx);
  };
