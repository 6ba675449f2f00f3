/**
 * The contract of every diffprune custom kernel, in one place (as tfjs-core keeps kernel_names.ts):
 * each kernel's name, its attributes' type and its inputs' roles. Names and types only — no backend:
 * the ops that run these kernels live in the libraries (@diffprune/hard-concrete's gate and penalty,
 * core's `dropoutMask`, the training library's Adam), their composite references beside them, and the
 * kernels themselves beside their backends (JS for cpu and wasm in @diffprune/runtime, compiled for `native` in
 * @diffprune/native). An op uses a kernel when one is registered for the active backend
 * (`tf.getKernel(name, tf.getBackend())`), else its composite.
 *
 * Every name is namespaced (`Diffprune…`) so it cannot clash with a tfjs kernel.
 */

// ---------------------------------------------------------------------------------------------
// The gate: θ_t = base_t + z_t ⊙ z_g,t ⊙ w_t for every gated tensor t, and the expected-L0 penalty, in
// one call each way (`gatedDiffParameters` in @diffprune/hard-concrete; one tensor is the per-tensor case).

/**
 * Forward `DiffpruneGatedDiffs`: inputs a list (the positions are the gradient's keys): per tensor
 * t = 0…n−1, in this order, base, w, logAlpha, then u (explicit noise), rows (int32) and groupLogAlpha
 * with groupU (the group gate's logα and its noise, one element each) where `layout[t]` says so
 * (`gatedDiffsInputRoles`).
 *   → [θ_0 … θ_{n−1}, penalty]
 *   θ_t = base_t + z_t·z_g,t·w_t (or its rows); penalty = Σ_t P_t with S_t = Σ_i σ(logα_t,i − shift) and
 *   P_t = S_t (no group gate), S_t + σ_g,t (`sum`) or S_t·σ_g,t (`product`).
 * Without u, the noise is the counter-based uniforms of `seeds[t]` (core's `uniformAt`).
 * The kernel computes the group gate itself from groupLogAlpha and groupU, like any entry's gate (in
 * float64 from the float32 inputs): z_g, its slope dz_g/dlogα_g (the formula below, from z_g) and
 * σ_g = σ(logα_g − shift), each rounded to float32 (as the composite's float32 ops hold them); z_g = 1
 * and σ_g = 0 without a group gate.
 */
export const gatedDiffsKernelName = 'DiffpruneGatedDiffs';

/**
 * Backward `DiffpruneGatedDiffsGrad`: named inputs `dy<t>`, `w<t>`, `logAlpha<t>`, `u<t>`?, `rows<t>`?,
 * `groupLogAlpha<t>`? with `groupU<t>`?, `dPenalty`.
 *   → [dW_0, dLogAlpha_0, …, dW_{n−1}, dLogAlpha_{n−1}, dGroup_t for each t with a group gate (shaped as
 *      groupLogAlpha<t>)]
 *   dW = dy·z·z_g;  dLogAlpha = dy·w·z_g·dz/dlogα + dPenalty·(σ_g,t if product else 1)·σ(1 − σ);
 *   dGroup = Σ(dy·w·z)·dz_g/dlogα_g + dPenalty·(S_t if product else 1)·σ_g(1 − σ_g),
 *   dz/dlogα = 1[0 < z < 1]·(r − l)·s(1 − s)/β with s = (z − l)/(r − l).
 * z and the group gate are recomputed from the inputs, which the op passes (the forward's own tensors:
 * the tfjs gradient saves nothing, so the tape makes no clones).
 */
export const gatedDiffsGradKernelName = 'DiffpruneGatedDiffsGrad';

/**
 * How a structured tensor's group gate enters the penalty: `sum` (the authors' code, the default)
 * Σ_i σ_i + σ_g, or `product` (the paper) Σ_i σ_i·σ_g.
 */
export type GroupPenalty = 'sum' | 'product';

export interface GatedDiffsAttributes {
  /** Per tensor: `layoutHasU | layoutHasRows | layoutHasGroup` flags. */
  layout: number[];
  /** Per tensor: the noise's seed (0 where u is given). */
  seeds: number[];
  groupPenalty: GroupPenalty;
  /** The gate's temperature β and stretch limits (l, r). */
  beta: number;
  left: number;
  right: number;
  /** The noise's clamp [uLow, uHigh]. */
  uLow: number;
  uHigh: number;
  /** β·log(−l/r), the expected-L0 sigmoid's shift. */
  shift: number;
}

/**
 * `GatedDiffsAttributes.layout` flags: tensor t has a `u` input, a `rows` input, a group gate (the
 * `groupLogAlpha` and `groupU` inputs).
 */
export const layoutHasU = 1;
export const layoutHasRows = 2;
export const layoutHasGroup = 4;

/** The input roles of one gated tensor, in the order the forward's list holds them. */
export type GatedDiffsInputRole = 'base' | 'w' | 'logAlpha' | 'u' | 'rows' | 'groupLogAlpha' | 'groupU';

/** What each position of the forward's input list holds (the gradient keys them by position). */
export function gatedDiffsInputRoles(layout: readonly number[]): { t: number; role: GatedDiffsInputRole }[] {
  const roles: { t: number; role: GatedDiffsInputRole }[] = [];
  layout.forEach((flags, t) => {
    const names: GatedDiffsInputRole[] = ['base', 'w', 'logAlpha'];
    if (flags & layoutHasU) names.push('u');
    if (flags & layoutHasRows) names.push('rows');
    if (flags & layoutHasGroup) names.push('groupLogAlpha', 'groupU');
    for (const role of names) roles.push({ t, role });
  });
  return roles;
}

// ---------------------------------------------------------------------------------------------
// The expected-L0 sum Σ σ(x − shift) and its gradient (`expectedL0` in @diffprune/hard-concrete).

/** `DiffpruneSumSigmoid`: {x} attrs `SumSigmoidAttributes` → [Σ σ(x − shift) (scalar, float64-accumulated), σ]. */
export const sumSigmoidKernelName = 'DiffpruneSumSigmoid';
/** `DiffpruneSumSigmoidGrad`: {dy (scalar), sigma} → [dy·σ(1 − σ)]. */
export const sumSigmoidGradKernelName = 'DiffpruneSumSigmoidGrad';

export interface SumSigmoidAttributes {
  shift: number;
}

// ---------------------------------------------------------------------------------------------
// The optimiser (the trainer's `adamStep` and global-norm clipping).

/**
 * `DiffpruneAdam`: one Adam step (PyTorch's formula, weight decay 0) for a list of (p, m, v, g)
 * quadruples [p0, m0, v0, g0, p1, …], attrs `AdamKernelAttributes`:
 *   g' = g·gradScale;  m1 = β1·m + (1 − β1)·g';  v1 = β2·v + (1 − β2)·g'²;
 *   p1 = p − (m1 / (√v1 / √(1 − β2^t) + ε))·stepSize,  stepSize = lr / (1 − β1^t).
 * Outputs [p1, m1, v1] per parameter; or none with `inPlace` when every p, m, v could be updated where
 * it is (callers handle both).
 */
export const adamKernelName = 'DiffpruneAdam';

export interface AdamKernelAttributes {
  beta1: number;
  beta2: number;
  stepSize: number;
  sqrtCorrection2: number;
  epsilon: number;
  /** Multiplies every gradient first (the clipping coefficient); default 1. */
  gradScale?: number;
  inPlace?: boolean;
}

/** `DiffpruneSumSquares`: Σ x² over every input (any names, float32, any shapes) → a float32 scalar. */
export const sumSquaresKernelName = 'DiffpruneSumSquares';

// ---------------------------------------------------------------------------------------------
// Dropout (`dropoutMask` in core).

/**
 * `DiffpruneDropoutMask`: no inputs; attrs `DropoutMaskAttributes`; one float32 output of `shape`,
 * 1/(1 − rate) where the counter-based uniform of `seed` is ≥ rate, else 0.
 */
export const dropoutMaskKernelName = 'DiffpruneDropoutMask';

export interface DropoutMaskAttributes {
  shape: number[];
  /** The probability of dropping an entry, in [0, 1). */
  rate: number;
  /** An integer in [0, 2^32). */
  seed: number;
}

// ---------------------------------------------------------------------------------------------
// Cross-task serving: each batch row's own sparse δ of a linear weight (`sparseRowDelta` in
// @diffprune/bert, read by its per-row `linear`).

/**
 * A task slot's sparse δ of a weight W [out, in]: flat row-major positions (i·in + j for W[i, j]) and
 * their values, one length. Any order, repeats add up; sorted (as a diff stores them) is fastest — a
 * kernel may sum a run of one output in registers. A serving process keeps one per task and linear
 * weight and passes the batch's slots as they are: no per-batch list of all the slots' entries.
 */
export interface SlotDelta {
  indices: Uint32Array;
  values: Float32Array;
}

/** The first e with sorted[e] ≥ x in ascending `sorted` (its length when none): a sorted δ's entries from a position on. */
export function lowerBound(sorted: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * `DiffpruneSparseRowDelta`: inputs {x, rowSlots}, attrs `SparseRowDeltaAttributes`; one float32
 * output, the correction c [batch, seq, outFeatures]:
 *   c[b, t, i] = Σ_{e of deltas[k], k = rowSlots[b], indices[e] = i·in + j} values[e]·x[b, t, j]
 * with x float32 [batch, seq, inFeatures], rowSlots int32 [batch] (row b's task slot, in [0, K)) and
 * `deltas` the K slots' δs of W [outFeatures, inFeatures] (`SlotDelta`; undefined: no δ, its rows'
 * c is 0; every position < outFeatures·inFeatures). A slot may have no rows. A mixed batch's per-row
 * linear is x·Wᵀ (the base weight) + c: the base pass plus Σ_b |δ of row b's slot|·seq FMAs; a slot's
 * δ is shared by its rows (a kernel may run each entry once over all the slot's tokens). The δs are
 * attributes, not inputs: each stays the task's own arrays (no tensor, no copy per batch).
 * Inference only: no gradient kernel (the op is not differentiable; the training path never uses it).
 * Composite: each row's entries listed, x's columns gathered per (row, entry), scaled,
 * `unsortedSegmentSum` into (row, out) segments.
 */
export const sparseRowDeltaKernelName = 'DiffpruneSparseRowDelta';

export interface SparseRowDeltaAttributes {
  /** The weight's output features: the correction's last dimension. */
  outFeatures: number;
  /** Each task slot's δ of the weight (undefined: none). */
  deltas: readonly (SlotDelta | undefined)[];
}

/** The input names of `DiffpruneSparseRowDelta`, in the order the op passes them. */
export const sparseRowDeltaInputRoles = ['x', 'rowSlots'] as const;

/**
 * `DiffpruneSparseRowLinear`: inputs {x, weight, rowSlots} and optionally {bias}, attrs
 * `SparseRowLinearAttributes`; one float32 output y [batch, seq, outFeatures], each row's linear
 * with its task slot's weight (and bias):
 *   y[b, t, i] = Σ_j x[b, t, j]·(weight[i, j] + δ_k[i, j]) (+ bias[k, i], or bias[i]),  k = rowSlots[b],
 *   δ_k[i, j] = Σ_{e of deltas[k], indices[e] = i·in + j} values[e]
 * with x float32 [batch, seq, inFeatures], weight float32 [outFeatures, inFeatures] (the base W),
 * rowSlots and `deltas` exactly as in `DiffpruneSparseRowDelta` (a slot may have no rows or no δ) and
 * bias float32 [K, outFeatures] (each slot's own bias) or [outFeatures] (shared). It equals
 * x·Wᵀ + `DiffpruneSparseRowDelta`(x) (+ bias) up to float rounding, at a cost of a slot's δ per
 * slot instead of per token: a kernel may add a slot's δ into a copy of W once and run one matmul of
 * the slot's tokens against it. Inference only: no gradient kernel.
 * Composite: x·Wᵀ (one matMul) + `DiffpruneSparseRowDelta` (+ each row's bias).
 */
export const sparseRowLinearKernelName = 'DiffpruneSparseRowLinear';

export interface SparseRowLinearAttributes {
  /** Each task slot's δ of the weight (undefined: none). */
  deltas: readonly (SlotDelta | undefined)[];
}

/** The input names of `DiffpruneSparseRowLinear`, in the order the op passes them (bias optional, last). */
export const sparseRowLinearInputRoles = ['x', 'weight', 'rowSlots', 'bias'] as const;

/** Every diffprune kernel name: what a backend may register, and what the kernel table test covers. */
export const diffpruneKernelNames = [
  gatedDiffsKernelName,
  gatedDiffsGradKernelName,
  sumSigmoidKernelName,
  sumSigmoidGradKernelName,
  adamKernelName,
  sumSquaresKernelName,
  dropoutMaskKernelName,
  sparseRowDeltaKernelName,
  sparseRowLinearKernelName,
] as const;
export type DiffpruneKernelName = (typeof diffpruneKernelNames)[number];
