import { availableParallelism, totalmem } from 'node:os';
import {
  adamKernelName,
  BackendError,
  dropoutMaskKernelName,
  gatedDiffsGradKernelName,
  gatedDiffsKernelName,
  sparseRowDeltaKernelName,
  sparseRowLinearKernelName,
  sumSigmoidGradKernelName,
  sumSigmoidKernelName,
  sumSquaresKernelName,
} from '@diffprune/core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { BackendValues, DataId, DataType, KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { loadAddon, type NativeAddon } from './addon.js';
import { BufferPool } from './buffer-pool.js';
import { adam, sumSigmoid, sumSigmoidGrad, sumSquares } from './kernels/adam.js';
import { dropoutMask } from './kernels/dropout.js';
import { elementwiseKernels } from './kernels/elementwise.js';
import { gatedDiffs, gatedDiffsGrad } from './kernels/gate.js';
import { batchMatMul, fusedMatMul } from './kernels/matmul.js';
import { unsortedSegmentSum } from './kernels/segment-sum.js';
import { backendName, type NativeKernelContext, nativeKernel } from './kernels/shared.js';
import { sparseRowDelta } from './kernels/sparse-row-delta.js';
import { sparseRowLinear } from './kernels/sparse-row-linear.js';

/**
 * The `native` backend: tfjs-backend-cpu's MathBackendCPU (its data store holds plain typed
 * arrays, which the addon reads and writes in place), with the hot kernels replaced by compiled
 * ones and every other cpu kernel registered unchanged.
 */
export class NativeBackend extends MathBackendCPU {
  /**
   * Output arrays of disposed tensors, recycled for the next outputs of the same size (see
   * buffer-pool.ts), at most `DIFFPRUNE_NATIVE_POOL_MB` held (default `defaultPoolMegabytes()`: a quarter
   * of the machine's memory, at most 4,096). `DIFFPRUNE_NATIVE_POOL=off`
   * disables it; `=poison` fills recycled arrays with NaN (the test suite runs that way, so a kernel
   * relying on zeroed output fails).
   */
  readonly pool: BufferPool | undefined;

  constructor(pool: PoolSettings = poolSettings()) {
    super();
    // MathBackendCPU prints an advert for tfjs-node on its first write unless PROD is set;
    // libraries never print.
    (this as unknown as { firstUse: boolean }).firstUse = false;
    this.pool =
      pool.mode === 'off' || pool.megabytes === 0
        ? undefined
        : new BufferPool({
            minElements: 1 << 12,
            maxFreeBytes: pool.megabytes * 2 ** 20,
            poison: pool.mode === 'poison',
          });
  }

  override write(values: BackendValues, shape: number[], dtype: DataType): DataId {
    const dataId = super.write(values, shape, dtype);
    this.pool?.adopt(values);
    return dataId;
  }

  override move(
    dataId: DataId,
    values: BackendValues,
    shape: number[],
    dtype: DataType,
    refCount: number,
  ): void {
    super.move(dataId, values, shape, dtype, refCount);
    this.pool?.adopt(values);
  }

  override readSync(dataId: DataId): BackendValues {
    const values = this.data.get(dataId)?.values;
    // A view on part of a pooled buffer: the caller gets a copy of its own (its `.buffer` is exactly
    // its values), and the buffer stays the pool's. A whole pooled array is handed out and never
    // recycled (no copy of large results such as the model's parameters).
    if (this.pool?.isPartialView(values)) return (values as Float32Array).slice();
    this.pool?.expose(values);
    return super.readSync(dataId);
  }

  override disposeData(dataId: DataId, force?: boolean): boolean {
    const values = this.data.get(dataId)?.values;
    const released = super.disposeData(dataId, force);
    if (values !== undefined && !this.data.has(dataId)) this.pool?.release(values);
    return released;
  }
}

interface PoolSettings {
  mode: 'on' | 'off' | 'poison';
  megabytes: number;
}

/**
 * The pool's default cap: a quarter of the machine's memory, at most 4,096 MB. A training step frees and
 * re-allocates the same arrays every step; when they outgrow the cap, the rest are allocated fresh each
 * time (page faults, garbage collection). Measured: BERT-Mini, batch 32, seq 128, one thread, diff
 * pruning 1,170 → 1,000 ms a step and full finetuning 1,100 → 992 ms with 4,096 instead of 1,024 MB,
 * peak RSS unchanged (2.7 GiB); no change at seq 64.
 */
export function defaultPoolMegabytes(): number {
  return Math.min(4096, Math.floor(totalmem() / 4 / 2 ** 20));
}

/** The pool's settings from DIFFPRUNE_NATIVE_POOL and DIFFPRUNE_NATIVE_POOL_MB (a BackendError if invalid). */
function poolSettings(): PoolSettings {
  const mode = process.env.DIFFPRUNE_NATIVE_POOL ?? 'on';
  const megabytes = Number(process.env.DIFFPRUNE_NATIVE_POOL_MB ?? defaultPoolMegabytes());
  if ((mode !== 'on' && mode !== 'off' && mode !== 'poison') || !(megabytes >= 0)) {
    throw new BackendError({
      backend: 'native',
      reason:
        'DIFFPRUNE_NATIVE_POOL must be on, off or poison and DIFFPRUNE_NATIVE_POOL_MB a number ≥ 0; ' +
        `found ${process.env.DIFFPRUNE_NATIVE_POOL} and ${process.env.DIFFPRUNE_NATIVE_POOL_MB}`,
    });
  }
  return { mode, megabytes };
}

/** Kernels with a native implementation; every other cpu kernel is registered as it is. */
const nativeKernels: Record<string, (context: NativeKernelContext) => KernelFunc> = {
  BatchMatMul: batchMatMul as never,
  _FusedMatMul: fusedMatMul as never,
  UnsortedSegmentSum: unsortedSegmentSum as never,
  ...(elementwiseKernels as Record<string, never>),
  [adamKernelName]: adam as never,
  [sumSquaresKernelName]: sumSquares as never,
  [sumSigmoidKernelName]: sumSigmoid as never,
  [sumSigmoidGradKernelName]: sumSigmoidGrad as never,
  [gatedDiffsKernelName]: gatedDiffs as never,
  [gatedDiffsGradKernelName]: gatedDiffsGrad as never,
  [dropoutMaskKernelName]: dropoutMask as never,
  [sparseRowDeltaKernelName]: sparseRowDelta as never,
  [sparseRowLinearKernelName]: sparseRowLinear as never,
};

export interface RegisterNativeBackendOptions {
  /** Threads for the addon's pool (the calling thread counts); default: the cores, at most 8. */
  threads?: number;
}

export interface NativeBackendRegistration {
  name: 'native';
  threads: number;
  /** The GEMM micro-kernel and the kernels replaced, for `backend-select` reasons and logs. */
  detail: string;
}

export const maxDefaultThreads = 8;

let registeredWith: NativeAddon | undefined;

function registerKernels(addon: NativeAddon): void {
  const cpuKernels = new Map<string, KernelConfig>();
  for (const config of tf.getKernelsForBackend('cpu')) cpuKernels.set(config.kernelName, config);
  const context: NativeKernelContext = {
    addon,
    cpu: (kernelName) => {
      const config = cpuKernels.get(kernelName);
      if (!config) throw new Error(`no cpu kernel ${kernelName} to fall back to`);
      return config.kernelFunc;
    },
  };
  for (const config of cpuKernels.values()) {
    if (tf.getKernel(config.kernelName, backendName)) continue;
    const make = nativeKernels[config.kernelName];
    tf.registerKernel(
      make ? nativeKernel(config.kernelName, make as never, context) : { ...config, backendName },
    );
  }
  for (const [kernelName, make] of Object.entries(nativeKernels)) {
    if (!tf.getKernel(kernelName, backendName))
      tf.registerKernel(nativeKernel(kernelName, make as never, context));
  }
}

/**
 * Registers the tfjs backend `native` (the compiled fast path without libtensorflow) and sets the
 * addon's thread count. Does not make it the active backend: `initBackend` from `@diffprune/runtime`
 * (or `tf.setBackend('native')`) does. Throws a `BackendError` when the addon was not built.
 */
export function registerNativeBackend(options: RegisterNativeBackendOptions = {}): NativeBackendRegistration {
  let addon: NativeAddon;
  try {
    addon = loadAddon();
  } catch (error) {
    throw new BackendError({ backend: 'native', reason: (error as Error).message, cause: error });
  }
  const requested = options.threads ?? Math.min(availableParallelism(), maxDefaultThreads);
  if (!Number.isInteger(requested) || requested < 1) {
    throw new BackendError({
      backend: 'native',
      reason: `threads must be a positive integer, found ${requested}`,
    });
  }
  const pool = poolSettings(); // checked here, where a BackendError reaches initBackend
  const threads = addon.setThreads(requested);
  if (registeredWith !== addon) {
    registeredWith = addon;
    if (!tf.findBackendFactory(backendName))
      tf.registerBackend(backendName, () => new NativeBackend(pool), 0);
    registerKernels(addon);
  }
  return {
    name: backendName,
    threads,
    detail: `compiled addon, GEMM micro-kernel ${addon.gemmKernel()}, ${threads} thread${threads === 1 ? '' : 's'}; native kernels: ${Object.keys(nativeKernels).join(', ')}`,
  };
}

/** The loaded addon (for benchmarks and tests); throws like `registerNativeBackend`. */
export function nativeAddon(): NativeAddon {
  return loadAddon();
}
