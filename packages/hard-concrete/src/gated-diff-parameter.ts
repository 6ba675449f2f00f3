import { InvalidArgumentError } from '@diffprune/core';
import type * as tf from '@tensorflow/tfjs-core';
import { gatedDiffParameters } from './gated-diff-parameters.js';
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
   * Instead of u: the noise is `sampleUniform(base.shape, seed)`, drawn inside the kernel without a u
   * tensor (the fastest path). `sampleGate(logAlpha, { seed })` sees the same u.
   */
  seed?: number;
  /** Structured mode: the group gate's logα (one element). Give groupU with it. */
  groupLogAlpha?: tf.Tensor;
  /** Structured mode: the group gate's noise (one element). */
  groupU?: tf.Tensor;
}

/** The validated settings of one gated tensor's inputs. */
export interface Resolved {
  gate: ResolvedGate;
  uniform: ResolvedUniform;
  grouped: boolean;
}

/** Checks one gated tensor's inputs (types, shapes, exactly one noise source, group pair) and options. */
export function validate(inputs: GatedDiffParameterInputs, context: string): Resolved {
  const grouped = checkTensorInputs(inputs, context);
  return {
    gate: resolveGate(inputs, context),
    uniform: resolveUniform(inputs, context),
    grouped,
  };
}

/**
 * Checks one gated tensor's tensors and noise source (`validate` without the gate and noise options,
 * which a list of tensors shares); whether it has a group gate.
 */
export function checkTensorInputs(
  inputs: Omit<GatedDiffParameterInputs, keyof GateOptions | keyof UniformOptions>,
  context: string,
): boolean {
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
  return groupLogAlpha !== undefined;
}

/**
 * θ = base + z ⊙ z_g ⊙ w for one gated tensor: `gatedDiffParameters` with this one tensor (the kernel
 * where the backend registers one, else the composite), without the penalty. The hard-concrete gate z
 * comes from (logAlpha, u or seed) and, in structured mode, the group gate z_g from (groupLogAlpha,
 * groupU). Differentiable w.r.t. w, logAlpha (and groupLogAlpha):
 *   dw = dθ·z·z_g,  dlogα = dθ·w·z_g·dz/dlogα,  dlogα_g = Σ(dθ·w·z)·dz_g/dlogα_g,
 *   dz/dlogα = 1[0 < s̄ < 1]·(r − l)·s(1 − s)/β.
 */
export function gatedDiffParameter(inputs: GatedDiffParameterInputs): tf.Tensor {
  validate(inputs, 'gatedDiffParameter');
  const { beta, limits, uBounds, ...tensor } = inputs;
  const options = {
    ...(beta === undefined ? {} : { beta }),
    ...(limits === undefined ? {} : { limits }),
    ...(uBounds === undefined ? {} : { uBounds }),
  };
  const { parameters, penalty } = gatedDiffParameters([tensor], options);
  penalty.dispose();
  return parameters[0]!;
}
