import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { float32Values, type KernelArgs, type NativeKernelContext, outputFloat32, sizeOf } from './shared.js';

interface MatmulAttrs {
  transposeA: boolean;
  transposeB: boolean;
}

/**
 * tfjs BatchMatMul semantics (shapes, the broadcast of batch dimensions, the error message) on the
 * native GEMM. Returns undefined where the inputs are not float32 (the caller falls back to cpu).
 */
export function nativeMatmul(
  context: NativeKernelContext,
  backend: MathBackendCPU,
  a: TensorInfo,
  b: TensorInfo,
  { transposeA, transposeB }: MatmulAttrs,
): TensorInfo | undefined {
  const aValues = float32Values(backend, a);
  const bValues = float32Values(backend, b);
  if (!aValues || !bValues) return undefined;
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  const innerA = transposeA ? a.shape[aRank - 2]! : a.shape[aRank - 1]!;
  const innerB = transposeB ? b.shape[bRank - 1]! : b.shape[bRank - 2]!;
  const m = transposeA ? a.shape[aRank - 1]! : a.shape[aRank - 2]!;
  const n = transposeB ? b.shape[bRank - 2]! : b.shape[bRank - 1]!;
  tf.util.assert(
    innerA === innerB,
    () =>
      `Error in matMul: inner shapes (${innerA}) and (${innerB}) of Tensors with shapes ${a.shape} and ` +
      `${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
  );
  const outerDims = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batchA = sizeOf(a.shape.slice(0, -2));
  const batchB = sizeOf(b.shape.slice(0, -2));
  const batch = Math.max(batchA, batchB);
  // Zeroed only when there is nothing to multiply (the GEMM writes every element otherwise).
  const out = outputFloat32(backend, batch * m * n, innerA === 0);
  if (batchA > 0 && batchB > 0 && out.length > 0) {
    context.addon.matmul(aValues, bValues, out, batch, batchA, batchB, m, n, innerA, transposeA, transposeB);
  }
  return backend.makeTensorInfo([...outerDims, m, n], 'float32', out);
}

export const batchMatMul =
  (context: NativeKernelContext) =>
  ({ inputs, backend, attrs }: KernelArgs & { backend: MathBackendCPU }) => {
    const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
    const result = nativeMatmul(context, backend, a, b, attrs as unknown as MatmulAttrs);
    return result ?? (context.cpu('BatchMatMul')({ inputs, backend, attrs }) as TensorInfo);
  };

const activationKernels: Record<string, string> = {
  relu: 'Relu',
  relu6: 'Relu6',
  elu: 'Elu',
  sigmoid: 'Sigmoid',
  leakyrelu: 'LeakyRelu',
  prelu: 'Prelu',
};

/** _FusedMatMul: the native GEMM, then the backend's own Add (bias) and activation kernels. */
export const fusedMatMul =
  (context: NativeKernelContext) =>
  ({ inputs, backend, attrs }: KernelArgs & { backend: MathBackendCPU }) => {
    const { a, b, bias, preluActivationWeights } = inputs as Record<string, TensorInfo | undefined>;
    const { activation, leakyreluAlpha } = attrs as unknown as {
      activation?: string;
      leakyreluAlpha?: number;
    };
    const product = nativeMatmul(context, backend, a!, b!, attrs as unknown as MatmulAttrs);
    if (!product) return context.cpu('_FusedMatMul')({ inputs, backend, attrs }) as TensorInfo;
    let current = product;
    const kernel = (name: string) => tf.getKernel(name, 'native')!.kernelFunc;
    if (bias) {
      const sum = kernel('Add')({ inputs: { a: current, b: bias }, backend, attrs: {} }) as TensorInfo;
      backend.disposeIntermediateTensorInfo(current);
      current = sum;
    }
    if (activation && activation !== 'linear') {
      const name = activationKernels[activation];
      if (!name) throw new Error(`Activation ${activation} has not been implemented for the native backend.`);
      const activated = kernel(name)({
        inputs: name === 'Prelu' ? { x: current, alpha: preluActivationWeights! } : { x: current },
        backend,
        attrs: name === 'LeakyRelu' ? { alpha: leakyreluAlpha ?? 0.2 } : {},
      }) as TensorInfo;
      backend.disposeIntermediateTensorInfo(current);
      current = activated;
    }
    return current;
  };
