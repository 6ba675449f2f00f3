#include "sparse_delta.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gemm.h"
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

// Each slot's rows in batch order: slot k's are members[member_start[k] .. member_start[k + 1]).
void group_rows(const int32_t* row_slots, std::ptrdiff_t slots, std::ptrdiff_t batch,
                std::vector<std::ptrdiff_t>& member_start, std::vector<std::ptrdiff_t>& members) {
  member_start.assign(static_cast<size_t>(slots + 1), 0);
  for (std::ptrdiff_t b = 0; b < batch; ++b) ++member_start[row_slots[b] + 1];
  for (std::ptrdiff_t k = 0; k < slots; ++k) member_start[k + 1] += member_start[k];
  members.resize(static_cast<size_t>(batch));
  std::vector<std::ptrdiff_t> next(member_start.begin(), member_start.end() - 1);
  for (std::ptrdiff_t b = 0; b < batch; ++b) members[next[row_slots[b]]++] = b;
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
  std::vector<std::ptrdiff_t> member_start, members;
  group_rows(row_slots, slots, batch, member_start, members);
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

namespace {

// One gemm of sparse_row_linear: `count` tokens from `first` of slot `slot`'s tokens (its rows in batch order).
struct Piece {
  std::ptrdiff_t slot, first, count;
};

// A thread's Wᵀ packed for the gemm (valid for kernel call `call`: W + a slot's δ while the slot runs,
// W between slots) and its gather buffers.
struct LinearScratch {
  std::uint64_t call = 0;
  PackedB packed;
  std::vector<std::ptrdiff_t> offsets;
  std::vector<float> a, c;
};

std::atomic<std::uint64_t> linear_calls{0};

constexpr std::ptrdiff_t kGemmRows = 6;  // the micro-kernel's rows: pieces are multiples of it

}  // namespace

void sparse_row_linear(float* out, const float* x, const float* weight, const float* bias, bool bias_per_slot,
                       const int32_t* row_slots, const int32_t* slot_starts, const int32_t* outs,
                       const int32_t* ins, const float* values, std::ptrdiff_t slots, std::ptrdiff_t batch,
                       std::ptrdiff_t length, std::ptrdiff_t in_features, std::ptrdiff_t out_features) {
  const std::uint64_t call = linear_calls.fetch_add(1, std::memory_order_relaxed) + 1;
  std::vector<std::ptrdiff_t> member_start, members;
  group_rows(row_slots, slots, batch, member_start, members);
  // Pieces: each slot's tokens, split (on more than one thread) into pieces of about a 2·threads-th
  // of all tokens so that one large slot does not run alone; the largest first.
  const int threads = get_threads();
  const std::ptrdiff_t tokens_total = batch * length;
  const double flops = 2.0 * static_cast<double>(tokens_total) * in_features * out_features;
  const bool parallel = threads > 1 && flops > 4e6;
  const std::ptrdiff_t piece_tokens =
      parallel ? std::max<std::ptrdiff_t>(
                     8 * kGemmRows,
                     ((tokens_total + 2 * threads - 1) / (2 * threads) + kGemmRows - 1) / kGemmRows * kGemmRows)
               : tokens_total;
  std::vector<Piece> pieces;
  for (std::ptrdiff_t k = 0; k < slots; ++k) {
    const std::ptrdiff_t tokens = (member_start[k + 1] - member_start[k]) * length;
    const std::ptrdiff_t parts = tokens == 0 ? 0 : (tokens + piece_tokens - 1) / piece_tokens;
    for (std::ptrdiff_t part = 0, first = 0; part < parts; ++part) {
      const std::ptrdiff_t last =
          part + 1 == parts ? tokens : (tokens * (part + 1) / parts + kGemmRows - 1) / kGemmRows * kGemmRows;
      if (last > first) pieces.push_back({k, first, last - first});
      first = std::max(first, last);
    }
  }
  std::stable_sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) { return a.count > b.count; });

  const auto run = [&](const Piece& piece) {
    thread_local LinearScratch scratch;
    const std::ptrdiff_t k = piece.slot;
    const std::ptrdiff_t* rows = members.data() + member_start[k];
    const std::ptrdiff_t first = slot_starts[k], pairs = slot_starts[k + 1] - first;
    // The tokens: straight from x when they are consecutive there (one row, or a run of rows), else gathered.
    const std::ptrdiff_t first_row = piece.first / length, last_row = (piece.first + piece.count - 1) / length;
    bool consecutive = true;
    for (std::ptrdiff_t r = first_row; consecutive && r < last_row; ++r) consecutive = rows[r + 1] == rows[r] + 1;
    const auto token_offset = [&](std::ptrdiff_t token) {
      return rows[token / length] * length + token % length;  // the token's index in x's [batch·length]
    };
    const float* a;
    float* c;
    if (consecutive) {
      a = x + token_offset(piece.first) * in_features;
      c = out + token_offset(piece.first) * out_features;
    } else {
      scratch.a.resize(static_cast<size_t>(piece.count * in_features));
      scratch.c.resize(static_cast<size_t>(piece.count * out_features));
      for (std::ptrdiff_t u = 0; u < piece.count; ++u)
        std::memcpy(scratch.a.data() + u * in_features, x + token_offset(piece.first + u) * in_features,
                    sizeof(float) * static_cast<size_t>(in_features));
      a = scratch.a.data();
      c = scratch.c.data();
    }
    // B = Wᵀ, packed once per call and thread; a slot's δ is added into the packed copy and taken out
    // again.
    if (scratch.call != call) {
      pack_matrix_b(MatrixView{weight, 1, in_features}, static_cast<int>(in_features),
                    static_cast<int>(out_features), scratch.packed);
      scratch.call = call;
    }
    // Then restored from W (packing copies W's values).
    const PackedB& layout = scratch.packed;
    float* packed = scratch.packed.data.data();
    const int32_t* slot_outs = outs + first;
    const int32_t* slot_ins = ins + first;
    const float* slot_values = values + first;
    scratch.offsets.resize(static_cast<size_t>(pairs));
    std::ptrdiff_t* offsets = scratch.offsets.data();  // computed first: the adds then overlap better
    for (std::ptrdiff_t p = 0; p < pairs; ++p) offsets[p] = layout.at(slot_ins[p], slot_outs[p]);
    for (std::ptrdiff_t p = 0; p < pairs; ++p) packed[offsets[p]] += slot_values[p];
    gemm_packed(static_cast<int>(piece.count), MatrixView{a, in_features, 1}, layout, c, out_features);
    for (std::ptrdiff_t p = 0; p < pairs; ++p) packed[offsets[p]] = weight[slot_outs[p] * in_features + slot_ins[p]];
    const float* shift = bias == nullptr ? nullptr : bias + (bias_per_slot ? k * out_features : 0);
    for (std::ptrdiff_t u = 0; u < piece.count; ++u) {
      float* target = consecutive ? c + u * out_features : out + token_offset(piece.first + u) * out_features;
      if (!consecutive)
        std::memcpy(target, c + u * out_features, sizeof(float) * static_cast<size_t>(out_features));
      if (shift)
        for (std::ptrdiff_t i = 0; i < out_features; ++i) target[i] += shift[i];
    }
  };
  const int n = static_cast<int>(pieces.size());
  if (!parallel || n < 2) {
    for (const Piece& piece : pieces) run(piece);
    return;
  }
  parallel_for(n, [&](int t) { run(pieces[static_cast<size_t>(t)]); });
}

}  // namespace diffprune
