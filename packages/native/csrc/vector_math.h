// A float32 exp that loops vectorise, shared by the elementwise and gate kernels (with vectorise.h's
// AVX2 clone attribute).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "vectorise.h"

namespace diffprune {

// e^x in float32 without a libm call (so loops vectorise): x = n·ln2 + r, e^r by Cephes' expf
// polynomial, 2^n through the exponent bits. Relative error ≈ 2 ulp; 0 below −87.3, +inf above 88.7.
inline float fast_exp(float x) {
  const float clamped = std::min(std::max(x, -87.3f), 88.7f);
  const float n = std::floor(clamped * 1.44269504088896341f + 0.5f);
  const float r = clamped - n * 0.693359375f + n * 2.12194440e-4f;
  const float z = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * z + r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const float result = p * scale;
  return x < -87.3f ? 0.0f : (x > 88.7f ? INFINITY : result);
}

}  // namespace diffprune
