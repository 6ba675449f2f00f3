#include "sparse_delta.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "pool.h"

namespace diffprune {

namespace {

constexpr std::ptrdiff_t kLane = 8;    // tokens per AVX register
constexpr std::ptrdiff_t kChunk = 64;  // tokens per chunk: up to eight registers of local sums

// A chunk's pairs over `width` tokens (a multiple of kLane, ≤ kChunk), xt [in][width] → acc [out][width]:
// a run of pairs with one output sums in registers (consecutive pairs of a sorted δ share their output:
// adding each straight into memory would chain every add through a store), then adds into acc.
template <int width>
__attribute__((always_inline)) inline void chunk_pairs(float* acc, const float* xt, const int32_t* outs,
                                                       const int32_t* ins, const float* values,
                                                       std::ptrdiff_t count) {
  std::ptrdiff_t k = 0;
  while (k < count) {
    const int32_t i = outs[k];
    float local[width] = {};
    for (; k < count && outs[k] == i; ++k) {
      const float v = values[k];
      const float* __restrict source = xt + ins[k] * width;
      for (int u = 0; u < width; ++u) local[u] += v * source[u];
    }
    float* __restrict target = acc + i * width;
    for (int u = 0; u < width; ++u) target[u] += local[u];
  }
}

// chunk_pairs for the smallest lane multiple ≥ width (inlined: compiled with run_pairs' target).
template <int lanes = kLane>
__attribute__((always_inline)) inline void dispatch_width(float* acc, const float* xt, const int32_t* outs,
                                                          const int32_t* ins, const float* values,
                                                          std::ptrdiff_t count, std::ptrdiff_t width) {
  if constexpr (lanes < kChunk) {
    if (width > lanes) return dispatch_width<lanes + kLane>(acc, xt, outs, ins, values, count, width);
  }
  chunk_pairs<lanes>(acc, xt, outs, ins, values, count);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=haswell", "default")))
#endif
void run_pairs(float* acc, const float* xt, const int32_t* outs, const int32_t* ins, const float* values,
               std::ptrdiff_t count, std::ptrdiff_t width) {
  dispatch_width(acc, xt, outs, ins, values, count, width);
}

// One chunk: tokens [first, first + count) of a slot whose rows are `members` (token τ is row
// members[τ / length], position τ % length).
struct Chunk {
  std::ptrdiff_t slot, first, count;
};

}  // namespace

void sparse_row_delta(float* out, const float* x, const int32_t* row_slots, const int32_t* slot_starts,
                      const int32_t* outs, const int32_t* ins, const float* values, std::ptrdiff_t slots,
                      std::ptrdiff_t batch, std::ptrdiff_t length, std::ptrdiff_t in_features,
                      std::ptrdiff_t out_features) {
  const std::ptrdiff_t row_in = length * in_features, row_out = length * out_features;
  // Each slot's rows, in batch order; rows of a slot without pairs are zeros.
  std::vector<std::ptrdiff_t> member_start(static_cast<size_t>(slots + 1), 0);
  for (std::ptrdiff_t b = 0; b < batch; ++b) ++member_start[row_slots[b] + 1];
  for (std::ptrdiff_t k = 0; k < slots; ++k) member_start[k + 1] += member_start[k];
  std::vector<std::ptrdiff_t> members(static_cast<size_t>(batch));
  {
    std::vector<std::ptrdiff_t> next(member_start.begin(), member_start.end() - 1);
    for (std::ptrdiff_t b = 0; b < batch; ++b) members[next[row_slots[b]]++] = b;
  }
  std::vector<Chunk> chunks;
  std::ptrdiff_t work = 0;
  for (std::ptrdiff_t k = 0; k < slots; ++k) {
    const std::ptrdiff_t pairs = slot_starts[k + 1] - slot_starts[k];
    const std::ptrdiff_t tokens = (member_start[k + 1] - member_start[k]) * length;
    if (pairs == 0) {
      for (std::ptrdiff_t m = member_start[k]; m < member_start[k + 1]; ++m)
        std::memset(out + members[m] * row_out, 0, sizeof(float) * static_cast<size_t>(row_out));
      continue;
    }
    // Chunks of equal size (in lanes): 72 tokens are 40 + 32, not 64 + 8 (padding).
    const std::ptrdiff_t parts = (tokens + kChunk - 1) / kChunk;
    for (std::ptrdiff_t part = 0, first = 0; part < parts; ++part) {
      const std::ptrdiff_t last = std::min(tokens, (tokens * (part + 1) / parts + kLane - 1) / kLane * kLane);
      if (last > first) chunks.push_back({k, first, last - first});
      first = last;
    }
    work += pairs * tokens;
  }
  const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(chunks.size());
  const auto run = [&](std::ptrdiff_t begin, std::ptrdiff_t end) {
    std::vector<float> scratch;
    for (std::ptrdiff_t c = begin; c < end; ++c) {
      const Chunk& chunk = chunks[c];
      const std::ptrdiff_t width = (chunk.count + kLane - 1) / kLane * kLane;  // padding: zeros, never read back
      scratch.assign(static_cast<size_t>((in_features + out_features) * width), 0.0f);
      float* xt = scratch.data();
      float* acc = xt + in_features * width;
      const std::ptrdiff_t* rows = members.data() + member_start[chunk.slot];
      for (std::ptrdiff_t u = 0; u < chunk.count; ++u) {
        const std::ptrdiff_t token = chunk.first + u;
        const float* source = x + rows[token / length] * row_in + (token % length) * in_features;
        for (std::ptrdiff_t j = 0; j < in_features; ++j) xt[j * width + u] = source[j];
      }
      const std::ptrdiff_t first = slot_starts[chunk.slot];
      run_pairs(acc, xt, outs + first, ins + first, values + first, slot_starts[chunk.slot + 1] - first, width);
      for (std::ptrdiff_t u = 0; u < chunk.count; ++u) {
        const std::ptrdiff_t token = chunk.first + u;
        float* target = out + rows[token / length] * row_out + (token % length) * out_features;
        for (std::ptrdiff_t i = 0; i < out_features; ++i) target[i] = acc[i * width + u];
      }
    }
  };
  // A chunk's work is about its slot's pairs × its tokens.
  parallel_range(n, work / (n > 0 ? n : 1) + 1, run);
}

}  // namespace diffprune
