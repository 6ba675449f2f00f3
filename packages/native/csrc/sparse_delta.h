// @diffprune/core's DiffpruneSparseRowDelta kernel, compiled: each batch row's sparse δ of a linear
// weight applied to its tokens (cross-task serving), one pass over the pairs, no intermediate.
#pragma once

#include <cstddef>
#include <cstdint>

namespace diffprune {

// out [batch, length, out_features] = 0, then for each pair p and token t:
//   out[rows[p], t, outs[p]] += values[p]·x[rows[p], t, ins[p]]   (x [batch, length, in_features]).
// The batch rows are split over the thread pool; a row's pairs are added in pair order, as a vectorised
// axpy over its tokens (the result does not depend on the thread count). Indices must be in range (the
// caller checks).
void sparse_row_delta(float* out, const float* x, const int32_t* rows, const int32_t* outs, const int32_t* ins,
                      const float* values, std::ptrdiff_t pairs, std::ptrdiff_t batch, std::ptrdiff_t length,
                      std::ptrdiff_t in_features, std::ptrdiff_t out_features);

}  // namespace diffprune
