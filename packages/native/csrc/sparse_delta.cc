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

// A flat position i·in + j of W [out, in] split into (i, j) without a hardware division (a run-time
// divisor costs tens of cycles per entry): q = ⌊c·n / 2^64⌋ with c = ⌈2^64 / in⌉ is exact for every
// 32-bit n and divisor 2 ≤ in < 2^32 (Lemire, Kaser & Kurz, "Faster remainder by direct computation",
// 2019); in = 1 is its own case (c would overflow).
struct FlatSplit {
  uint64_t magic;
  uint32_t in;
  explicit FlatSplit(std::ptrdiff_t in_features)
      : magic(in_features > 1 ? UINT64_MAX / static_cast<uint64_t>(in_features) + 1 : 0),
        in(static_cast<uint32_t>(in_features)) {}
  __attribute__((always_inline)) inline void operator()(uint32_t flat, int32_t& i, int32_t& j) const {
    const uint32_t q =
        in == 1 ? flat : static_cast<uint32_t>((static_cast<unsigned __int128>(magic) * flat) >> 64);
    i = static_cast<int32_t>(q);
    j = static_cast<int32_t>(flat - q * in);
  }
};

// A chunk's δ entries over `width` tokens (a multiple of kLane, ≤ kChunk), xt [in][width] → acc
// [out][width]: a run of entries with one output sums in registers (consecutive entries of a sorted δ
// share their output: adding each straight into memory would chain every add through a store), then
// adds into acc.
template <int width>
__attribute__((always_inline)) inline void chunk_pairs(float* acc, const float* xt, const SlotDeltaView& delta,
                                                       const FlatSplit& split) {
  std::ptrdiff_t e = 0;
  const std::ptrdiff_t count = delta.count;
  int32_t i = 0, j = 0;
  if (count > 0) split(delta.indices[0], i, j);
  while (e < count) {
    const int32_t run = i;
    float local[width] = {};
    while (i == run) {
      const float v = delta.values[e];
      const float* __restrict source = xt + j * width;
      for (int u = 0; u < width; ++u) local[u] += v * source[u];
      if (++e == count) break;
      split(delta.indices[e], i, j);
    }
    float* __restrict target = acc + run * width;
    for (int u = 0; u < width; ++u) target[u] += local[u];
  }
}

// chunk_pairs for the smallest lane multiple ≥ width (inlined: compiled with run_pairs' target).
template <int lanes = kLane>
__attribute__((always_inline)) inline void dispatch_width(float* acc, const float* xt, const SlotDeltaView& delta,
                                                          const FlatSplit& split, std::ptrdiff_t width) {
  if constexpr (lanes < kChunk) {
    if (width > lanes) return dispatch_width<lanes + kLane>(acc, xt, delta, split, width);
  }
  chunk_pairs<lanes>(acc, xt, delta, split);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=haswell", "default")))
#endif
void run_pairs(float* acc, const float* xt, const SlotDeltaView& delta, const FlatSplit& split,
               std::ptrdiff_t width) {
  dispatch_width(acc, xt, delta, split, width);
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

void sparse_row_delta(float* out, const float* x, const int32_t* row_slots, const SlotDeltaView* deltas,
                      std::ptrdiff_t slots, std::ptrdiff_t batch, std::ptrdiff_t length, std::ptrdiff_t in_features,
                      std::ptrdiff_t out_features) {
  const std::ptrdiff_t row_in = length * in_features, row_out = length * out_features;
  // Each slot's rows, in batch order; rows of a slot without a δ are zeros.
  std::vector<std::ptrdiff_t> member_start, members;
  group_rows(row_slots, slots, batch, member_start, members);
  std::vector<Chunk> chunks;
  std::ptrdiff_t work = 0;
  for (std::ptrdiff_t k = 0; k < slots; ++k) {
    const std::ptrdiff_t pairs = deltas[k].count;
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
  const FlatSplit split(in_features);
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
      run_pairs(acc, xt, deltas[chunk.slot], split, width);
      for (std::ptrdiff_t u = 0; u < chunk.count; ++u) {
        const std::ptrdiff_t token = chunk.first + u;
        float* target = out + rows[token / length] * row_out + (token % length) * out_features;
        for (std::ptrdiff_t i = 0; i < out_features; ++i) target[i] = acc[i * width + u];
      }
    }
  };
  // A chunk's work is about its slot's entries × its tokens.
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
  std::vector<float> a, c, saved;
};

std::atomic<std::uint64_t> linear_calls{0};

constexpr std::ptrdiff_t kGemmRows = 6;  // the micro-kernel's rows: pieces are multiples of it

}  // namespace

void sparse_row_linear(float* out, const float* x, const float* weight, const float* bias, bool bias_per_slot,
                       const int32_t* row_slots, const SlotDeltaView* deltas, std::ptrdiff_t slots,
                       std::ptrdiff_t batch, std::ptrdiff_t length, std::ptrdiff_t in_features,
                       std::ptrdiff_t out_features) {
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

  const FlatSplit split(in_features);
  const auto run = [&](const Piece& piece) {
    thread_local LinearScratch scratch;
    const std::ptrdiff_t k = piece.slot;
    const std::ptrdiff_t* rows = members.data() + member_start[k];
    const SlotDeltaView& delta = deltas[k];
    const std::ptrdiff_t pairs = delta.count;
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
    const PackedB& layout = scratch.packed;
    float* packed = scratch.packed.data.data();
    // Each entry added at its position in the packed copy (the value there saved first), the GEMM, the
    // saved values put back in reverse order (a repeated position gets its first saved value, W's):
    // sequential reads only, and no index read once the positions are kept.
    scratch.saved.resize(static_cast<size_t>(pairs));
    float* saved = scratch.saved.data();
    const auto patched_gemm = [&](const auto* offsets) {
      for (std::ptrdiff_t p = 0; p < pairs; ++p) {
        saved[p] = packed[offsets[p]];
        packed[offsets[p]] += delta.values[p];
      }
      gemm_packed(static_cast<int>(piece.count), MatrixView{a, in_features, 1}, layout, c, out_features);
      for (std::ptrdiff_t p = pairs - 1; p >= 0; --p) packed[offsets[p]] = saved[p];
    };
    if (delta.offsets != nullptr) {
      patched_gemm(delta.offsets);  // the caller's positions, computed once per δ
    } else {
      scratch.offsets.resize(static_cast<size_t>(pairs));
      std::ptrdiff_t* offsets = scratch.offsets.data();  // computed first: the adds then overlap better
      for (std::ptrdiff_t p = 0; p < pairs; ++p) {
        int32_t i, j;
        split(delta.indices[p], i, j);
        offsets[p] = layout.at(j, i);
      }
      patched_gemm(offsets);
    }
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

bool packed_offsets(const SlotDeltaView& delta, std::ptrdiff_t in_features, std::ptrdiff_t out_features,
                    int32_t* offsets) {
  PackedB layout;
  describe_packed_b(static_cast<int>(in_features), static_cast<int>(out_features), layout);
  if (layout.padded * static_cast<std::ptrdiff_t>(in_features) > INT32_MAX) return false;
  const FlatSplit split(in_features);
  for (std::ptrdiff_t p = 0; p < delta.count; ++p) {
    int32_t i, j;
    split(delta.indices[p], i, j);
    offsets[p] = static_cast<int32_t>(layout.at(j, i));
  }
  return true;
}

}  // namespace diffprune
