import { InvalidArgumentError } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import {
  checkFloat32,
  checkSameShape,
  type GateOptions,
  type ResolvedGate,
  type ResolvedUniform,
  resolveGate,
  resolveUniform,
  type UniformOptions,
} from './options.js';
import { fillUniform, uniformKey, uniformShapeSize } from './uniform.js';

/** Where the uniform noise u comes from: a seed, or an explicit tensor (exactly one of the two). */
export type UniformSource = { seed: number; u?: undefined } | { u: tf.Tensor; seed?: undefined };

export type SampleGateOptions = GateOptions & UniformOptions & UniformSource;

/**
 * min(1, max(0, x)) with the gradient 1[0 < x < 1] (tfjs's clipByValue passes the gradient at the
 * bounds too, which would make dz/dlogα nonzero at s̄ = 0 and s̄ = 1).
 */
const clampUnit = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as tf.Tensor;
  (args[1] as tf.GradSaveFunc)([x]);
  return {
    value: tf.clipByValue(x, 0, 1),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const input = saved[0] as tf.Tensor;
      return tf.where(tf.logicalAnd(tf.greater(input, 0), tf.less(input, 1)), dy, tf.zerosLike(dy));
    },
  };
});

/**
 * z = min(1, max(0, s̄)), s̄ = s·(r − l) + l, s = σ((log u − log(1 − u) + logα)/β), with u first clamped
 * to [uLow, uHigh]. The logit is log(u / (1 − u)), as in the authors' code. Differentiable w.r.t.
 * logAlpha, with dz/dlogα = 1[0 < s̄ < 1]·(r − l)·s(1 − s)/β (0 at the bounds themselves).
 */
export function gateFromUniform(
  logAlpha: tf.Tensor,
  u: tf.Tensor,
  gate: ResolvedGate,
  uniform: ResolvedUniform,
): tf.Tensor {
  return tf.tidy(() => {
    const clamped = tf.clipByValue(u, uniform.uLow, uniform.uHigh);
    const noise = tf.log(tf.div(clamped, tf.sub(1, clamped)));
    const logits = tf.add(noise, logAlpha);
    const s = tf.sigmoid(gate.beta === 1 ? logits : tf.div(logits, gate.beta));
    return clampUnit(tf.add(tf.mul(s, gate.right - gate.left), gate.left));
  });
}

/**
 * Uniform noise in (0, 1) of the given shape, a pure function of (seed, element index): counter-based
 * (see uniform.ts), the same numbers on every platform and backend, and the same numbers the fused
 * `gatedDiffParameter({ seed })` draws inside its kernel. The gate functions clamp u to `uBounds`.
 */
export function sampleUniform(shape: readonly number[], seed: number): tf.Tensor {
  const context = 'sampleUniform';
  const size = uniformShapeSize(shape, context);
  const key = uniformKey(seed, context);
  return tf.tensor(fillUniform(new Float32Array(size), key), [...shape], 'float32');
}

/** Throws unless every value of u lies in [0, 1] (one small read). */
function checkUniformValues(u: tf.Tensor, context: string): void {
  if (u.size === 0) return;
  const summary = tf.tidy(() => tf.stack([tf.min(u), tf.max(u), tf.cast(tf.any(tf.isNaN(u)), 'float32')]));
  const [low, high, nan] = summary.dataSync();
  summary.dispose();
  if (nan === 1 || !(low! >= 0 && high! <= 1)) {
    throw new InvalidArgumentError({
      argument: 'u',
      expected: 'values in [0, 1] (they are then clamped to uBounds)',
      found: nan === 1 ? 'NaN' : `values in [${low}, ${high}]`,
      context,
    });
  }
}

/**
 * Samples the hard-concrete gate z (same shape as logAlpha):
 * z = min(1, max(0, σ((log u − log(1 − u) + logα)/β)·(r − l) + l)).
 *
 * u is `options.u` (same shape, values in [0, 1]) or a fresh draw from `options.seed`; either way it is
 * clamped to `uBounds` (default [1e-4, 0.9999], the authors' code). Differentiable w.r.t. logAlpha:
 * dz/dlogα = 1[0 < s̄ < 1]·(r − l)·s(1 − s)/β.
 */
export function sampleGate(logAlpha: tf.Tensor, options: SampleGateOptions): tf.Tensor {
  const context = 'sampleGate';
  checkFloat32(logAlpha, 'logAlpha', context);
  const gate = resolveGate(options, context);
  const uniform = resolveUniform(options, context);
  const hasSeed = options?.seed !== undefined;
  const hasU = options?.u !== undefined;
  if (hasSeed === hasU) {
    throw new InvalidArgumentError({
      argument: 'options',
      expected: 'exactly one of seed or u',
      found: hasSeed ? 'both seed and u' : 'neither seed nor u',
      context,
    });
  }
  if (hasU) {
    const u = options.u as tf.Tensor;
    checkFloat32(u, 'u', context);
    checkSameShape(u, 'u', logAlpha, context);
    checkUniformValues(u, context);
    return gateFromUniform(logAlpha, u, gate, uniform);
  }
  const u = sampleUniform(logAlpha.shape, options.seed as number);
  try {
    return gateFromUniform(logAlpha, u, gate, uniform);
  } finally {
    u.dispose();
  }
}

/**
 * The test-time estimator of Louizos et al.: min(1, max(0, σ(logα)·(r − l) + l)). The paper instead
 * samples u once after training, and the authors' code evaluates with the last training step's z;
 * this is offered for completeness.
 */
export function deterministicGate(logAlpha: tf.Tensor, options?: GateOptions): tf.Tensor {
  const context = 'deterministicGate';
  checkFloat32(logAlpha, 'logAlpha', context);
  const gate = resolveGate(options, context);
  return tf.tidy(() => clampUnit(tf.add(tf.mul(tf.sigmoid(logAlpha), gate.right - gate.left), gate.left)));
}
