// @diffprune/core's DiffpruneSparseRowDelta and DiffpruneSparseRowLinear kernels, compiled: each batch
// row's sparse δ of a linear weight applied to its tokens (cross-task serving), a task slot's δ run once
// over all the tokens of that slot's rows, no intermediate.
#pragma once

#include <cstddef>
#include <cstdint>

namespace diffprune {

// A task slot's δ of W [out_features, in_features]: `count` flat row-major positions (i·in_features + j)
// and their values, any order (sorted is fastest), repeats adding up; count 0 (null arrays): no δ.
struct SlotDeltaView {
  const uint32_t* indices = nullptr;
  const float* values = nullptr;
  std::ptrdiff_t count = 0;
  // sparse_row_linear only, optional: each entry's position in the packed Wᵀ of the active GEMM
  // kernel (packed_offsets), computed once per δ by the caller; null: computed per call.
  const int32_t* offsets = nullptr;
};

// Each entry's position in Wᵀ [in_features, out_features] packed by pack_matrix_b with the active GEMM
// kernel (PackedB::at of (j, i) for the entry at i·in_features + j). False (offsets untouched) when a
// position would not fit an int32.
bool packed_offsets(const SlotDeltaView& delta, std::ptrdiff_t in_features, std::ptrdiff_t out_features,
                    int32_t* offsets);

// x [batch, length, in_features]; row b belongs to slot row_slots[b] ∈ [0, slots) whose δ is
// deltas[row_slots[b]]. out [batch, length, out_features]:
//   out[b, t, i] = Σ_{e of slot row_slots[b]'s δ, indices[e] = i·in_features + j} values[e]·x[b, t, j].
// A slot's tokens (all its rows') are gathered transposed in chunks of up to 64; each chunk runs the
// slot's entries in order as vectorised axpys. The chunks are split over the thread pool; a token's
// sum does not depend on its chunk, so the result does not depend on the thread count. Indices must be
// in range (the caller checks).
void sparse_row_delta(float* out, const float* x, const int32_t* row_slots, const SlotDeltaView* deltas,
                      std::ptrdiff_t slots, std::ptrdiff_t batch, std::ptrdiff_t length, std::ptrdiff_t in_features,
                      std::ptrdiff_t out_features);

// x [batch, length, in_features], weight [out_features, in_features] (the base W), the slots' δs as
// in sparse_row_delta; bias: null, [out_features] (bias_per_slot false) or [slots, out_features] (true).
// out [batch, length, out_features]:
//   out[b, t, :] = x[b, t, :]·(W + δ_k)ᵀ (+ bias[k]) with k = row_slots[b].
// Per slot with rows: a thread-local packed Wᵀ (packed once per call and thread), the slot's δ
// added into it, one gemm of the slot's tokens against it, the touched entries restored (their values saved as the δ went in). A
// slot without a δ multiplies by W itself. A token's output does not depend on which tokens share its
// gemm, so the result does not depend on the thread count. Indices must be in range (the caller checks).
void sparse_row_linear(float* out, const float* x, const float* weight, const float* bias, bool bias_per_slot,
                       const int32_t* row_slots, const SlotDeltaView* deltas, std::ptrdiff_t slots,
                       std::ptrdiff_t batch, std::ptrdiff_t length, std::ptrdiff_t in_features,
                       std::ptrdiff_t out_features);

}  // namespace diffprune
