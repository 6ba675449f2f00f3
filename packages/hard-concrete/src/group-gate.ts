import { createRng, InvalidArgumentError } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import {
  checkFloat32,
  checkSingleElement,
  type GateOptions,
  resolveGate,
  resolveUniform,
  type UniformOptions,
} from './options.js';
import { sampleGate } from './sample-gate.js';

/**
 * Where the noise of a grouped gate comes from: a seed (element u = `sampleUniform(shape, seed)`, as
 * `sampleGate` draws it, and the group's u from `createRng(seed).fork('group')`), or explicit tensors.
 */
export type GroupUniformSource =
  | { seed: number; u?: undefined; groupU?: undefined }
  | { u: tf.Tensor; groupU: tf.Tensor; seed?: undefined };

export type SampleGroupedGateOptions = GateOptions & UniformOptions & GroupUniformSource;

/**
 * Combines element gates with their group's gate (structured diff pruning, §3.3): z_i·z_g.
 * `groupGate` has exactly one element; the result has the shape of `gate`.
 */
export function combineGroupGate(gate: tf.Tensor, groupGate: tf.Tensor): tf.Tensor {
  const context = 'combineGroupGate';
  checkFloat32(gate, 'gate', context);
  checkFloat32(groupGate, 'groupGate', context);
  checkSingleElement(groupGate, 'groupGate', context);
  return tf.tidy(() => tf.mul(gate, tf.reshape(groupGate, [])));
}

/**
 * Samples a structured gate z_i·z_g: element gates from logAlpha and one group gate from groupLogAlpha
 * (one element), both hard-concrete with the same β, limits and u clamp. Differentiable w.r.t. both.
 */
export function sampleGroupedGate(
  logAlpha: tf.Tensor,
  groupLogAlpha: tf.Tensor,
  options: SampleGroupedGateOptions,
): tf.Tensor {
  const context = 'sampleGroupedGate';
  checkFloat32(logAlpha, 'logAlpha', context);
  checkFloat32(groupLogAlpha, 'groupLogAlpha', context);
  checkSingleElement(groupLogAlpha, 'groupLogAlpha', context);
  resolveGate(options, context);
  resolveUniform(options, context);
  const hasSeed = options?.seed !== undefined;
  const hasU = options?.u !== undefined || options?.groupU !== undefined;
  if (hasSeed === hasU || (hasU && (options.u === undefined || options.groupU === undefined))) {
    throw new InvalidArgumentError({
      argument: 'options',
      expected: 'either seed, or both u and groupU',
      found: `${hasSeed ? 'seed' : 'no seed'}, ${options?.u ? 'u' : 'no u'}, ${options?.groupU ? 'groupU' : 'no groupU'}`,
      context,
    });
  }
  const { seed: _seed, u: _u, groupU: _groupU, ...settings } = options;
  if (hasSeed) {
    const seed = options.seed as number;
    const groupU = tf.scalar(createRng(seed).fork('group').uniform());
    try {
      return tf.tidy(() =>
        tf.mul(
          sampleGate(logAlpha, { ...settings, seed }),
          tf.reshape(sampleGate(tf.reshape(groupLogAlpha, []), { ...settings, u: groupU }), []),
        ),
      );
    } finally {
      groupU.dispose();
    }
  }
  const groupU = options.groupU as tf.Tensor;
  checkFloat32(groupU, 'groupU', context);
  checkSingleElement(groupU, 'groupU', context);
  return tf.tidy(() =>
    tf.mul(
      sampleGate(logAlpha, { ...settings, u: options.u as tf.Tensor }),
      tf.reshape(sampleGate(tf.reshape(groupLogAlpha, []), { ...settings, u: tf.reshape(groupU, []) }), []),
    ),
  );
}
