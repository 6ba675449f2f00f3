#include "sparse_delta.h"

#include <cstring>

#include "pool.h"

namespace diffprune {

void sparse_row_delta(float* out, const float* x, const int32_t* rows, const int32_t* outs, const int32_t* ins,
                      const float* values, std::ptrdiff_t pairs, std::ptrdiff_t batch, std::ptrdiff_t length,
                      std::ptrdiff_t in_features, std::ptrdiff_t out_features) {
  std::memset(out, 0, sizeof(float) * static_cast<size_t>(batch * length * out_features));
  const std::ptrdiff_t row_in = length * in_features, row_out = length * out_features;
  parallel_range(length, pairs, [&](std::ptrdiff_t begin, std::ptrdiff_t end) {
    for (std::ptrdiff_t p = 0; p < pairs; ++p) {
      const float v = values[p];
      const float* source = x + rows[p] * row_in + ins[p] + begin * in_features;
      float* target = out + rows[p] * row_out + outs[p] + begin * out_features;
      for (std::ptrdiff_t t = begin; t < end; ++t, source += in_features, target += out_features) *target += v * *source;
    }
  });
}

}  // namespace diffprune
