import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { SlotDelta } from '@diffprune/core';

/** The gate's constants, as every gate call takes them: β, the stretch (l, r), the noise clamp, the shift. */
export type GateConstantArguments = readonly [
  beta: number,
  left: number,
  right: number,
  uLow: number,
  uHigh: number,
  shift: number,
];

/** The numbers both whole-model gate calls take after their arrays (one tensor's row size, noise and gate). */
export type FusedGateScalars = readonly [
  rowSize: number,
  seed: number,
  groupGate: number,
  ...constants: GateConstantArguments,
];

/** The functions the compiled addon exports (csrc/addon.cc). Arrays are read and written in place. */
export interface NativeAddon {
  /** tfjs BatchMatMul: out[bi] = op(a[bi % batchA]) · op(b[bi % batchB]), out is [batch, m, n]. */
  matmul(
    a: Float32Array,
    b: Float32Array,
    out: Float32Array,
    batch: number,
    batchA: number,
    batchB: number,
    m: number,
    n: number,
    k: number,
    transposeA: boolean,
    transposeB: boolean,
  ): void;
  /** out[ids[r], :] += values[r, :]; out must be zeroed; ids outside the range are dropped. */
  segmentSum(values: Float32Array, ids: Int32Array, out: Float32Array, inner: number): void;
  /** out = a op b, broadcast: out has `shape`; a, b read at Σ index·stride (stride 0 = broadcast). */
  binary(
    op: number,
    a: Float32Array,
    b: Float32Array,
    out: Float32Array | Uint8Array,
    shape: number[],
    aStrides: number[],
    bStrides: number[],
  ): void;
  unary(op: number, x: Float32Array, out: Float32Array): void;
  /** kind 0: out = scale · Σ_r x[o, r, i]; kind 1: max over r. */
  reduce(
    kind: number,
    x: Float32Array,
    out: Float32Array,
    outer: number,
    reduce: number,
    inner: number,
    scale: number,
  ): void;
  softmax(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  transpose(
    x: Float32Array | Int32Array,
    out: Float32Array | Int32Array,
    shape: number[],
    perm: number[],
  ): void;
  gatherRows(
    params: Float32Array | Int32Array,
    rows: number,
    inner: number,
    indices: Int32Array,
    out: Float32Array | Int32Array,
  ): void;
  /** Copies the box `region` of src (at srcBegin) into dst (at dstBegin); 4-byte elements. */
  copyRegion(
    src: Float32Array | Int32Array,
    srcShape: number[],
    srcBegin: number[],
    dst: Float32Array | Int32Array,
    dstShape: number[],
    dstBegin: number[],
    region: number[],
  ): void;
  /**
   * One fused Adam step into pOut, mOut, vOut (see kernels/adam.ts); the outputs may be p, m and v
   * themselves (all three: in place). g is multiplied by gradScale first (global-norm clipping).
   */
  adam(
    p: Float32Array,
    m: Float32Array,
    v: Float32Array,
    g: Float32Array,
    pOut: Float32Array,
    mOut: Float32Array,
    vOut: Float32Array,
    beta1: number,
    oneMinusBeta1: number,
    beta2: number,
    oneMinusBeta2: number,
    stepSize: number,
    sqrtCorrection2: number,
    epsilon: number,
    gradScale: number,
  ): void;
  /** Σ x², accumulated in double (the same for every thread count). */
  sumSquares(x: Float32Array): number;
  /** sigma = σ(x − shift); returns Σ sigma (double across blocks; the same for every thread count). */
  sumSigmoid(x: Float32Array, sigma: Float32Array, shift: number): number;
  /**
   * target[indices[i]] += values[i]·scale, prefetching ahead (the adds are cache misses); indices
   * must be strictly increasing and below target.length (checked; throws otherwise).
   */
  scatterAdd(target: Float32Array, indices: Uint32Array, values: Float32Array, scale: number): void;
  /**
   * The fused multi-tensor gate op, one tensor (csrc/gate.h): θ = base + z·groupGate·w over every element
   * (rows null) or over rows × rowSize elements (row r of θ is row rows[r] of the tensor); returns
   * Σσ(logα − shift) over the whole tensor. Noise: u, or the counter-based uniforms of seed.
   */
  gatedDiffsForward(
    theta: Float32Array,
    base: Float32Array,
    w: Float32Array,
    logAlpha: Float32Array,
    u: Float32Array | null,
    rows: Int32Array | null,
    ...scalars: FusedGateScalars
  ): number;
  /**
   * Its gradient: dW and dLogAlpha over the whole tensor (dLogAlpha includes penalty·σ(1 − σ)); returns
   * [Σ dy·w·z, Σσ(logα − shift)].
   */
  gatedDiffsBackward(
    dW: Float32Array,
    dLogAlpha: Float32Array,
    dy: Float32Array,
    w: Float32Array,
    logAlpha: Float32Array,
    u: Float32Array | null,
    rows: Int32Array | null,
    ...scalarsAndPenalty: [...FusedGateScalars, penalty: number]
  ): [groupDot: number, sigmaSum: number];
  /**
   * One tensor's group gate from its logα_g and noise u_g (csrc/gate.h `group_gate`): z_g, dz_g/dlogα_g
   * and σ(logα_g − shift), each a float32 value.
   */
  groupGate(
    logAlpha: number,
    u: number,
    ...constants: GateConstantArguments
  ): [gate: number, slope: number, sigma: number];
  /** dx = dy·σ(1 − σ). */
  sumSigmoidGrad(sigma: Float32Array, dx: Float32Array, dy: number): void;
  /**
   * @diffprune/core's dropout mask (csrc/dropout.h): out[i] = u_i ≥ rate ? float32(1/(1 − rate)) : 0
   * with u_i the counter-based uniforms of seed (a uint32); rate in [0, 1). Throws otherwise.
   */
  dropoutMask(out: Float32Array, seed: number, rate: number): void;
  /**
   * @diffprune/core's `DiffpruneSparseRowDelta` (csrc/sparse_delta.h): out [batch, length, outFeatures]
   * with out[b, t, i] = Σ values[e]·x[b, t, j] over the entries e (position i·inFeatures + j) of
   * deltas[rowSlots[b]] (a `SlotDelta`, or undefined: none), each δ read in place. Lengths, slots and
   * every position are checked (throws otherwise).
   */
  sparseRowDelta(
    out: Float32Array,
    x: Float32Array,
    rowSlots: Int32Array,
    deltas: readonly (SlotDelta | undefined)[],
    batch: number,
    length: number,
    inFeatures: number,
    outFeatures: number,
  ): void;
  /**
   * @diffprune/core's `DiffpruneSparseRowLinear` (csrc/sparse_delta.h): out [batch, length, outFeatures]
   * with out[b, t, :] = x[b, t, :]·(weight + δ_k)ᵀ (+ bias[k] or bias), k = rowSlots[b], δ_k =
   * deltas[k] as in `sparseRowDelta`; weight [outFeatures, inFeatures], bias null, [outFeatures] or
   * [slots, outFeatures]. Lengths, slots and every position are checked (throws otherwise).
   */
  sparseRowLinear(
    out: Float32Array,
    x: Float32Array,
    weight: Float32Array,
    bias: Float32Array | null,
    rowSlots: Int32Array,
    deltas: readonly (SlotDelta | undefined)[],
    batch: number,
    length: number,
    inFeatures: number,
    outFeatures: number,
  ): void;
  /** glibc: keep freed memory in the process (no page faults for the next tensor); false elsewhere. */
  tuneAllocator(): boolean;
  setThreads(threads: number): number;
  threads(): number;
  /** The GEMM micro-kernel in use: 'avx2+fma', 'avx512' or 'generic'. */
  gemmKernel(): string;
  /** Forces a GEMM micro-kernel ('avx2', 'avx512', 'generic'); false where the CPU lacks it. */
  setGemmKernel(name: string): boolean;
}

/**
 * Where node-gyp puts the addon, relative to this file in src/ and in dist/ alike;
 * `DIFFPRUNE_NATIVE_ADDON` points elsewhere (a build to compare against).
 */
export const addonPath =
  process.env.DIFFPRUNE_NATIVE_ADDON ??
  fileURLToPath(new URL('../build/Release/diffprune_native.node', import.meta.url));

let cached: NativeAddon | undefined;

/**
 * Loads the compiled addon. Throws an Error saying why when it is absent (the install-time build
 * failed or was skipped) or does not load.
 */
export function loadAddon(): NativeAddon {
  cached ??= loadAddonFrom(addonPath);
  return cached;
}

export function loadAddonFrom(path: string): NativeAddon {
  if (!existsSync(path)) {
    throw new Error(
      `the addon was not built (${path} is missing): the install-time node-gyp build failed or was skipped; ` +
        'run `pnpm --filter @diffprune/native build:addon` to see why',
    );
  }
  const require = createRequire(import.meta.url);
  return require(path) as NativeAddon;
}
