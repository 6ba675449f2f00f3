import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { DataType, TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { float32Values, type KernelArgs, type NativeKernelContext, outputFloat32, sizeOf } from './shared.js';

type NativeKernel = (
  context: NativeKernelContext,
) => (args: KernelArgs & { backend: MathBackendCPU }) => TensorInfo;

/** Strides of `shape` read as `outShape` (numpy broadcasting, aligned right): 0 on broadcast dims. */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const strides = new Array<number>(outShape.length).fill(0);
  let stride = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    const outD = outShape.length - shape.length + d;
    strides[outD] = shape[d] === 1 ? 0 : stride;
    stride *= shape[d]!;
  }
  return strides;
}

const binaryOps = {
  Add: 0,
  Sub: 1,
  Multiply: 2,
  RealDiv: 3,
  Maximum: 4,
  Minimum: 5,
  SquaredDifference: 6,
  Greater: 16,
  GreaterEqual: 17,
  Less: 18,
  LessEqual: 19,
  Equal: 20,
  NotEqual: 21,
} as const;

const binary =
  (kernelName: keyof typeof binaryOps): NativeKernel =>
  (context) =>
  ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
    const aValues = float32Values(backend, a);
    const bValues = float32Values(backend, b);
    if (!aValues || !bValues) return context.cpu(kernelName)({ inputs, backend, attrs }) as TensorInfo;
    const op = binaryOps[kernelName];
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const size = sizeOf(outShape);
    const comparison = op >= 16;
    const out = comparison ? new Uint8Array(size) : outputFloat32(backend, size);
    if (size > 0) {
      context.addon.binary(
        op,
        aValues,
        bValues,
        out,
        outShape,
        broadcastStrides(a.shape, outShape),
        broadcastStrides(b.shape, outShape),
      );
    }
    return backend.makeTensorInfo(outShape, comparison ? 'bool' : 'float32', out);
  };

const unaryOps = {
  Exp: 0,
  Erf: 1,
  Tanh: 2,
  Square: 3,
  Sqrt: 4,
  Rsqrt: 5,
  Neg: 6,
  Abs: 7,
  Log: 8,
  Sigmoid: 9,
  Relu: 10,
  Reciprocal: 11,
} as const;

const unary =
  (kernelName: keyof typeof unaryOps): NativeKernel =>
  (context) =>
  ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const values = float32Values(backend, x);
    if (!values) return context.cpu(kernelName)({ inputs, backend, attrs }) as TensorInfo;
    const out = outputFloat32(backend, values.length);
    if (out.length > 0) context.addon.unary(unaryOps[kernelName], values, out);
    return backend.makeTensorInfo(x.shape, 'float32', out);
  };

/**
 * Sum / Mean / Max over `axes`: as [outer, reduce, inner] when the axes are adjacent (no copy),
 * else after a native transpose that moves them last.
 */
const reduction =
  (kernelName: 'Sum' | 'Mean' | 'Max'): NativeKernel =>
  (context) =>
  ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const { keepDims } = attrs as unknown as { keepDims: boolean };
    const axis = (attrs as Record<string, unknown>)[kernelName === 'Max' ? 'reductionIndices' : 'axis'] as
      | number
      | number[];
    const values = float32Values(backend, x);
    if (!values || values.length === 0)
      return context.cpu(kernelName)({ inputs, backend, attrs }) as TensorInfo;
    const rank = x.shape.length;
    const axes = [...new Set(tf.util.parseAxisParam(axis, x.shape))].sort((p, q) => p - q);
    const outShape = x.shape.filter((_, d) => !axes.includes(d));
    const keptShape = x.shape.map((size, d) => (axes.includes(d) ? 1 : size));
    const reduce = axes.reduce((product, d) => product * x.shape[d]!, 1);
    const out = outputFloat32(backend, sizeOf(outShape));
    const adjacent = axes.length === 0 || axes.at(-1)! - axes[0]! === axes.length - 1;
    const kind = kernelName === 'Max' ? 1 : 0;
    const scale = kernelName === 'Mean' ? 1 / reduce : 1;
    if (adjacent) {
      const outer = sizeOf(x.shape.slice(0, axes[0] ?? rank));
      const inner = sizeOf(x.shape.slice(axes.length === 0 ? rank : axes.at(-1)! + 1));
      context.addon.reduce(kind, values, out, outer, reduce, inner, scale);
    } else {
      const perm = [...x.shape.keys()].filter((d) => !axes.includes(d)).concat(axes);
      const moved = new Float32Array(values.length);
      context.addon.transpose(values, moved, x.shape, perm);
      context.addon.reduce(kind, moved, out, out.length, reduce, 1, scale);
    }
    return backend.makeTensorInfo(keepDims ? keptShape : outShape, 'float32', out);
  };

const softmax: NativeKernel =
  (context) =>
  ({ inputs, backend, attrs }) => {
    const { logits } = inputs as { logits: TensorInfo };
    const { dim } = attrs as unknown as { dim: number };
    const values = float32Values(backend, logits);
    const rank = logits.shape.length;
    const last = dim === -1 || dim === rank - 1;
    if (!values || !last || rank === 0 || values.length === 0) {
      return context.cpu('Softmax')({ inputs, backend, attrs }) as TensorInfo;
    }
    const cols = logits.shape[rank - 1]!;
    const out = outputFloat32(backend, values.length);
    context.addon.softmax(values, out, values.length / cols, cols);
    return backend.makeTensorInfo(logits.shape, 'float32', out);
  };

/** An output array of 4-byte elements (float32 from the backend's pool; contents undefined unless zeroed). */
function wordArray(
  backend: MathBackendCPU,
  dtype: DataType,
  n: number,
  zeroed = false,
): Float32Array | Int32Array {
  return dtype === 'float32' ? outputFloat32(backend, n, zeroed) : new Int32Array(n);
}

/** The backing Float32Array or Int32Array (4-byte elements) of a tensor, or undefined. */
function wordValues(backend: MathBackendCPU, info: TensorInfo): Float32Array | Int32Array | undefined {
  const values = backend.data.get(info.dataId)?.values;
  if (info.dtype === 'float32' && values instanceof Float32Array) return values;
  if (info.dtype === 'int32' && values instanceof Int32Array) return values;
  return undefined;
}

/** True when `perm` moves only size-1 dimensions: the row-major data is the same before and after. */
function keepsLayout(shape: readonly number[], perm: readonly number[]): boolean {
  let previous = -1;
  for (const d of perm) {
    if (shape[d] === 1) continue;
    if (d < previous) return false;
    previous = d;
  }
  return true;
}

/**
 * Transpose. A permutation that keeps the data's layout (the identity, which tfjs's gather gradient
 * applies to the whole [vocabulary, hidden] embedding gradient, or one moving only size-1 dimensions)
 * returns a tensor on the input's data, as tfjs cpu's Reshape does: the backend's reference count goes
 * up, so the buffer pool recycles the array only after both tensors are gone, and DiffpruneAdam's
 * `inPlace` (reference count 1) never writes through it.
 */
const transpose: NativeKernel =
  (context) =>
  ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const { perm } = attrs as unknown as { perm: number[] };
    const outShape = perm.map((d) => x.shape[d]!);
    if (keepsLayout(x.shape, perm)) {
      backend.incRef(x.dataId);
      return { dataId: x.dataId, shape: outShape, dtype: x.dtype };
    }
    const values = wordValues(backend, x);
    if (!values) return context.cpu('Transpose')({ inputs, backend, attrs }) as TensorInfo;
    const out = wordArray(backend, x.dtype, values.length);
    if (values.length > 0) context.addon.transpose(values, out, x.shape, perm);
    return backend.makeTensorInfo(outShape, x.dtype, out);
  };

/** GatherV2 along the first non-trivial axis (the embedding lookup): row copies. */
const gather: NativeKernel =
  (context) =>
  ({ inputs, backend, attrs }) => {
    const { x, indices } = inputs as { x: TensorInfo; indices: TensorInfo };
    const { axis, batchDims } = attrs as unknown as { axis: number; batchDims: number };
    const values = wordValues(backend, x);
    const ids = backend.data.get(indices.dataId)?.values;
    const [parsedAxis] = tf.util.parseAxisParam(axis, x.shape);
    const outer = sizeOf(x.shape.slice(0, parsedAxis));
    if (!values || !(ids instanceof Int32Array) || (batchDims ?? 0) !== 0 || outer !== 1) {
      return context.cpu('GatherV2')({ inputs, backend, attrs }) as TensorInfo;
    }
    const rows = x.shape[parsedAxis!]!;
    const count = sizeOf(indices.shape);
    for (let i = 0; i < count; i++) {
      const index = ids[i]!;
      tf.util.assert(
        index >= 0 && index < rows,
        () => `GatherV2: the index value ${index} is not in [0, ${rows - 1}]`,
      );
    }
    const innerShape = x.shape.slice(parsedAxis! + 1);
    const inner = sizeOf(innerShape);
    const out = wordArray(backend, x.dtype, count * inner);
    if (out.length > 0) context.addon.gatherRows(values, rows, inner, ids.subarray(0, count), out);
    return backend.makeTensorInfo(
      [...x.shape.slice(0, parsedAxis), ...indices.shape, ...innerShape],
      x.dtype,
      out,
    );
  };

/** Slice (a box of the input): one memcpy per contiguous run. */
const slice: NativeKernel =
  (context) =>
  ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const { begin, size } = attrs as unknown as { begin: number | number[]; size: number | number[] };
    const values = wordValues(backend, x);
    if (!values) return context.cpu('Slice')({ inputs, backend, attrs }) as TensorInfo;
    const [begins, sizes] = tf.slice_util.parseSliceParams(x, begin, size) as [number[], number[]];
    tf.slice_util.assertParamsValid(x, begins, sizes);
    const out = wordArray(backend, x.dtype, sizeOf(sizes));
    if (out.length > 0) {
      context.addon.copyRegion(values, x.shape, begins, out, sizes, new Array(sizes.length).fill(0), sizes);
    }
    return backend.makeTensorInfo(sizes, x.dtype, out);
  };

/** PadV2 with a constant: fill, then copy the input into the interior. */
const pad: NativeKernel =
  (context) =>
  ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const { paddings, constantValue } = attrs as unknown as {
      paddings: [number, number][];
      constantValue: number;
    };
    const values = wordValues(backend, x);
    if (!values) return context.cpu('PadV2')({ inputs, backend, attrs }) as TensorInfo;
    const outShape = paddings.map(([before, after], d) => before + x.shape[d]! + after);
    const out = wordArray(backend, x.dtype, sizeOf(outShape), constantValue === 0);
    if (constantValue !== 0) out.fill(constantValue);
    if (values.length > 0) {
      context.addon.copyRegion(
        values,
        x.shape,
        new Array(x.shape.length).fill(0),
        out,
        outShape,
        paddings.map(([before]) => before),
        x.shape,
      );
    }
    return backend.makeTensorInfo(outShape, x.dtype, out);
  };

/**
 * Cast to float32 as a real Float32Array (tfjs cpu shares the bool/int32 input's data under the new
 * dtype, which every float kernel then has to convert); other casts are tfjs cpu's.
 */
const cast: NativeKernel =
  (context) =>
  ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: TensorInfo };
    const { dtype } = attrs as unknown as { dtype: DataType };
    const values = backend.data.get(x.dataId)?.values;
    if (dtype === 'float32' && (x.dtype === 'bool' || x.dtype === 'int32') && ArrayBuffer.isView(values)) {
      return backend.makeTensorInfo(x.shape, 'float32', Float32Array.from(values as Uint8Array | Int32Array));
    }
    return context.cpu('Cast')({ inputs, backend, attrs }) as TensorInfo;
  };

/** Every elementwise, reduction and layout kernel with a native implementation, by kernel name. */
export const elementwiseKernels: Record<string, NativeKernel> = {
  ...Object.fromEntries(Object.keys(binaryOps).map((name) => [name, binary(name as keyof typeof binaryOps)])),
  ...Object.fromEntries(Object.keys(unaryOps).map((name) => [name, unary(name as keyof typeof unaryOps)])),
  Sum: reduction('Sum'),
  Mean: reduction('Mean'),
  Max: reduction('Max'),
  Softmax: softmax,
  Transpose: transpose,
  GatherV2: gather,
  Cast: cast,
  Slice: slice,
  PadV2: pad,
};
