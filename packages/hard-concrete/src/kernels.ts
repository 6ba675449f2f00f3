import {
  type GatedDiffAttributes,
  gatedDiffGradKernelName,
  gatedDiffKernelName,
  sumSigmoidGradKernelName,
  sumSigmoidKernelName,
} from '@diffprune/core';
import type { DataType, KernelConfig, TensorInfo, TypedArray } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { type UniformKey, uniformAt, uniformKey } from './uniform.js';

export type { GatedDiffAttributes };
export { gatedDiffGradKernelName, gatedDiffKernelName, sumSigmoidGradKernelName, sumSigmoidKernelName };

/**
 * Fused kernels behind `gatedDiffParameter` for backends whose tensors JS can address directly (tfjs
 * `cpu` and @diffprune/native's `native`: JS typed arrays; tfjs `wasm`: views of the wasm heap): one pass forward, one pass backward,
 * instead of ~10 elementwise kernels (each allocating a full-size array) each way. Other backends use
 * the same math as tfjs ops. Registered lazily, on first use on such a backend (never at import); the
 * names are namespaced so they cannot clash with tfjs kernels.
 *
 * Forward  `DiffpruneGatedDiff`:     {base, w, logAlpha, u?, groupGate?, expNegLogAlpha?} → [theta, z]
 *   (without u, the noise is the counter-based uniforms of attrs.seed, see uniform.ts; with β = 1 and
 *   expNegLogAlpha = exp(−logα) given, no exp is evaluated in JS)
 * Backward `DiffpruneGatedDiffGrad`: {dy, w, z, groupGate?}             → [dW, dLogAlpha, groupDot]
 * attrs: {beta, left, right, uLow, uHigh}. z is the element gate (before the group gate); groupDot is
 * Σ dy·w·z (the group gate's upstream gradient), accumulated in float64.
 */

/** max(x, 0) without a branch (x + |x| = 2x or 0 exactly), so random signs cost no mispredictions. */
export const relu = (x: number): number => (x + Math.abs(x)) * 0.5;

/**
 * Writes θ and z (the element gate) for every entry; `groupGate` is z_g (1 when unstructured). The noise
 * is `u` if given, else the counter-based uniforms of `key` (see uniform.ts).
 *
 * For β = 1 the gate uses s = σ(logit u + logα) = u / (u + (1 − u)·e^(−logα)): one exp per entry
 * instead of a log and an exp, and none if `expNegLogAlpha` (e^(−logα), e.g. from a vectorised backend
 * kernel) is given. The clamp min(1, max(0, s̄)) = relu(s̄) − relu(relu(s̄) − 1) is exact
 * (relu(s̄) − 1 is exact for s̄ < 2^52 and a − (a − 1) = 1) and branch-free.
 */
export function gatedDiffForwardInto(
  theta: Float32Array,
  z: Float32Array,
  base: Float32Array,
  w: Float32Array,
  logAlpha: Float32Array,
  u: Float32Array | undefined,
  key: UniformKey | undefined,
  groupGate: number,
  attributes: GatedDiffAttributes,
  expNegLogAlpha?: Float32Array,
): void {
  const { beta, left, right, uLow, uHigh } = attributes;
  const n = theta.length;
  const scale = right - left;
  // The common cases get loops of their own: a per-element `=== undefined` test costs ~3 ns/entry.
  if (beta === 1 && expNegLogAlpha !== undefined) {
    if (u !== undefined) {
      for (let i = 0; i < n; i++) {
        const ui = Math.min(Math.max(u[i]!, uLow), uHigh);
        const positive = relu((ui / (ui + (1 - ui) * expNegLogAlpha[i]!)) * scale + left);
        const zi = positive - relu(positive - 1);
        z[i] = zi;
        theta[i] = base[i]! + zi * groupGate * w[i]!;
      }
    } else {
      const { a, b } = key as UniformKey;
      for (let i = 0; i < n; i++) {
        const ui = Math.min(Math.max(uniformAt(i, a, b), uLow), uHigh);
        const positive = relu((ui / (ui + (1 - ui) * expNegLogAlpha[i]!)) * scale + left);
        const zi = positive - relu(positive - 1);
        z[i] = zi;
        theta[i] = base[i]! + zi * groupGate * w[i]!;
      }
    }
    return;
  }
  const inverseBeta = 1 / beta;
  const unitBeta = beta === 1;
  const keyA = key?.a ?? 0;
  const keyB = key?.b ?? 0;
  for (let i = 0; i < n; i++) {
    const ui = Math.min(Math.max(u === undefined ? uniformAt(i, keyA, keyB) : u[i]!, uLow), uHigh);
    const s = unitBeta
      ? ui / (ui + (1 - ui) * Math.exp(-logAlpha[i]!))
      : 1 / (1 + Math.exp(-(Math.log(ui / (1 - ui)) + logAlpha[i]!) * inverseBeta));
    const positive = relu(s * scale + left);
    const zi = positive - relu(positive - 1);
    z[i] = zi;
    theta[i] = base[i]! + zi * groupGate * w[i]!;
  }
}

/**
 * Writes dw and dlogα for every entry and returns Σ dy·w·z (float64). `dLogAlpha` is written in full
 * (zero where the gate is clamped), so the outputs need no zeroing first.
 */
export function gatedDiffBackwardInto(
  dW: Float32Array,
  dLogAlpha: Float32Array,
  dy: Float32Array,
  w: Float32Array,
  z: Float32Array,
  groupGate: number,
  attributes: Pick<GatedDiffAttributes, 'beta' | 'left' | 'right'>,
): number {
  const { beta, left, right } = attributes;
  const n = dy.length;
  const scale = right - left;
  const inverseScale = 1 / scale;
  // dz/dlogα = (r − l)·s(1 − s)/β on 0 < z < 1, where s = (z − l)/(r − l) inverts the stretch.
  const factor = (groupGate * scale) / beta;
  let groupDot = 0;
  for (let i = 0; i < n; i++) {
    const zi = z[i]!;
    const dyi = dy[i]!;
    const dyw = dyi * w[i]!;
    dW[i] = dyi * zi * groupGate;
    groupDot += dyw * zi;
    const s = (zi - left) * inverseScale;
    // 1[0 < z < 1] as a number, without a branch (`&` of two comparisons).
    dLogAlpha[i] = (+(zi > 0) & +(zi < 1)) * dyw * factor * s * (1 - s);
  }
  return groupDot;
}

/** How a kernel allocates outputs and reads tensors on one kind of backend. */
export interface Memory {
  /** Allocates every output first (allocation may move the wasm heap), then returns views of all. */
  run(
    backend: unknown,
    outputShapes: number[][],
    inputs: (TensorInfo | undefined)[],
  ): { outputs: TensorInfo[]; outputViews: Float32Array[]; inputViews: (Float32Array | undefined)[] };
}

interface CpuLikeBackend {
  data: { get(dataId: object): { values: TypedArray } };
  makeTensorInfo(shape: number[], dtype: string, values: TypedArray): TensorInfo;
  /** @diffprune/native's recycled output arrays (contents undefined; every kernel here writes all). */
  pool?: { take(n: number): Float32Array };
}

interface WasmLikeBackend {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): TypedArray;
}

export const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

const cpuMemory: Memory = {
  run(backend, outputShapes, inputs) {
    const cpu = backend as CpuLikeBackend;
    const outputViews = outputShapes.map(
      (shape) => cpu.pool?.take(size(shape)) ?? new Float32Array(size(shape)),
    );
    const outputs = outputShapes.map((shape, i) => cpu.makeTensorInfo(shape, 'float32', outputViews[i]!));
    const inputViews = inputs.map((info) =>
      info === undefined ? undefined : (cpu.data.get(info.dataId).values as Float32Array),
    );
    return { outputs, outputViews, inputViews };
  },
};

const wasmMemory: Memory = {
  run(backend, outputShapes, inputs) {
    const wasm = backend as WasmLikeBackend;
    const outputs = outputShapes.map((shape) => wasm.makeOutput(shape, 'float32'));
    // Views only after every allocation: growing the heap detaches earlier views.
    const outputViews = outputs.map((info) => wasm.typedArrayFromHeap(info) as Float32Array);
    const inputViews = inputs.map((info) =>
      info === undefined ? undefined : (wasm.typedArrayFromHeap(info) as Float32Array),
    );
    return { outputs, outputViews, inputViews };
  },
};

/**
 * Backends whose Exp/Sigmoid kernels are vectorised (wasm: XNNPACK sigmoid and libm expf; native:
 * compiled polynomial exp): there, e^(−logα) and σ come from the backend and the JS loops do the rest.
 */
export const hasVectorisedExp = (backendName: string): boolean =>
  backendName === 'wasm' || backendName === 'native';

/** `native` (@diffprune/native) extends tfjs-backend-cpu's MathBackendCPU: the same data store. */
export const memories: Readonly<Record<string, Memory>> = {
  cpu: cpuMemory,
  native: cpuMemory,
  wasm: wasmMemory,
};

const forwardKernel = (backendName: string, memory: Memory): KernelConfig => ({
  kernelName: gatedDiffKernelName,
  backendName,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { base, w, logAlpha, u, groupGate, expNegLogAlpha } = inputs as Record<
      string,
      TensorInfo | undefined
    >;
    const shape = (base as TensorInfo).shape;
    const { outputs, outputViews, inputViews } = memory.run(
      backend,
      [shape, shape],
      [base, w, logAlpha, u, groupGate, expNegLogAlpha],
    );
    const [vBase, vW, vLogAlpha, vU, vGroup, vExp] = inputViews;
    gatedDiffForwardInto(
      outputViews[0]!,
      outputViews[1]!,
      vBase!,
      vW!,
      vLogAlpha!,
      vU,
      vU === undefined
        ? uniformKey((attrs as unknown as { seed: number }).seed, gatedDiffKernelName)
        : undefined,
      vGroup === undefined ? 1 : vGroup[0]!,
      attrs as unknown as GatedDiffAttributes,
      vExp,
    );
    return outputs;
  },
});

const backwardKernel = (backendName: string, memory: Memory): KernelConfig => ({
  kernelName: gatedDiffGradKernelName,
  backendName,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { dy, w, z, groupGate } = inputs as Record<string, TensorInfo | undefined>;
    const shape = (dy as TensorInfo).shape;
    const { outputs, outputViews, inputViews } = memory.run(
      backend,
      [shape, shape, []],
      [dy, w, z, groupGate],
    );
    const [vDy, vW, vZ, vGroup] = inputViews;
    const groupDot = gatedDiffBackwardInto(
      outputViews[0]!,
      outputViews[1]!,
      vDy!,
      vW!,
      vZ!,
      vGroup === undefined ? 1 : vGroup[0]!,
      attrs as unknown as GatedDiffAttributes,
    );
    outputViews[2]![0] = groupDot;
    return outputs;
  },
});

// ---------------------------------------------------------------------------------------------
// The expected-L0 sum Σ σ(x − shift) and its gradient dy·σ(1 − σ), the penalty's hot path.
//   Forward  `DiffpruneSumSigmoid`:     {x} attrs {shift} → [sum (scalar, float64-accumulated), sigma]
//   Backward `DiffpruneSumSigmoidGrad`: {dy (scalar), sigma} → [dx]
// The forward is used where the backend's own Sigmoid is not faster than a JS exp (tfjs cpu); the
// backward, one pass with no transcendental, on every JS-addressable backend.

export function sumSigmoidInto(sigma: Float32Array, x: Float32Array, shift: number): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) {
    const value = 1 / (1 + Math.exp(shift - x[i]!));
    sigma[i] = value;
    sum += value;
  }
  return sum;
}

export function sumSigmoidGradInto(dx: Float32Array, sigma: Float32Array, dy: number): void {
  for (let i = 0; i < sigma.length; i++) {
    const value = sigma[i]!;
    dx[i] = dy * value * (1 - value);
  }
}

const sumSigmoidKernel = (backendName: string, memory: Memory): KernelConfig => ({
  kernelName: sumSigmoidKernelName,
  backendName,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const { outputs, outputViews, inputViews } = memory.run(backend, [[], x.shape], [x]);
    outputViews[0]![0] = sumSigmoidInto(
      outputViews[1]!,
      inputViews[0]!,
      (attrs as unknown as { shift: number }).shift,
    );
    return outputs;
  },
});

const sumSigmoidGradKernel = (backendName: string, memory: Memory): KernelConfig => ({
  kernelName: sumSigmoidGradKernelName,
  backendName,
  kernelFunc: ({ inputs, backend }) => {
    const { dy, sigma } = inputs as { dy: TensorInfo; sigma: TensorInfo };
    const { outputs, outputViews, inputViews } = memory.run(backend, [sigma.shape], [dy, sigma]);
    sumSigmoidGradInto(outputViews[0]!, inputViews[1]!, inputViews[0]![0]!);
    return outputs;
  },
});

const ensure = (config: KernelConfig): boolean => {
  if (!tf.getKernel(config.kernelName, config.backendName)) tf.registerKernel(config);
  return true;
};

/** Which of the expected-L0 kernels the active backend has (registering ours on first call). */
export function sumSigmoidKernelsAvailable(): { forward: boolean; backward: boolean } {
  const backendName = tf.getBackend();
  const memory = memories[backendName];
  const has = (name: string) => tf.getKernel(name, backendName) !== undefined;
  return {
    // A backend's own forward kernel (e.g. @diffprune/native's) is always used; ours (a JS exp) only
    // where the backend's Sigmoid is not faster.
    forward:
      has(sumSigmoidKernelName) ||
      (!hasVectorisedExp(backendName) &&
        memory !== undefined &&
        ensure(sumSigmoidKernel(backendName, memory))),
    backward:
      has(sumSigmoidGradKernelName) ||
      (memory !== undefined && ensure(sumSigmoidGradKernel(backendName, memory))),
  };
}

/**
 * True when the fused kernels can run on the active backend; registers ours there on first call
 * (`cpu`, `native`, `wasm`). `tf.getKernel` is checked first, so another package may register its own versions
 * (e.g. for a native backend) under the same names and contract, and they are used instead.
 */
export function fusedKernelsAvailable(): boolean {
  const backendName = tf.getBackend();
  const hasForward = tf.getKernel(gatedDiffKernelName, backendName) !== undefined;
  const hasBackward = tf.getKernel(gatedDiffGradKernelName, backendName) !== undefined;
  if (hasForward && hasBackward) return true;
  const memory = memories[backendName];
  if (memory === undefined) return false;
  if (!hasForward) tf.registerKernel(forwardKernel(backendName, memory));
  if (!hasBackward) tf.registerKernel(backwardKernel(backendName, memory));
  return true;
}
