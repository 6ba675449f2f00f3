import { InvalidArgumentError } from '../errors.js';

/**
 * Counter-based uniform noise: u_i is a pure function of (seed, i), so any element can be drawn
 * independently, inside a fused kernel, in any order, with no generator state and no u tensor.
 * Two rounds of MurmurHash3's 32-bit finaliser (a bijection) over the index, keyed by the seed;
 * 23 random bits, u = (k + 0.5)/2^23 ∈ (0, 1): exactly representable in float32 (so a u tensor and the
 * kernel's own draw agree to the bit), never 0 or 1.
 *
 * Why not `createRng(seed).uniformArray` (core's xoshiro128**): it is sequential (element i needs the
 * i − 1 before it) and measured ~15× slower per number here; a gate needs millions of fresh numbers per
 * step (4.4 M for BERT-Tiny, 110 M for BERT-base). The gate tests check the resulting distribution
 * against closed forms (P(z = 0), P(z = 1), E[z]) over 10^5+ samples.
 *
 * Used by @diffprune/hard-concrete's gates and by `dropoutMask`; @diffprune/native's csrc/counter_uniform.h
 * is the same hash in C++ (its kernels are tested bit-identical to these functions).
 */
export interface UniformKey {
  a: number;
  b: number;
}

const fmix32 = (h: number): number => {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
};

export function uniformKey(seed: number, context: string): UniformKey {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new InvalidArgumentError({
      argument: 'seed',
      expected: 'an integer in [0, 2^32)',
      found: seed,
      context,
    });
  }
  return { a: fmix32((seed ^ 0x9e3779b9) >>> 0), b: fmix32((seed + 0x6a09e667) >>> 0) };
}

const inverse2To23 = 2 ** -23;

/** The 23 random bits k_i ∈ [0, 2^23) behind the i-th uniform of a key (i < 2^32): u_i = (k_i + 0.5)/2^23. */
export const uniformBitsAt = (i: number, a: number, b: number): number =>
  fmix32((fmix32((Math.imul(i, 0x9e3779b9) ^ a) >>> 0) ^ b) >>> 0) >>> 9;

/** The i-th uniform of a key (i < 2^32). */
export const uniformAt = (i: number, a: number, b: number): number =>
  (uniformBitsAt(i, a, b) + 0.5) * inverse2To23;

/** Fills `out` with u_{offset}, u_{offset+1}, … of the key. */
export function fillUniform(out: Float32Array, key: UniformKey, offset = 0): Float32Array {
  const { a, b } = key;
  for (let i = 0; i < out.length; i++) out[i] = uniformAt(i + offset, a, b);
  return out;
}

/**
 * The element count of a shape to be filled with counter-based uniforms (or a mask drawn from them):
 * an `InvalidArgumentError` naming `context` unless every dimension is a non-negative integer and
 * there are at most 2^32 elements (u_i is indexed by a uint32).
 */
export function uniformShapeSize(shape: readonly number[], context: string): number {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new InvalidArgumentError({
      argument: 'shape',
      expected: 'an array of non-negative integers',
      found: shape,
      context,
    });
  }
  const size = shape.reduce((n, d) => n * d, 1);
  if (size > 2 ** 32) {
    throw new InvalidArgumentError({
      argument: 'shape',
      expected: 'at most 2^32 elements (the counter-based uniforms are indexed by a uint32)',
      found: shape,
      context,
    });
  }
  return size;
}
