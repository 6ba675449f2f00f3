import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { DataType, KernelConfig, KernelFunc, TensorInfo, TypedArray } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { broadcast_util, util } from '@tensorflow/tfjs-core';
import { scatterAddInto } from './scatter-add.js';

/**
 * Kernels that make `@tensorflow/tfjs-backend-wasm` train BERT (see ../shared/docs/compute-notes.md):
 * the stock package has no UnsortedSegmentSum (the gradient of `tf.gather`), its Unpack copies the
 * whole input out of the heap once per slice, and its BatchMatMul reaches XNNPACK only for a
 * non-transposed, batch-1 product (everything else runs a scalar loop at 1–2 GFLOP/s). These
 * replacements work on the wasm heap directly and are registered over the stock ones.
 */

/** The parts of tfjs-backend-wasm's `BackendWasm` these kernels use (it exports no such type). */
interface WasmModule {
  HEAPU8: Uint8Array;
  cwrap(name: string, returnType: null, argumentTypes: string[]): (...args: unknown[]) => void;
  tfjs: {
    registerTensor(id: number, size: number, memoryOffset: number): void;
    disposeData(id: number): void;
  };
}
interface WasmTensorData {
  id: number;
  memoryOffset: number;
}
export interface WasmBackendLike {
  wasm: WasmModule;
  dataIdNextNumber: number;
  dataIdMap: { get(dataId: object): WasmTensorData | undefined };
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): TypedArray;
  disposeData(dataId: object): boolean;
}

const tensorData = (backend: WasmBackendLike, info: TensorInfo): WasmTensorData => {
  const data = backend.dataIdMap.get(info.dataId);
  if (!data) throw new Error(`wasm kernel: tensor ${JSON.stringify(info.shape)} is not on the wasm heap`);
  return data;
};

const bytesPerElement = (dtype: DataType): number => (dtype === 'bool' ? 1 : 4);

// ---------------------------------------------------------------------------------------------
// UnsortedSegmentSum: scatter-add on the heap, O(n). Views are taken after `makeOutput`, because
// allocating can grow (and so detach) the heap's ArrayBuffer.

const unsortedSegmentSum: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = attrs as unknown as { numSegments: number };
  const wasm = backend as unknown as WasmBackendLike;
  const outer = util.sizeFromShape(segmentIds.shape);
  const inner = outer === 0 ? 0 : util.sizeFromShape(x.shape) / outer;
  const out = wasm.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
  const outValues = wasm.typedArrayFromHeap(out);
  outValues.fill(0);
  scatterAddInto(
    outValues,
    wasm.typedArrayFromHeap(x),
    wasm.typedArrayFromHeap(segmentIds),
    numSegments,
    inner,
  );
  return out;
};

// ---------------------------------------------------------------------------------------------
// Unpack: every output allocated first, then heap-to-heap copies of only its own elements.

const unpack: KernelFunc = ({ inputs, backend, attrs }) => {
  const { value } = inputs as { value: TensorInfo };
  const wasm = backend as unknown as WasmBackendLike;
  const rank = value.shape.length;
  const axis = ((attrs as unknown as { axis: number }).axis + rank) % rank;
  const count = value.shape[axis]!;
  const outShape = value.shape.filter((_, i) => i !== axis);
  const outer = util.sizeFromShape(value.shape.slice(0, axis));
  const inner = util.sizeFromShape(value.shape.slice(axis + 1));
  const bytes = bytesPerElement(value.dtype);
  const outs = Array.from({ length: count }, () => wasm.makeOutput(outShape, value.dtype));
  const heap = wasm.wasm.HEAPU8;
  const source = tensorData(wasm, value).memoryOffset;
  const rowBytes = inner * bytes;
  for (let i = 0; i < count; i++) {
    const target = tensorData(wasm, outs[i]!).memoryOffset;
    for (let o = 0; o < outer; o++) {
      const from = source + (o * count + i) * rowBytes;
      heap.copyWithin(target + o * rowBytes, from, from + rowBytes);
    }
  }
  return outs;
};

// ---------------------------------------------------------------------------------------------
// BatchMatMul through XNNPACK's fully-connected operator, the only fast matmul in the wasm binary.
// It serves `a [1, M, K] · b [1, K, N]`; so transposed operands are transposed explicitly first
// (O(size) against O(M·K·N)), a batch against one matrix is folded into the rows, and a batch against
// a batch runs one call per batch element on zero-copy views of the heap (tensor ids registered at
// offsets inside the operands). Views get fresh ids every call: the binary caches its packed
// operator on b's id and frees it when the id is disposed, so nothing goes stale or leaks.

type WasmBatchMatMul = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  transposeA: boolean,
  transposeB: boolean,
  outId: number,
) => void;

const batchMatMulFunctions = new WeakMap<WasmModule, WasmBatchMatMul>();
const wasmBatchMatMul = (module: WasmModule): WasmBatchMatMul => {
  let call = batchMatMulFunctions.get(module);
  if (!call) {
    const wrapped = module.cwrap('BatchMatMul', null, [
      'number',
      'array',
      'number',
      'number',
      'array',
      'number',
      'number',
      'number',
      'number',
    ]);
    call = wrapped as WasmBatchMatMul;
    batchMatMulFunctions.set(module, call);
  }
  return call;
};

const shapeBytes = (shape: number[]): Uint8Array => new Uint8Array(new Int32Array(shape).buffer);

/** out[M, N] = a[M, K] · b[K, N], all three given as byte offsets into the heap. */
const matMulAt = (
  backend: WasmBackendLike,
  call: WasmBatchMatMul,
  aOffset: number,
  bOffset: number,
  outOffset: number,
  m: number,
  k: number,
  n: number,
): void => {
  const { tfjs } = backend.wasm;
  const aId = backend.dataIdNextNumber++;
  const bId = backend.dataIdNextNumber++;
  const outId = backend.dataIdNextNumber++;
  tfjs.registerTensor(aId, m * k, aOffset);
  tfjs.registerTensor(bId, k * n, bOffset);
  tfjs.registerTensor(outId, m * n, outOffset);
  try {
    call(aId, shapeBytes([1, m, k]), 3, bId, shapeBytes([1, k, n]), 3, false, false, outId);
  } finally {
    tfjs.disposeData(aId);
    tfjs.disposeData(bId);
    tfjs.disposeData(outId);
  }
};

const transposeLastTwo = (backend: WasmBackendLike, x: TensorInfo): TensorInfo => {
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!transpose) throw new Error('wasm kernel Transpose is not registered');
  const rank = x.shape.length;
  const perm = [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];
  return transpose.kernelFunc({
    inputs: { x },
    backend: backend as unknown as tf.KernelBackend,
    attrs: { perm },
  }) as TensorInfo;
};

/** Flat batch index of an operand with batch shape `shape` for output batch index `index`. */
const broadcastIndex = (index: number, outShape: number[], shape: number[]): number => {
  let flat = 0;
  let stride = 1;
  let rest = index;
  for (let d = outShape.length - 1, s = shape.length - 1; d >= 0; d--, s--) {
    const size = outShape[d]!;
    const coordinate = rest % size;
    rest = (rest - coordinate) / size;
    if (s < 0) continue;
    const dim = shape[s]!;
    if (dim !== 1) flat += coordinate * stride;
    stride *= dim;
  }
  return flat;
};

const batchMatMul: KernelFunc = ({ inputs, backend, attrs }) => {
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new Error(`BatchMatMul on wasm supports float32 only; got ${a.dtype} and ${b.dtype}`);
  }
  const wasm = backend as unknown as WasmBackendLike;
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  const m = transposeA ? a.shape[aRank - 1]! : a.shape[aRank - 2]!;
  const k = transposeA ? a.shape[aRank - 2]! : a.shape[aRank - 1]!;
  const kB = transposeB ? b.shape[bRank - 1]! : b.shape[bRank - 2]!;
  const n = transposeB ? b.shape[bRank - 2]! : b.shape[bRank - 1]!;
  if (k !== kB) {
    throw new Error(
      `BatchMatMul: inner dimensions ${k} and ${kB} of shapes [${a.shape}] and [${b.shape}] ` +
        `(transposeA=${transposeA}, transposeB=${transposeB}) must match`,
    );
  }
  const aBatchShape = a.shape.slice(0, -2);
  const bBatchShape = b.shape.slice(0, -2);
  const batchShape = broadcast_util.assertAndGetBroadcastShape(aBatchShape, bBatchShape);
  const batch = util.sizeFromShape(batchShape);
  const batchA = util.sizeFromShape(aBatchShape);
  const batchB = util.sizeFromShape(bBatchShape);
  const out = wasm.makeOutput([...batchShape, m, n], 'float32');
  if (batch * m * n === 0) return out;
  if (k === 0) {
    wasm.typedArrayFromHeap(out).fill(0);
    return out;
  }
  const aRows = transposeA ? transposeLastTwo(wasm, a) : a;
  const bRows = transposeB ? transposeLastTwo(wasm, b) : b;
  try {
    const call = wasmBatchMatMul(wasm.wasm);
    // Offsets read after every allocation above (allocating never moves a tensor, only the buffer).
    const aBase = tensorData(wasm, aRows).memoryOffset;
    const bBase = tensorData(wasm, bRows).memoryOffset;
    const outBase = tensorData(wasm, out).memoryOffset;
    if (batchB === 1 && batchA === batch) {
      // Every batch element of a multiplies the same b: one call over batch·M rows.
      matMulAt(wasm, call, aBase, bBase, outBase, batch * m, k, n);
    } else {
      for (let i = 0; i < batch; i++) {
        const ai = batchA === batch ? i : broadcastIndex(i, batchShape, aBatchShape);
        const bi = batchB === batch ? i : broadcastIndex(i, batchShape, bBatchShape);
        matMulAt(
          wasm,
          call,
          aBase + ai * m * k * 4,
          bBase + bi * k * n * 4,
          outBase + i * m * n * 4,
          m,
          k,
          n,
        );
      }
    }
  } finally {
    if (aRows !== a) wasm.disposeData(aRows.dataId);
    if (bRows !== b) wasm.disposeData(bRows.dataId);
  }
  return out;
};

// ---------------------------------------------------------------------------------------------
// Sum over leading axes (every bias gradient: dY [rows, features] summed over rows). The stock
// kernel transposes the input so the reduced axes come last, then reduces; this adds rows in place.
// Every other reduction goes to the stock kernel.

let stockSum: KernelConfig | undefined;
const stockSumReady = new WeakSet<object>();

const sum: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { x } = inputs as { x: TensorInfo };
  const { axis, keepDims } = attrs as unknown as { axis: number | number[] | null; keepDims: boolean };
  const rank = x.shape.length;
  // A null axis (the whole tensor) is handled by parseAxisParam at run time; its type says otherwise.
  const axes = [...new Set(util.parseAxisParam(axis as number | number[], x.shape))].sort((a, b) => a - b);
  const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
  if (x.dtype !== 'float32' || !leading) {
    if (!stockSum) throw new Error('stock wasm Sum kernel is missing');
    if (!stockSumReady.has(backend)) {
      stockSum.setupFunc?.(backend);
      stockSumReady.add(backend);
    }
    return stockSum.kernelFunc(args);
  }
  const wasm = backend as unknown as WasmBackendLike;
  const rows = util.sizeFromShape(x.shape.slice(0, axes.length));
  const innerShape = x.shape.slice(axes.length);
  const inner = util.sizeFromShape(innerShape);
  const out = wasm.makeOutput(keepDims ? [...axes.map(() => 1), ...innerShape] : innerShape, 'float32');
  const target = wasm.typedArrayFromHeap(out) as Float32Array;
  const source = wasm.typedArrayFromHeap(x) as Float32Array;
  target.fill(0);
  for (let r = 0; r < rows; r++) {
    const offset = r * inner;
    for (let j = 0; j < inner; j++) target[j]! += source[offset + j]!;
  }
  return out;
};

// ---------------------------------------------------------------------------------------------
// GatherV2 along axis 0 (the embedding look-ups): one heap-to-heap row copy per index. The stock
// kernel walks every element through a generic strided loop (≈ 300× slower than a copy of the same
// size). Other axes and batch dimensions go to the stock kernel.

let stockGather: KernelConfig | undefined;
const stockGatherReady = new WeakSet<object>();

const gatherV2: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const { x, indices } = inputs as { x: TensorInfo; indices: TensorInfo };
  const { axis, batchDims } = attrs as unknown as { axis: number; batchDims: number };
  const parsedAxis = util.parseAxisParam(axis, x.shape)[0];
  if (parsedAxis !== 0 || (batchDims ?? 0) !== 0 || x.dtype === 'string' || indices.dtype !== 'int32') {
    if (!stockGather) throw new Error('stock wasm GatherV2 kernel is missing');
    if (!stockGatherReady.has(backend)) {
      stockGather.setupFunc?.(backend);
      stockGatherReady.add(backend);
    }
    return stockGather.kernelFunc(args);
  }
  const wasm = backend as unknown as WasmBackendLike;
  const rows = x.shape[0]!;
  const rowShape = x.shape.slice(1);
  const out = wasm.makeOutput([...indices.shape, ...rowShape], x.dtype);
  const ids = wasm.typedArrayFromHeap(indices);
  const rowBytes = util.sizeFromShape(rowShape) * bytesPerElement(x.dtype);
  const heap = wasm.wasm.HEAPU8;
  const source = tensorData(wasm, x).memoryOffset;
  const target = tensorData(wasm, out).memoryOffset;
  for (let i = 0; i < ids.length; i++) {
    const row = ids[i]!;
    if (!(row >= 0 && row < rows)) {
      wasm.disposeData(out.dataId);
      throw new Error(`GatherV2: the index value ${row} is not in [0, ${rows - 1}]`);
    }
    heap.copyWithin(target + i * rowBytes, source + row * rowBytes, source + (row + 1) * rowBytes);
  }
  return out;
};

// ---------------------------------------------------------------------------------------------
// Identity (tf.clone, and what autograd and customGrad use to keep inputs) shares the input's heap
// memory by reference count, as tfjs `cpu` does and as the wasm backend's own Reshape does, instead
// of copying it. Safe because no kernel writes into its inputs (variables take new data on assign).

const identity: KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs as { x: TensorInfo };
  (backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

/** The kernels registered over (or added to) tfjs-backend-wasm's. */
export const wasmKernelNames = [
  'UnsortedSegmentSum',
  'Unpack',
  'BatchMatMul',
  'Sum',
  'GatherV2',
  'Identity',
] as const;

const kernels: KernelConfig[] = [
  { kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSum },
  { kernelName: 'Unpack', backendName: 'wasm', kernelFunc: unpack },
  { kernelName: 'BatchMatMul', backendName: 'wasm', kernelFunc: batchMatMul },
  { kernelName: 'Sum', backendName: 'wasm', kernelFunc: sum },
  { kernelName: 'GatherV2', backendName: 'wasm', kernelFunc: gatherV2 },
  { kernelName: 'Identity', backendName: 'wasm', kernelFunc: identity },
];

let kernelsRegistered = false;

/** Registers the kernels above for `wasm`, once (after tfjs-backend-wasm registered its own). */
export function registerWasmKernels(): void {
  if (kernelsRegistered) return;
  kernelsRegistered = true;
  stockSum = tf.getKernel('Sum', 'wasm');
  stockGather = tf.getKernel('GatherV2', 'wasm');
  for (const kernel of kernels) {
    if (tf.getKernel(kernel.kernelName, 'wasm')) tf.unregisterKernel(kernel.kernelName, 'wasm');
    tf.registerKernel(kernel);
  }
}

export interface WasmStartInfo {
  simd: boolean;
  threads: number;
}

/**
 * Loads `@tensorflow/tfjs-backend-wasm` under Node with its `.wasm` binaries from the package's dist
 * folder, registers the kernels above and makes `wasm` the active backend. Threads: tfjs-backend-wasm
 * builds Node without them (tfjs issue #3830), and its XNNPACK matmul passes no thread pool anyway,
 * so the backend runs on one thread.
 */
export async function startWasmBackend(): Promise<WasmStartInfo> {
  const require = createRequire(import.meta.url);
  const wasmPackage = (await import('@tensorflow/tfjs-backend-wasm')) as {
    setWasmPaths(prefix: string): void;
    getThreadsCount?: () => number;
  };
  wasmPackage.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
  registerWasmKernels();
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs-backend-wasm failed to initialise');
  return { simd, threads: wasmPackage.getThreadsCount?.() ?? 1 };
}
