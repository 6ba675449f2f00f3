import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type {
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  NamedTensorInfoMap,
  TensorInfo,
} from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import type { NativeAddon } from '../addon.js';

export const backendName = 'native';

/** What a native kernel gets: the addon, and the cpu kernel it replaces (for dtypes it skips). */
export interface NativeKernelContext {
  addon: NativeAddon;
  cpu: (kernelName: string) => KernelFunc;
}

export type KernelArgs = { inputs: NamedTensorInfoMap; backend: unknown; attrs?: NamedAttrMap };

/**
 * The values of a float32 tensor as a Float32Array (the backing array itself, no copy), or
 * undefined for other dtypes. tfjs cpu's Cast from bool/int32 to float32 shares the input's data
 * (a Uint8Array or Int32Array under a float32 dtype); those are converted.
 */
export function float32Values(backend: MathBackendCPU, info: TensorInfo): Float32Array | undefined {
  if (info.dtype !== 'float32') return undefined;
  const values = backend.data.get(info.dataId)?.values;
  if (values instanceof Float32Array) return values;
  if (values instanceof Uint8Array || values instanceof Int32Array) return Float32Array.from(values);
  return undefined;
}

/**
 * A float32 output array of `n` elements for a kernel: recycled from the native backend's pool where
 * one is free (contents undefined: the kernel must write every element, or ask for `zeroed`).
 */
export function outputFloat32(backend: MathBackendCPU, n: number, zeroed = false): Float32Array {
  const pool = (backend as { pool?: { take(n: number, zeroed?: boolean): Float32Array } }).pool;
  return pool ? pool.take(n, zeroed) : new Float32Array(n);
}

export function nativeKernel(
  kernelName: string,
  make: (
    context: NativeKernelContext,
  ) => (args: KernelArgs & { backend: MathBackendCPU }) => TensorInfo | TensorInfo[],
  context: NativeKernelContext,
): KernelConfig {
  const kernelFunc = make(context) as unknown as KernelFunc;
  return { kernelName, backendName, kernelFunc };
}

export const sizeOf = (shape: readonly number[]): number => tf.util.sizeFromShape(shape as number[]);
