import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { float32Values, type KernelArgs, type NativeKernelContext, outputFloat32 } from './shared.js';

/**
 * @diffprune/hard-concrete's fused gate kernels, compiled (hard-concrete uses a backend's own
 * registration under these names before its JS loops):
 *   `DiffpruneGatedDiff`:     {base, w, logAlpha, u?, groupGate?, expNegLogAlpha?} attrs {beta, left,
 *                             right, uLow, uHigh, seed?} → [θ, z]
 *   `DiffpruneGatedDiffGrad`: {dy, w, z, groupGate?} → [dW, dLogAlpha, Σ dy·w·z]
 * Same arithmetic as the JS loops (double, same order, no FMA): with β = 1 and expNegLogAlpha given
 * — the trainer's case on this backend — the outputs are bit-identical to theirs (tested).
 */
export const gatedDiffKernelName = 'DiffpruneGatedDiff';
export const gatedDiffGradKernelName = 'DiffpruneGatedDiffGrad';

/** hard-concrete's `GatedDiffAttributes` (the kernel contract is shared by name; no dependency). */
interface GateAttrs {
  beta: number;
  left: number;
  right: number;
  uLow: number;
  uHigh: number;
  seed?: number;
}

/** Reads a kernel's named float32 inputs (null where absent; an error naming the input if not float32). */
function reader(backend: MathBackendCPU, inputs: KernelArgs['inputs'], kernel: string) {
  const named = inputs as Record<string, TensorInfo | undefined>;
  return (name: string): Float32Array | null => {
    const info = named[name];
    if (info === undefined) return null;
    const array = float32Values(backend, info);
    if (!array) throw new Error(`${kernel}: ${name} must be float32, found ${info.dtype}`);
    return array;
  };
}

export const gatedDiff =
  (context: NativeKernelContext) =>
  ({ inputs, backend, attrs }: KernelArgs & { backend: MathBackendCPU }): TensorInfo[] => {
    const read = reader(backend, inputs, gatedDiffKernelName);
    const [base, w, logAlpha] = [read('base')!, read('w')!, read('logAlpha')!];
    const { beta, left, right, uLow, uHigh, seed } = attrs as unknown as GateAttrs;
    const u = read('u');
    if (u === null && seed === undefined)
      throw new Error(`${gatedDiffKernelName}: either a u input or a seed attribute is needed`);
    const groupGate = read('groupGate');
    const theta = outputFloat32(backend, base.length);
    const z = outputFloat32(backend, base.length);
    context.addon.gatedDiffForward(
      theta,
      z,
      base,
      w,
      logAlpha,
      read('expNegLogAlpha'),
      u,
      seed ?? 0,
      groupGate === null ? 1 : groupGate[0]!,
      beta,
      left,
      right,
      uLow,
      uHigh,
    );
    const shape = (inputs.base as TensorInfo).shape;
    return [backend.makeTensorInfo(shape, 'float32', theta), backend.makeTensorInfo(shape, 'float32', z)];
  };

export const gatedDiffGrad =
  (context: NativeKernelContext) =>
  ({ inputs, backend, attrs }: KernelArgs & { backend: MathBackendCPU }): TensorInfo[] => {
    const read = reader(backend, inputs, gatedDiffGradKernelName);
    const [dy, w, z] = [read('dy')!, read('w')!, read('z')!];
    const groupGate = read('groupGate');
    const { beta, left, right } = attrs as unknown as GateAttrs;
    const dW = outputFloat32(backend, dy.length);
    const dLogAlpha = outputFloat32(backend, dy.length);
    const groupDot = context.addon.gatedDiffBackward(
      dW,
      dLogAlpha,
      dy,
      w,
      z,
      groupGate === null ? 1 : groupGate[0]!,
      beta,
      left,
      right,
    );
    const shape = (inputs.dy as TensorInfo).shape;
    return [
      backend.makeTensorInfo(shape, 'float32', dW),
      backend.makeTensorInfo(shape, 'float32', dLogAlpha),
      backend.makeTensorInfo([], 'float32', new Float32Array([groupDot])),
    ];
  };
