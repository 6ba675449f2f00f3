#include "dropout.h"

#include <algorithm>
#include <cmath>

#include "counter_uniform.h"
#include "pool.h"
#include "vectorise.h"

namespace diffprune {
namespace {

// A loop of integer multiplies, xors and shifts and one select: vectorised (8 lanes in the AVX2
// clone). The index is 32-bit, as in the JS (Math.imul on i).
DIFFPRUNE_CLONES void mask_loop(float* out, uint32_t begin, std::ptrdiff_t count, UniformKey key,
                                uint32_t threshold, float scale) {
  for (std::ptrdiff_t j = 0; j < count; ++j)
    out[j] = uniform_bits_at(begin + static_cast<uint32_t>(j), key) >= threshold ? scale : 0.0f;
}

}  // namespace

uint32_t dropout_threshold(double rate) {
  return static_cast<uint32_t>(std::max(0.0, std::ceil(rate * 8388608.0 - 0.5)));
}

void dropout_mask(float* out, std::ptrdiff_t n, uint32_t seed, uint32_t threshold, float scale) {
  const UniformKey key = uniform_key(seed);
  // ~2 ns an element in the baseline clone, well under that with AVX2: worth threads above ~32 K.
  parallel_range(n, 1, [&](std::ptrdiff_t begin, std::ptrdiff_t end) {
    mask_loop(out + begin, static_cast<uint32_t>(begin), end - begin, key, threshold, scale);
  });
}

}  // namespace diffprune
