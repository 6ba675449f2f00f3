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
