#include "elementwise.h"

namespace diffprune {

void segment_sum(const float* values, const int32_t* ids, std::ptrdiff_t rows, std::ptrdiff_t inner,
                 std::ptrdiff_t segments, float* out) {
  for (std::ptrdiff_t r = 0; r < rows; ++r) {
    const std::ptrdiff_t segment = ids[r];
    if (segment < 0 || segment >= segments) continue;
    const float* src = values + r * inner;
    float* dst = out + segment * inner;
    for (std::ptrdiff_t j = 0; j < inner; ++j) dst[j] += src[j];
  }
}

}  // namespace diffprune
