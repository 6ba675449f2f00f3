import { type SumSigmoidAttributes, sumSigmoidGradKernelName, sumSigmoidKernelName } from '@diffprune/core';
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import type { Memory } from './memory.js';

/**
 * The expected-L0 sum's kernels in JS (contract in @diffprune/core's kernel-names.ts):
 *   `DiffpruneSumSigmoid`:     {x} attrs {shift} → [Σ σ(x − shift) (scalar, float64-accumulated), σ]
 *   `DiffpruneSumSigmoidGrad`: {dy (scalar), sigma} → [dy·σ(1 − σ)]
 * The forward pays a JS `Math.exp` per entry, so it is registered where the backend's own Sigmoid is
 * not faster (cpu); the backward has no transcendental and is registered on cpu and wasm.
 */
export function sumSigmoidInto(sigma: Float32Array, x: ArrayLike<number>, shift: number): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) {
    const value = 1 / (1 + Math.exp(shift - x[i]!));
    sigma[i] = value;
    sum += value;
  }
  return sum;
}

export function sumSigmoidGradInto(dx: Float32Array, sigma: ArrayLike<number>, dy: number): void {
  for (let i = 0; i < sigma.length; i++) {
    const value = sigma[i]!;
    dx[i] = dy * value * (1 - value);
  }
}

export const sumSigmoidKernel = (backendName: string, memory: Memory): KernelConfig => ({
  kernelName: sumSigmoidKernelName,
  backendName,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const { outputs, outputViews, inputViews } = memory.run(backend, [[], x.shape], [x]);
    const { shift } = attrs as unknown as SumSigmoidAttributes;
    outputViews[0]![0] = sumSigmoidInto(outputViews[1]!, inputViews[0]!, shift);
    return outputs;
  },
});

export const sumSigmoidGradKernel = (backendName: string, memory: Memory): KernelConfig => ({
  kernelName: sumSigmoidGradKernelName,
  backendName,
  kernelFunc: ({ inputs, backend }) => {
    const { dy, sigma } = inputs as { dy: TensorInfo; sigma: TensorInfo };
    const { outputs, outputViews, inputViews } = memory.run(backend, [sigma.shape], [dy, sigma]);
    sumSigmoidGradInto(outputViews[0]!, inputViews[1]!, inputViews[0]![0]!);
    return outputs;
  },
});
