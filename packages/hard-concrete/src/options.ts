import { InvalidArgumentError, ShapeMismatchError } from '@diffprune/core';
import type * as tf from '@tensorflow/tfjs-core';

/** Stretch interval [l, r] of the hard-concrete distribution (Louizos et al. 2018; the code's `left`, `right`). */
export type StretchLimits = readonly [left: number, right: number];

/** Options every gate function takes. */
export interface GateOptions {
  /** Temperature β > 0. Default 1 (the paper has none; the authors' code has an unused `--temp`, default 1). */
  beta?: number;
  /** Stretch limits `[l, r]` with l < 0 and r > 1. Default `[-1.5, 1.5]` (paper and code). */
  limits?: StretchLimits;
}

/** Options of the functions that turn a uniform sample into a gate. */
export interface UniformOptions {
  /**
   * u is clamped to `[low, high]` before the logit so that log u − log(1 − u) stays finite.
   * Default `[1e-4, 0.9999]`, the authors' code (`.clamp(0.0001, 0.9999)` on the uniform draw).
   */
  uBounds?: readonly [low: number, high: number];
}

export const defaultBeta = 1;
export const defaultLimits: StretchLimits = [-1.5, 1.5];
export const defaultUBounds: readonly [number, number] = [1e-4, 0.9999];

/** Validated, defaulted gate settings. */
export interface ResolvedGate {
  beta: number;
  left: number;
  right: number;
  /** β·log(−l/r): the shift inside the expected-L0 sigmoid (0 when l = −r). */
  shift: number;
}

export interface ResolvedUniform {
  uLow: number;
  uHigh: number;
}

const isFiniteNumber = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value);

export function resolveGate(options: GateOptions | undefined, context: string): ResolvedGate {
  const beta = options?.beta ?? defaultBeta;
  if (!isFiniteNumber(beta) || beta <= 0) {
    throw new InvalidArgumentError({
      argument: 'beta',
      expected: 'a finite number > 0',
      found: beta,
      context,
    });
  }
  const limits = options?.limits ?? defaultLimits;
  if (!Array.isArray(limits) || limits.length !== 2 || !limits.every(isFiniteNumber)) {
    throw new InvalidArgumentError({
      argument: 'limits',
      expected: 'a pair [l, r] of finite numbers',
      found: limits,
      context,
    });
  }
  const [left, right] = limits as [number, number];
  if (!(left < 0)) {
    throw new InvalidArgumentError({
      argument: 'limits[0] (l)',
      expected: 'a number < 0',
      found: left,
      context,
    });
  }
  if (!(right > 1)) {
    throw new InvalidArgumentError({
      argument: 'limits[1] (r)',
      expected: 'a number > 1',
      found: right,
      context,
    });
  }
  return { beta, left, right, shift: beta * Math.log(-left / right) };
}

export function resolveUniform(options: UniformOptions | undefined, context: string): ResolvedUniform {
  const bounds = options?.uBounds ?? defaultUBounds;
  if (!Array.isArray(bounds) || bounds.length !== 2 || !bounds.every(isFiniteNumber)) {
    throw new InvalidArgumentError({
      argument: 'uBounds',
      expected: 'a pair [low, high] of finite numbers',
      found: bounds,
      context,
    });
  }
  const [uLow, uHigh] = bounds as [number, number];
  if (!(uLow > 0 && uLow < uHigh && uHigh < 1)) {
    throw new InvalidArgumentError({
      argument: 'uBounds',
      expected: '[low, high] with 0 < low < high < 1',
      found: bounds,
      context,
    });
  }
  return { uLow, uHigh };
}

/** An array argument (an `InvalidArgumentError` naming it otherwise). */
export function checkArray(value: unknown, argument: string, context: string): asserts value is unknown[] {
  if (!Array.isArray(value)) {
    throw new InvalidArgumentError({ argument, expected: 'an array', found: typeof value, context });
  }
}

/** A float32 tensor (the gates' parameters and noise are float32 throughout). */
export function checkFloat32(
  tensor: unknown,
  argument: string,
  context: string,
): asserts tensor is tf.Tensor {
  const dtype = (tensor as tf.Tensor | undefined)?.dtype;
  if (typeof tensor !== 'object' || tensor === null || typeof dtype !== 'string' || !('shape' in tensor)) {
    throw new InvalidArgumentError({ argument, expected: 'a tf.Tensor', found: typeof tensor, context });
  }
  if (dtype !== 'float32') {
    throw new InvalidArgumentError({
      argument: `${argument}.dtype`,
      expected: '"float32"',
      found: dtype,
      context,
    });
  }
  if ((tensor as tf.Tensor).isDisposed) {
    throw new InvalidArgumentError({
      argument,
      expected: 'a live tensor',
      found: 'a disposed tensor',
      context,
    });
  }
}

export function checkSameShape(
  tensor: tf.Tensor,
  argument: string,
  reference: tf.Tensor,
  context: string,
): void {
  const a = tensor.shape;
  const b = reference.shape;
  if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
    throw new ShapeMismatchError({ tensor: argument, expected: b, found: a, context });
  }
}

/** A group gate's parameter: exactly one element (shape [], [1], [1, 1], …). */
export function checkSingleElement(tensor: tf.Tensor, argument: string, context: string): void {
  if (tensor.size !== 1) {
    throw new ShapeMismatchError({ tensor: argument, expected: [1], found: tensor.shape, context });
  }
}
