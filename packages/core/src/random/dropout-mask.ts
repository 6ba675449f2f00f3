import type { Tensor } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { type DropoutMaskAttributes, dropoutMaskKernelName } from '../kernel-names.js';
import { type UniformKey, uniformBitsAt, uniformKey, uniformShapeSize } from './counter-uniform.js';

/**
 * The inverted-dropout mask as one kernel: m_i = 1/(1 − rate) where u_i ≥ rate, else 0, with u_i the
 * counter-based uniforms of `seed` (counter-uniform.ts). A pure function of (shape, rate, seed), the
 * same on every backend, drawn with no generator state, no u tensor and no comparison or cast kernels.
 *
 * Kernel contract `DiffpruneDropoutMask` (kernel-names.ts): no inputs; attrs {shape, rate, seed}
 * (validated by `dropoutMask`); one float32 output of `shape`. A backend may register its own kernel under this
 * name (@diffprune/native does, compiled); `dropoutMask` uses it, and elsewhere fills the mask in JS.
 *
 * The comparison is u_i ≥ rate on the exact u_i = (k_i + 0.5)/2^23 (k_i the 23 random bits),
 * i.e. k_i ≥ T with T = ⌈rate·2^23 − 0.5⌉ (`dropoutThreshold`), so P(keep) = (2^23 − T)/2^23 is
 * 1 − rate within 2^−24. The kept value is 1/(1 − rate) rounded to float32 (`dropoutScale`).
 */

const twoTo23 = 2 ** 23;

/** T: an entry is kept when its 23 random bits k_i are ≥ T (equivalently u_i ≥ rate). */
export const dropoutThreshold = (rate: number): number => Math.max(0, Math.ceil(rate * twoTo23 - 0.5));

/** The kept entries' value, 1/(1 − rate) as float32. */
export const dropoutScale = (rate: number): number => Math.fround(1 / (1 - rate));

/** Fills `out` with m_{offset}, m_{offset+1}, … of the mask for `key` and `rate`. */
export function fillDropoutMask(out: Float32Array, key: UniformKey, rate: number, offset = 0): Float32Array {
  const { a, b } = key;
  const threshold = dropoutThreshold(rate);
  const scale = dropoutScale(rate);
  for (let i = 0; i < out.length; i++) out[i] = uniformBitsAt(i + offset, a, b) >= threshold ? scale : 0;
  return out;
}

const context = 'dropoutMask';

/**
 * The scaled dropout mask of `shape` (float32): each entry 1/(1 − rate) with probability 1 − rate,
 * else 0, a pure function of `seed` (an integer in [0, 2^32)) — identical on every backend. Uses the
 * active backend's `DiffpruneDropoutMask` kernel where registered, else fills it in JS. Throws an
 * `InvalidArgumentError` naming the argument for a bad shape, rate or seed.
 */
export function dropoutMask(shape: readonly number[], rate: number, seed: number): Tensor {
  const size = uniformShapeSize(shape, context);
  if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) {
    throw new InvalidArgumentError({
      argument: 'rate',
      expected: 'a number in [0, 1)',
      found: rate,
      context,
    });
  }
  const key = uniformKey(seed, context);
  if (tf.getKernel(dropoutMaskKernelName, tf.getBackend()) !== undefined) {
    const attrs: DropoutMaskAttributes = { shape: [...shape], rate, seed };
    return tf.engine().runKernel(dropoutMaskKernelName, {}, attrs as never) as Tensor;
  }
  return tf.tensor(fillDropoutMask(new Float32Array(size), key, rate), [...shape], 'float32');
}
