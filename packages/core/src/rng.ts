import { InvalidArgumentError } from './errors.js';

/**
 * A small, seedable, splittable PRNG (xoshiro128** seeded by splitmix32). The same seed gives the
 * same stream on every platform; `fork(key)` gives an independent stream per purpose, so that adding
 * a consumer in one place does not shift the numbers another place sees.
 */
export interface Rng {
  readonly seed: number;
  /** Uniform in [0, 1). */
  uniform(): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
  /** Integer uniform in [0, n). */
  int(n: number): number;
  /** A Float32Array of uniforms in [0, 1). */
  uniformArray(length: number): Float32Array;
  /** In-place Fisher–Yates shuffle; returns the array. */
  shuffle<T>(array: T[]): T[];
  /** An independent stream derived from this seed and a key (not from this stream's position). */
  fork(key: string | number): Rng;
  /** A 32-bit unsigned integer, e.g. to seed tfjs ops. */
  nextUint32(): number;
  /** The state, to save in a checkpoint; `createRng(seed).restore(state)` continues the stream. */
  state(): number[];
  restore(state: readonly number[]): Rng;
}

const splitmix32 = (seed: number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x9e3779b9) >>> 0;
    let t = a ^ (a >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    t ^= t >>> 15;
    return t >>> 0;
  };
};

/** FNV-1a of a string, to turn fork keys into numbers. */
const hashKey = (key: string | number): number => {
  const text = String(key);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
};

export function createRng(seed: number): Rng {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new InvalidArgumentError({ argument: 'seed', expected: 'an integer in [0, 2^32)', found: seed });
  }
  const init = splitmix32(seed);
  const s = new Uint32Array([init(), init(), init(), init()]);
  let spare: number | undefined;

  const next = (): number => {
    let [s0, s1, s2, s3] = [s[0] as number, s[1] as number, s[2] as number, s[3] as number];
    const result = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    s2 = (s2 ^ s0) >>> 0;
    s3 = (s3 ^ s1) >>> 0;
    s1 = (s1 ^ s2) >>> 0;
    s0 = (s0 ^ s3) >>> 0;
    s2 = (s2 ^ t) >>> 0;
    s3 = rotl(s3, 11);
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
    return result;
  };

  const rng: Rng = {
    seed,
    nextUint32: next,
    uniform: () => next() / 4294967296,
    normal() {
      if (spare !== undefined) {
        const value = spare;
        spare = undefined;
        return value;
      }
      let u = 0;
      while (u === 0) u = rng.uniform();
      const v = rng.uniform();
      const radius = Math.sqrt(-2 * Math.log(u));
      spare = radius * Math.sin(2 * Math.PI * v);
      return radius * Math.cos(2 * Math.PI * v);
    },
    int(n: number) {
      if (!Number.isInteger(n) || n <= 0) {
        throw new InvalidArgumentError({ argument: 'n', expected: 'a positive integer', found: n });
      }
      return Math.floor(rng.uniform() * n);
    },
    uniformArray(length: number) {
      const out = new Float32Array(length);
      for (let i = 0; i < length; i++) out[i] = next() / 4294967296;
      return out;
    },
    shuffle<T>(array: T[]) {
      for (let i = array.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        const tmp = array[i] as T;
        array[i] = array[j] as T;
        array[j] = tmp;
      }
      return array;
    },
    fork(key: string | number) {
      return createRng((Math.imul(seed ^ 0x5bd1e995, 0x27d4eb2f) ^ hashKey(key)) >>> 0);
    },
    state: () => [...s, spare === undefined ? Number.NaN : spare],
    restore(state: readonly number[]) {
      if (state.length !== 5) {
        throw new InvalidArgumentError({
          argument: 'state',
          expected: 'an array of 5 numbers',
          found: state,
        });
      }
      for (let i = 0; i < 4; i++) s[i] = state[i]! >>> 0;
      spare = Number.isNaN(state[4]) ? undefined : state[4];
      return rng;
    },
  };
  return rng;
}

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;
