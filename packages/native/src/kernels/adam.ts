import {
  type AdamKernelAttributes,
  adamKernelName,
  type SumSigmoidAttributes,
  sumSigmoidGradKernelName,
  sumSigmoidKernelName,
  sumSquaresKernelName,
} from '@diffprune/core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { float32Values, type KernelArgs, type NativeKernelContext, outputFloat32 } from './shared.js';

/**
 * `DiffpruneAdam`: one fused Adam step (PyTorch's formula, weight decay 0) for one parameter or many,
 * the same float32 operations in the same order as the tfjs ops it replaces:
 *   g' = g·gradScale;  m1 = β1·m + (1 − β1)·g';  v1 = β2·v + (1 − β2)·g'²;
 *   p1 = p − (m1 / (√v1 / √(1 − β2^t) + ε))·stepSize
 * with stepSize = lr / (1 − β1^t) and gradScale the global-norm clipping coefficient (1: none).
 * Inputs: {p, m, v, g} (float32, one shape), or a list of such quadruples [p0, m0, v0, g0, p1, …] (one
 * kernel call for a whole optimiser group: a step over BERT-Tiny's 200 tensors is then one call, not
 * 200); attrs {beta1, beta2, stepSize, sqrtCorrection2, epsilon, gradScale?, inPlace?}.
 *
 * Outputs: [p1, m1, v1] per parameter as new tensors; or, with `inPlace: true` and every p, m and v
 * the only tensor on its data (backend reference count 1, so no other tensor can see the change),
 * none: each p, m and v is updated where it is, nothing is allocated. A caller asking for in place
 * gets new tensors (for every parameter) whenever that condition fails, so it handles both.
 * Registered for `native` only: callers check `tf.getKernel(adamKernelName, tf.getBackend())` and
 * otherwise use tfjs ops.
 */

/** True when `info`'s data is a Float32Array that no other tensor shares. */
function exclusiveFloat32(backend: MathBackendCPU, info: TensorInfo): boolean {
  const entry = backend.data.get(info.dataId);
  return info.dtype === 'float32' && entry?.values instanceof Float32Array && entry.refCount === 1;
}

export const adam =
  (context: NativeKernelContext) =>
  ({ inputs, backend, attrs }: KernelArgs & { backend: MathBackendCPU }): TensorInfo[] => {
    const { beta1, beta2, stepSize, sqrtCorrection2, epsilon, gradScale, inPlace } =
      attrs as unknown as AdamKernelAttributes;
    const list = Object.values(inputs) as TensorInfo[];
    if (list.length === 0 || list.length % 4 !== 0) {
      throw new Error(
        `${adamKernelName}: inputs must be (p, m, v, g) quadruples; found ${list.length} inputs`,
      );
    }
    const parameters: { p: TensorInfo; values: Float32Array[] }[] = [];
    const seen = new Set<object>();
    let exclusive = inPlace === true;
    for (let k = 0; k < list.length; k += 4) {
      const [p, m, v, g] = list.slice(k, k + 4) as [TensorInfo, TensorInfo, TensorInfo, TensorInfo];
      const values = [p, m, v, g].map((tensor) => float32Values(backend, tensor));
      const size = values[0]?.length;
      if (values.some((array) => !array || array.length !== size)) {
        throw new Error(
          `${adamKernelName}: p, m, v and g must be float32 tensors of one size; found shapes ` +
            `${[p, m, v, g].map((t) => `${t.dtype}[${t.shape}]`).join(', ')} (parameter ${k / 4})`,
        );
      }
      // In place needs every p, m and v on data of its own (no tensor, and no other slot, shares it).
      for (const tensor of [p, m, v]) {
        exclusive &&= !seen.has(tensor.dataId) && exclusiveFloat32(backend, tensor);
        seen.add(tensor.dataId);
      }
      parameters.push({ p, values: values as Float32Array[] });
    }
    const outputs: TensorInfo[] = [];
    for (const { p, values } of parameters) {
      const [pValues, mValues, vValues, gValues] = values as [
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
      ];
      const size = pValues.length;
      const targets = exclusive
        ? ([pValues, mValues, vValues] as const)
        : ([
            outputFloat32(backend, size),
            outputFloat32(backend, size),
            outputFloat32(backend, size),
          ] as const);
      context.addon.adam(
        pValues,
        mValues,
        vValues,
        gValues,
        ...targets,
        beta1,
        1 - beta1,
        beta2,
        1 - beta2,
        stepSize,
        sqrtCorrection2,
        epsilon,
        gradScale ?? 1,
      );
      if (!exclusive)
        outputs.push(...targets.map((array) => backend.makeTensorInfo(p.shape, 'float32', array)));
    }
    return outputs;
  };

/**
 * `DiffpruneSumSquares`: Σ x² over every input (any names, float32, any shapes) in one pass per
 * input, nothing allocated but the float32 scalar result (accumulated in double). For global-norm
 * clipping: norm = √(the result).
 */

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

export const sumSigmoid =
  (context: NativeKernelContext) =>
  ({ inputs, backend, attrs }: KernelArgs & { backend: MathBackendCPU }): TensorInfo[] => {
    const { x } = inputs as { x: TensorInfo };
    const values = float32Values(backend, x);
    if (!values) throw new Error(`${sumSigmoidKernelName}: x must be float32, found ${x.dtype}`);
    const sigma = outputFloat32(backend, values.length);
    const sum = context.addon.sumSigmoid(values, sigma, (attrs as unknown as SumSigmoidAttributes).shift);
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
