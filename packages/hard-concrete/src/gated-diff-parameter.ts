import { InvalidArgumentError } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import {
  fusedKernelsAvailable,
  type GatedDiffAttributes,
  gatedDiffGradKernelName,
  gatedDiffKernelName,
  hasVectorisedExp,
} from './kernels.js';
import {
  checkFloat32,
  checkSameShape,
  checkSingleElement,
  type GateOptions,
  type ResolvedGate,
  type ResolvedUniform,
  resolveGate,
  resolveUniform,
  type UniformOptions,
} from './options.js';
import { gateFromUniform, sampleUniform } from './sample-gate.js';
import { uniformKey } from './uniform.js';

/** The inputs of one gated parameter tensor for one step. */
export interface GatedDiffParameterInputs extends GateOptions, UniformOptions {
  /** θ_pre, the frozen base (no gradient flows to it). */
  base: tf.Tensor;
  /** The diff's values w (same shape as base). */
  w: tf.Tensor;
  /** The element gates' logα (same shape as base). */
  logAlpha: tf.Tensor;
  /**
   * This step's uniform noise (same shape as base; clamped to uBounds; no gradient). Give u or seed.
   */
  u?: tf.Tensor;
  /**
   * Instead of u: the noise is `sampleUniform(base.shape, seed)`, drawn inside the fused kernel without
   * a u tensor (the fastest path). `sampleGate(logAlpha, { seed })` sees the same u.
   */
  seed?: number;
  /** Structured mode: the group gate's logα (one element). Give groupU with it. */
  groupLogAlpha?: tf.Tensor;
  /** Structured mode: the group gate's noise (one element). */
  groupU?: tf.Tensor;
}

/** How the op is computed: fused kernels where the backend has them, else tfjs ops (same math). */
export type GatedDiffImplementation = 'auto' | 'kernel' | 'ops';

/** The validated settings of one gated tensor's inputs. */
export interface Resolved {
  gate: ResolvedGate;
  uniform: ResolvedUniform;
  grouped: boolean;
}

/** Checks one gated tensor's inputs (types, shapes, exactly one noise source, group pair). */
export function validate(inputs: GatedDiffParameterInputs, context: string): Resolved {
  if (typeof inputs !== 'object' || inputs === null) {
    throw new InvalidArgumentError({ argument: 'inputs', expected: 'an object', found: inputs, context });
  }
  const { base, w, logAlpha, u, groupLogAlpha, groupU } = inputs;
  checkFloat32(base, 'base', context);
  if ((u === undefined) === (inputs.seed === undefined)) {
    throw new InvalidArgumentError({
      argument: 'inputs',
      expected: 'exactly one of u or seed',
      found: u === undefined ? 'neither u nor seed' : 'both u and seed',
      context,
    });
  }
  if (inputs.seed !== undefined) uniformKey(inputs.seed, context);
  for (const [name, tensor] of [
    ['w', w],
    ['logAlpha', logAlpha],
    ...(u === undefined ? [] : [['u', u] as const]),
  ] as const) {
    checkFloat32(tensor, name, context);
    checkSameShape(tensor, name, base, context);
  }
  if ((groupLogAlpha === undefined) !== (groupU === undefined)) {
    throw new InvalidArgumentError({
      argument: groupLogAlpha === undefined ? 'groupLogAlpha' : 'groupU',
      expected: 'given together with the other (structured mode) or both omitted',
      found: 'undefined',
      context,
    });
  }
  if (groupLogAlpha !== undefined && groupU !== undefined) {
    checkFloat32(groupLogAlpha, 'groupLogAlpha', context);
    checkSingleElement(groupLogAlpha, 'groupLogAlpha', context);
    checkFloat32(groupU, 'groupU', context);
    checkSingleElement(groupU, 'groupU', context);
  }
  return {
    gate: resolveGate(inputs, context),
    uniform: resolveUniform(inputs, context),
    grouped: groupLogAlpha !== undefined,
  };
}

/**
 * θ = base + z ⊙ z_g ⊙ w for one gated tensor, with the hard-concrete gate z from (logAlpha, u) and, in
 * structured mode, the group gate z_g from (groupLogAlpha, groupU) — fused: the gate is computed once,
 * forward, and the backward pass returns the gradients of w, logAlpha (and groupLogAlpha) from dθ:
 *   dw = dθ·z·z_g,  dlogα = dθ·w·z_g·dz/dlogα,  dlogα_g = Σ(dθ·w·z)·dz_g/dlogα_g,
 *   dz/dlogα = 1[0 < s̄ < 1]·(r − l)·s(1 − s)/β.
 * No gradient flows to base, u or groupU. On `cpu`, `native` and `wasm` this is one JS kernel each way
 * (plus the backend's vectorised Exp(−logα) on `native`/`wasm`); elsewhere it runs the same math as
 * tfjs ops. Equal (values and gradients) to `gatedDiffParameterComposite`.
 */
export function gatedDiffParameter(inputs: GatedDiffParameterInputs): tf.Tensor {
  return gatedDiffParameterWith(inputs, 'auto');
}

/** `gatedDiffParameter` with the implementation chosen (for tests and benchmarks). */
export function gatedDiffParameterWith(
  inputs: GatedDiffParameterInputs,
  implementation: GatedDiffImplementation,
): tf.Tensor {
  const context = 'gatedDiffParameter';
  const { gate, uniform, grouped } = validate(inputs, context);
  const useKernel =
    implementation === 'ops' ? false : implementation === 'kernel' ? true : fusedKernelsAvailable();
  if (implementation === 'kernel' && !fusedKernelsAvailable()) {
    throw new InvalidArgumentError({
      argument: 'implementation',
      expected: 'a backend with the fused kernels (cpu, native, wasm or one that registers them)',
      found: tf.getBackend(),
      context,
    });
  }
  const attributes: GatedDiffAttributes = {
    beta: gate.beta,
    left: gate.left,
    right: gate.right,
    uLow: uniform.uLow,
    uHigh: uniform.uHigh,
  };
  const { base, groupU, seed } = inputs;
  if (useKernel && seed !== undefined) attributes.seed = seed;

  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const w = args[0] as tf.Tensor;
    const logAlpha = args[1] as tf.Tensor;
    const groupLogAlpha = grouped ? (args[2] as tf.Tensor) : undefined;
    const save = args[args.length - 1] as tf.GradSaveFunc;

    // The group gate and its derivative: one element each. On the fused-kernel backends (whose data
    // JS reads synchronously) they are computed in JS, in float64: ~20 fewer kernel calls per tensor.
    let groupGate: tf.Tensor | undefined;
    let groupSlope: tf.Tensor | number | undefined;
    if (groupLogAlpha !== undefined) {
      if (useKernel) {
        const scalar = scalarGate(
          groupLogAlpha.dataSync()[0]!,
          (groupU as tf.Tensor).dataSync()[0]!,
          gate,
          uniform,
        );
        groupGate = tf.scalar(scalar.z);
        groupSlope = scalar.slope;
      } else {
        const groupZ = gateFromUniform(
          tf.reshape(groupLogAlpha, []),
          tf.reshape(groupU as tf.Tensor, []),
          gate,
          uniform,
        );
        groupGate = groupZ;
        groupSlope = gateSlope(groupZ, gate);
      }
    }

    let theta: tf.Tensor;
    let z: tf.Tensor;
    if (useKernel) {
      const kernelInputs: tf.NamedTensorMap = { base, w, logAlpha };
      if (inputs.u) kernelInputs.u = inputs.u;
      if (groupGate) kernelInputs.groupGate = groupGate;
      // wasm's and native's Exp are several times faster per element than Math.exp in JS.
      if (gate.beta === 1 && hasVectorisedExp(tf.getBackend())) {
        kernelInputs.expNegLogAlpha = tf.exp(tf.neg(logAlpha));
      }
      [theta, z] = tf
        .engine()
        .runKernel(
          gatedDiffKernelName,
          kernelInputs,
          attributes as unknown as tf.NamedAttrMap,
        ) as tf.Tensor[] as [tf.Tensor, tf.Tensor];
    } else {
      z = gateFromUniform(logAlpha, inputs.u ?? sampleUniform(base.shape, seed as number), gate, uniform);
      theta = tf.add(base, tf.mul(groupGate ? tf.mul(z, groupGate) : z, w));
    }
    const slopeTensor = typeof groupSlope === 'number' ? undefined : groupSlope;
    save(groupGate ? [w, z, groupGate, ...(slopeTensor ? [slopeTensor] : [])] : [w, z]);

    return {
      value: theta,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedW, savedZ, savedGroupGate, savedGroupSlope] = saved as [
          tf.Tensor,
          tf.Tensor,
          tf.Tensor | undefined,
          tf.Tensor | undefined,
        ];
        let dW: tf.Tensor;
        let dLogAlpha: tf.Tensor;
        let groupDot: tf.Tensor;
        if (useKernel) {
          const kernelInputs: tf.NamedTensorMap = { dy, w: savedW, z: savedZ };
          if (savedGroupGate) kernelInputs.groupGate = savedGroupGate;
          [dW, dLogAlpha, groupDot] = tf
            .engine()
            .runKernel(gatedDiffGradKernelName, kernelInputs, attributes as unknown as tf.NamedAttrMap) as [
            tf.Tensor,
            tf.Tensor,
            tf.Tensor,
          ];
        } else {
          ({ dW, dLogAlpha, groupDot } = backwardOps(dy, savedW, savedZ, savedGroupGate, gate));
        }
        if (!grouped) return [dW, dLogAlpha];
        const dGroup = tf.reshape(
          tf.mul(groupDot, typeof groupSlope === 'number' ? groupSlope : (savedGroupSlope as tf.Tensor)),
          (groupLogAlpha as tf.Tensor).shape,
        );
        return [dW, dLogAlpha, dGroup];
      },
    };
  });

  return grouped
    ? op(inputs.w, inputs.logAlpha, inputs.groupLogAlpha as tf.Tensor)
    : op(inputs.w, inputs.logAlpha);
}

/**
 * One gate and its dz/dlogα in float64, for a single element (the group gate): the same formulas as
 * `gateFromUniform` and `gateSlope`.
 */
export function scalarGate(
  logAlpha: number,
  u: number,
  gate: ResolvedGate,
  uniform: ResolvedUniform,
): { z: number; slope: number } {
  const clamped = Math.min(Math.max(u, uniform.uLow), uniform.uHigh);
  const logits = Math.log(clamped / (1 - clamped)) + logAlpha;
  const s = 1 / (1 + Math.exp(-(gate.beta === 1 ? logits : logits / gate.beta)));
  const z = Math.min(1, Math.max(0, s * (gate.right - gate.left) + gate.left));
  const scale = gate.right - gate.left;
  const t = (z - gate.left) / scale;
  return { z, slope: z > 0 && z < 1 ? (t * (1 - t) * scale) / gate.beta : 0 };
}

/** dz/dlogα from z alone: 0 where z is clamped, else (r − l)·s(1 − s)/β with s = (z − l)/(r − l). */
function gateSlope(z: tf.Tensor, gate: ResolvedGate): tf.Tensor {
  return tf.tidy(() => {
    const scale = gate.right - gate.left;
    const s = tf.div(tf.sub(z, gate.left), scale);
    const slope = tf.mul(tf.mul(s, tf.sub(1, s)), scale / gate.beta);
    return tf.where(tf.logicalAnd(tf.greater(z, 0), tf.less(z, 1)), slope, tf.zerosLike(slope));
  });
}

function backwardOps(
  dy: tf.Tensor,
  w: tf.Tensor,
  z: tf.Tensor,
  groupGate: tf.Tensor | undefined,
  gate: ResolvedGate,
): { dW: tf.Tensor; dLogAlpha: tf.Tensor; groupDot: tf.Tensor } {
  const dyw = tf.mul(dy, w);
  const slope = gateSlope(z, gate);
  return {
    dW: tf.mul(dy, groupGate ? tf.mul(z, groupGate) : z),
    dLogAlpha: tf.mul(dyw, groupGate ? tf.mul(slope, groupGate) : slope),
    groupDot: tf.sum(tf.mul(dyw, z)),
  };
}

/**
 * The same θ = base + z ⊙ z_g ⊙ w written with ordinary differentiable tfjs ops (autograd derives the
 * gradients). A reference for `gatedDiffParameter`, and usable where a custom gradient is unwanted.
 * Unlike `sampleGate`, it does not read u's values to check them (it clamps them to uBounds).
 */
export function gatedDiffParameterComposite(inputs: GatedDiffParameterInputs): tf.Tensor {
  const { gate, uniform, grouped } = validate(inputs, 'gatedDiffParameterComposite');
  const { base, w, logAlpha, groupLogAlpha, groupU } = inputs;
  return tf.tidy(() => {
    const u = inputs.u ?? sampleUniform(base.shape, inputs.seed as number);
    let z = gateFromUniform(logAlpha, u, gate, uniform);
    if (grouped) {
      const groupZ = gateFromUniform(
        tf.reshape(groupLogAlpha as tf.Tensor, []),
        tf.reshape(groupU as tf.Tensor, []),
        gate,
        uniform,
      );
      z = tf.mul(z, groupZ);
    }
    return tf.add(base, tf.mul(z, w));
  });
}
