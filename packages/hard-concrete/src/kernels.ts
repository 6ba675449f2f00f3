import type { KernelConfig, TensorInfo, TypedArray } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Fused kernels behind `gatedDiffParameter` for backends whose tensors live in JS memory (tfjs `cpu`):
 * one pass forward, one pass backward, instead of ~10 elementwise kernels (each allocating a full-size
 * array) each way. Other backends use the same math as tfjs ops. Registered lazily, on first use on
 * such a backend (never at import); the names are namespaced so they cannot clash with tfjs kernels.
 *
 * Forward  `DiffpruneGatedDiff`:     {base, w, logAlpha, u, groupGate?} → [theta, z]
 * Backward `DiffpruneGatedDiffGrad`: {dy, w, z, groupGate?}             → [dW, dLogAlpha, groupDot]
 * attrs: {beta, left, right, uLow, uHigh}. z is the element gate (before the group gate); groupDot is
 * Σ dy·w·z (the group gate's upstream gradient), accumulated in float64.
 */
export const gatedDiffKernelName = 'DiffpruneGatedDiff';
export const gatedDiffGradKernelName = 'DiffpruneGatedDiffGrad';

export interface GatedDiffAttributes {
  beta: number;
  left: number;
  right: number;
  uLow: number;
  uHigh: number;
}

interface CpuLikeBackend {
  data: { get(dataId: object): { values: TypedArray } };
  makeTensorInfo(shape: number[], dtype: string, values: TypedArray): TensorInfo;
}

/** Backends whose `data.get(id).values` is the tensor's typed array. */
const jsMemoryBackends = new Set(['cpu']);

const valuesOf = (backend: CpuLikeBackend, info: TensorInfo | undefined): Float32Array =>
  backend.data.get((info as TensorInfo).dataId).values as Float32Array;

const groupValue = (backend: CpuLikeBackend, info: TensorInfo | undefined): number =>
  info === undefined ? 1 : (valuesOf(backend, info)[0] as number);

export function gatedDiffForward(
  base: Float32Array,
  w: Float32Array,
  logAlpha: Float32Array,
  u: Float32Array,
  groupGate: number,
  attributes: GatedDiffAttributes,
): { theta: Float32Array; z: Float32Array } {
  const { beta, left, right, uLow, uHigh } = attributes;
  const n = base.length;
  const theta = new Float32Array(n);
  const z = new Float32Array(n);
  const scale = right - left;
  const inverseBeta = 1 / beta;
  for (let i = 0; i < n; i++) {
    const ui = Math.min(Math.max(u[i]!, uLow), uHigh);
    const s = 1 / (1 + Math.exp(-(Math.log(ui / (1 - ui)) + logAlpha[i]!) * inverseBeta));
    const zi = Math.min(Math.max(s * scale + left, 0), 1);
    z[i] = zi;
    theta[i] = base[i]! + zi * groupGate * w[i]!;
  }
  return { theta, z };
}

export function gatedDiffBackward(
  dy: Float32Array,
  w: Float32Array,
  z: Float32Array,
  groupGate: number,
  attributes: Pick<GatedDiffAttributes, 'beta' | 'left' | 'right'>,
): { dW: Float32Array; dLogAlpha: Float32Array; groupDot: number } {
  const { beta, left, right } = attributes;
  const n = dy.length;
  const dW = new Float32Array(n);
  const dLogAlpha = new Float32Array(n); // zero where the gate is clamped (0 or 1)
  const scale = right - left;
  const inverseScale = 1 / scale;
  // dz/dlogα = (r − l)·s(1 − s)/β on 0 < z < 1, where s = (z − l)/(r − l) exactly inverts the stretch.
  const factor = (groupGate * scale) / beta;
  let groupDot = 0;
  for (let i = 0; i < n; i++) {
    const zi = z[i]!;
    const dyi = dy[i]!;
    const dyw = dyi * w[i]!;
    dW[i] = dyi * zi * groupGate;
    groupDot += dyw * zi;
    if (zi > 0 && zi < 1) {
      const s = (zi - left) * inverseScale;
      dLogAlpha[i] = dyw * factor * s * (1 - s);
    }
  }
  return { dW, dLogAlpha, groupDot };
}

const forwardKernel = (backendName: string): KernelConfig => ({
  kernelName: gatedDiffKernelName,
  backendName,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const cpu = backend as unknown as CpuLikeBackend;
    const { base, w, logAlpha, u, groupGate } = inputs as Record<string, TensorInfo | undefined>;
    const shape = (base as TensorInfo).shape;
    const { theta, z } = gatedDiffForward(
      valuesOf(cpu, base),
      valuesOf(cpu, w),
      valuesOf(cpu, logAlpha),
      valuesOf(cpu, u),
      groupValue(cpu, groupGate),
      attrs as unknown as GatedDiffAttributes,
    );
    return [cpu.makeTensorInfo(shape, 'float32', theta), cpu.makeTensorInfo(shape, 'float32', z)];
  },
});

const backwardKernel = (backendName: string): KernelConfig => ({
  kernelName: gatedDiffGradKernelName,
  backendName,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const cpu = backend as unknown as CpuLikeBackend;
    const { dy, w, z, groupGate } = inputs as Record<string, TensorInfo | undefined>;
    const shape = (dy as TensorInfo).shape;
    const { dW, dLogAlpha, groupDot } = gatedDiffBackward(
      valuesOf(cpu, dy),
      valuesOf(cpu, w),
      valuesOf(cpu, z),
      groupValue(cpu, groupGate),
      attrs as unknown as GatedDiffAttributes,
    );
    return [
      cpu.makeTensorInfo(shape, 'float32', dW),
      cpu.makeTensorInfo(shape, 'float32', dLogAlpha),
      cpu.makeTensorInfo([], 'float32', new Float32Array([groupDot])),
    ];
  },
});

/**
 * True when the fused kernels can run on the active backend; registers them there on first call.
 * `tf.getKernel` is checked first, so another package may register its own versions (e.g. for wasm)
 * under the same names and contract, and they are used instead.
 */
export function fusedKernelsAvailable(): boolean {
  const backendName = tf.getBackend();
  if (tf.getKernel(gatedDiffKernelName, backendName) && tf.getKernel(gatedDiffGradKernelName, backendName)) {
    return true;
  }
  if (!jsMemoryBackends.has(backendName)) return false;
  if (!tf.getKernel(gatedDiffKernelName, backendName)) tf.registerKernel(forwardKernel(backendName));
  if (!tf.getKernel(gatedDiffGradKernelName, backendName)) tf.registerKernel(backwardKernel(backendName));
  return true;
}
