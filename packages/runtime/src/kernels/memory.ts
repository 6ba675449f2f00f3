import type { DataType, KernelFunc, TensorInfo, TypedArray } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * How a JS kernel allocates its outputs and reads its inputs on one kind of backend: tfjs `cpu` (and
 * @diffprune/native's `native`, which extends it) keep JS typed arrays; tfjs `wasm` keeps its tensors
 * on the wasm heap, read through views. The only place outside the wasm patches where the runtime
 * touches backend memory.
 */
export interface Memory {
  /** Allocates every output first (allocation may move the wasm heap), then returns views of all. */
  run(
    backend: unknown,
    outputShapes: number[][],
    inputs: (TensorInfo | undefined)[],
  ): { outputs: TensorInfo[]; outputViews: Float32Array[]; inputViews: (TypedArray | undefined)[] };
  /**
   * e^(−x) of a float32 input by the backend's own vectorised kernels, where that beats a JS `Math.exp`
   * per entry (wasm: Neg and Exp on the heap): a temporary tensor, given to `run` as an input so its view
   * is taken after every allocation, and freed with `release`.
   */
  expNegative?(backend: unknown, x: TensorInfo): TensorInfo;
  release?(backend: unknown, info: TensorInfo): void;
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
  disposeData(dataId: object): boolean;
}

/** The active registration of a stock kernel (looked up per call: the runtime may replace kernels). */
const kernelOf = (name: string, backendName: string): KernelFunc => {
  const config = tf.getKernel(name, backendName);
  if (!config) throw new Error(`the ${backendName} backend has no ${name} kernel`);
  return config.kernelFunc;
};

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export const cpuMemory: Memory = {
  run(backend, outputShapes, inputs) {
    const cpu = backend as CpuLikeBackend;
    const outputViews = outputShapes.map(
      (shape) => cpu.pool?.take(sizeOf(shape)) ?? new Float32Array(sizeOf(shape)),
    );
    const outputs = outputShapes.map((shape, i) => cpu.makeTensorInfo(shape, 'float32', outputViews[i]!));
    const inputViews = inputs.map((info) =>
      info === undefined ? undefined : cpu.data.get(info.dataId).values,
    );
    return { outputs, outputViews, inputViews };
  },
};

export const wasmMemory: Memory = {
  run(backend, outputShapes, inputs) {
    const wasm = backend as WasmLikeBackend;
    const outputs = outputShapes.map((shape) => wasm.makeOutput(shape, 'float32'));
    // Views only after every allocation: growing the heap detaches earlier views.
    const outputViews = outputs.map((info) => wasm.typedArrayFromHeap(info) as Float32Array);
    const inputViews = inputs.map((info) => (info === undefined ? undefined : wasm.typedArrayFromHeap(info)));
    return { outputs, outputViews, inputViews };
  },
  expNegative(backend, x) {
    const negative = kernelOf(
      'Neg',
      'wasm',
    )({ inputs: { x }, backend: backend as never, attrs: {} }) as TensorInfo;
    const e = kernelOf('Exp', 'wasm')({ inputs: { x: negative }, backend: backend as never, attrs: {} });
    (backend as WasmLikeBackend).disposeData(negative.dataId);
    return e as TensorInfo;
  },
  release(backend, info) {
    (backend as WasmLikeBackend).disposeData(info.dataId);
  },
};
