#pragma once

#include <cstddef>
#include <cstdint>

namespace diffprune {

// out[ids[r], :] += values[r, :] for every row r (rows = count of ids); ids outside
// [0, segments) are dropped, as in tfjs. out must be zeroed by the caller.
void segment_sum(const float* values, const int32_t* ids, std::ptrdiff_t rows, std::ptrdiff_t inner,
                 std::ptrdiff_t segments, float* out);

}  // namespace diffprune
