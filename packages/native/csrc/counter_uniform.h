// The counter-based uniforms of @diffprune/core (src/random/counter-uniform.ts): u_i is a pure
// function of (seed, i), two rounds of MurmurHash3's fmix32 over the index keyed by the seed, 23
// random bits k_i and u_i = (k_i + 0.5)·2^−23. The same integer arithmetic as the JS, so the same
// bits (tested against it). Used by the gate (gate.cc) and dropout (dropout.cc) kernels.
#pragma once

#include <cstdint>

namespace diffprune {

inline uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

struct UniformKey {
  uint32_t a, b;
};

// core's uniformKey(seed).
inline UniformKey uniform_key(uint32_t seed) { return {fmix32(seed ^ 0x9e3779b9u), fmix32(seed + 0x6a09e667u)}; }

// core's uniformBitsAt: k_i ∈ [0, 2^23).
inline uint32_t uniform_bits_at(uint32_t i, UniformKey key) {
  return fmix32(fmix32((i * 0x9e3779b9u) ^ key.a) ^ key.b) >> 9;
}

// core's uniformAt: u_i = (k_i + 0.5)·2^−23.
inline double uniform_at(uint32_t i, UniformKey key) {
  return (static_cast<double>(uniform_bits_at(i, key)) + 0.5) * (1.0 / 8388608.0);
}

}  // namespace diffprune
