// @diffprune/core's DiffpruneSparseRowDelta kernel, compiled: each batch row's sparse δ of a linear
// weight applied to its tokens (cross-task serving), the pairs of a task slot run once over all the
// tokens of that slot's rows, no intermediate.
#pragma once

#include <cstddef>
#include <cstdint>

namespace diffprune {

// x [batch, length, in_features]; row b belongs to slot row_slots[b] ∈ [0, slots); slot k's pairs are
// p ∈ [slot_starts[k], slot_starts[k + 1]) of outs, ins, values (slot_starts[0] = 0, nondecreasing,
// slot_starts[slots] = pairs). out [batch, length, out_features]:
//   out[b, t, i] = Σ_{p of slot row_slots[b], outs[p] = i} values[p]·x[b, t, ins[p]].
// A slot's tokens (all its rows') are gathered transposed in chunks of up to 64; each chunk runs the
// slot's pairs in pair order as vectorised axpys. The chunks are split over the thread pool; a token's
// sum does not depend on its chunk, so the result does not depend on the thread count. Indices must be
// in range (the caller checks).
void sparse_row_delta(float* out, const float* x, const int32_t* row_slots, const int32_t* slot_starts,
                      const int32_t* outs, const int32_t* ins, const float* values, std::ptrdiff_t slots,
                      std::ptrdiff_t batch, std::ptrdiff_t length, std::ptrdiff_t in_features,
                      std::ptrdiff_t out_features);

}  // namespace diffprune

namespace diffprune {

// x [batch, length, in_features], weight [out_features, in_features] (the base W), the slots' pairs as
// in sparse_row_delta; bias: null, [out_features] (bias_per_slot false) or [slots, out_features] (true).
// out [batch, length, out_features]:
//   out[b, t, :] = x[b, t, :]·(W + δ_k)ᵀ (+ bias[k]) with k = row_slots[b], δ_k the sum of slot k's pairs.
// Per slot with rows: a thread-local scratch Wᵀ [in, out] (copied once per call and thread), the slot's
// pairs scatter-added into it, one gemm of the slot's tokens (gathered contiguous) against it, the
// touched entries restored from W. A slot without pairs multiplies by W itself. A token's output does
// not depend on which tokens share its gemm, so the result does not depend on the thread count.
// Indices must be in range (the caller checks).
void sparse_row_linear(float* out, const float* x, const float* weight, const float* bias, bool bias_per_slot,
                       const int32_t* row_slots, const int32_t* slot_starts, const int32_t* outs,
                       const int32_t* ins, const float* values, std::ptrdiff_t slots, std::ptrdiff_t batch,
                       std::ptrdiff_t length, std::ptrdiff_t in_features, std::ptrdiff_t out_features);

}  // namespace diffprune
