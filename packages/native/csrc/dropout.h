// @diffprune/core's DiffpruneDropoutMask kernel, compiled: the scaled inverted-dropout mask drawn from
// the counter-based uniforms (counter_uniform.h), bit-identical to core's fillDropoutMask.
#pragma once

#include <cstddef>
#include <cstdint>

namespace diffprune {

// T = ⌈rate·2^23 − 0.5⌉ (at least 0): entry i is kept when its 23 random bits k_i are ≥ T, i.e.
// when u_i = (k_i + 0.5)·2^−23 ≥ rate. core's dropoutThreshold.
uint32_t dropout_threshold(double rate);

// out[i] = k_i ≥ threshold ? scale : 0 for i in [0, n) (n ≤ 2^32), k_i the bits of seed's uniforms;
// split over the thread pool for large n (the values do not depend on the split).
void dropout_mask(float* out, std::ptrdiff_t n, uint32_t seed, uint32_t threshold, float scale);

}  // namespace diffprune
